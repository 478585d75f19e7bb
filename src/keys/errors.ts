import { BaseError, type BaseErrorParameters } from '../errors.ts';

/** The keystore file is missing, malformed, or uses an unsupported cipher or KDF. */
export class KeystoreFormatError extends BaseError {
  override name = 'KeystoreFormatError' as const;
  constructor(file: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_KEYS_KEYSTORE_INVALID', `Keystore ${file} ${problem}.`, {
      hint: 'Create a key with `openlora key new --out FILE` or import one with `openlora key import`.',
      ...parameters,
    });
  }
}

/** The passphrase does not open the keystore (MAC mismatch). */
export class WrongPassphraseError extends BaseError {
  override name = 'WrongPassphraseError' as const;
  constructor(file: string) {
    super('OPENLORA_KEYS_WRONG_PASSPHRASE', `The passphrase does not open keystore ${file} (MAC mismatch).`, {
      hint: 'Check --passphrase-file or OPENLORA_KEY_PASSPHRASE; a trailing newline in the file is ignored.',
    });
  }
}

/** No passphrase was given. */
export class PassphraseMissingError extends BaseError {
  override name = 'PassphraseMissingError' as const;
  constructor() {
    super('OPENLORA_KEYS_PASSPHRASE_MISSING', 'No keystore passphrase was given.', {
      hint: 'Pass --passphrase-file FILE or set OPENLORA_KEY_PASSPHRASE. Raw keys are never read from flags or config.',
    });
  }
}

/** A key file already exists where a new one would be written. */
export class KeyFileExistsError extends BaseError {
  override name = 'KeyFileExistsError' as const;
  constructor(file: string) {
    super('OPENLORA_KEYS_FILE_EXISTS', `Key file ${file} already exists; refusing to overwrite it.`, {
      hint: 'Choose another --out path, or move the old key away first (it may hold funds).',
    });
  }
}

/** A private key to import is not 32 bytes of hex. */
export class InvalidPrivateKeyError extends BaseError {
  override name = 'InvalidPrivateKeyError' as const;
  constructor(source: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_KEYS_INVALID_PRIVATE_KEY', `The private key in ${source} is not 32 bytes of hex (0x-prefixed or not).`, parameters);
  }
}
