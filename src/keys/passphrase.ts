import { readFile } from 'node:fs/promises';
import { KeystoreFormatError, PassphraseMissingError } from './errors.ts';

/** Environment variable holding the keystore passphrase. */
export const PASSPHRASE_ENV = 'OPENLORA_KEY_PASSPHRASE';

export interface ResolvePassphraseParameters {
  /** File whose content is the passphrase (one trailing newline is ignored). Wins over the env. */
  passphraseFile?: string;
  /** Environment to read `OPENLORA_KEY_PASSPHRASE` from. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** The keystore passphrase from `--passphrase-file` or `OPENLORA_KEY_PASSPHRASE`; throws if neither is set. */
export async function resolvePassphrase({ passphraseFile, env = process.env }: ResolvePassphraseParameters = {}): Promise<string> {
  if (passphraseFile !== undefined) {
    let text: string;
    try {
      text = await readFile(passphraseFile, 'utf8');
    } catch (cause) {
      throw new KeystoreFormatError(passphraseFile, 'cannot be read as a passphrase file', { cause, details: (cause as Error).message, hint: 'Check the --passphrase-file path.' });
    }
    return text.replace(/\r?\n$/, '');
  }
  const value = env[PASSPHRASE_ENV];
  if (value !== undefined && value !== '') return value;
  throw new PassphraseMissingError();
}
