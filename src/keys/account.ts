/**
 * Node keys on disk: encrypted v3 keystore files, loaded as viem `LocalAccount`s. Raw private keys
 * never come from flags, config or logs; only from a keystore (or a file, for `key import`).
 */
import { constants } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { getAddress, type Address, type Hex, type LocalAccount } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { InvalidPrivateKeyError, KeyFileExistsError, KeystoreFormatError } from './errors.ts';
import { decryptKeystore, encryptKeystore, keystoreAddress, parseKeystore, type Keystore, type ScryptParams } from './keystore.ts';

/** Reads and validates a keystore file. */
export async function readKeystoreFile(keyFile: string): Promise<Keystore> {
  let text: string;
  try {
    text = await readFile(keyFile, 'utf8');
  } catch (cause) {
    throw new KeystoreFormatError(keyFile, 'cannot be read', { cause, details: (cause as Error).message });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new KeystoreFormatError(keyFile, 'is not JSON', { cause });
  }
  return parseKeystore(json, keyFile);
}

export interface LoadAccountParameters {
  keyFile: string;
  passphrase: string;
}

/** Decrypts the keystore at `keyFile` and returns its viem `LocalAccount`. */
export async function loadAccount({ keyFile, passphrase }: LoadAccountParameters): Promise<LocalAccount> {
  const keystore = await readKeystoreFile(keyFile);
  return privateKeyToAccount(await decryptKeystore({ keystore, passphrase, file: keyFile }));
}

/** The address of the keystore at `keyFile`; decrypts only when the file does not state it. */
export async function readKeyAddress({ keyFile, passphrase }: { keyFile: string; passphrase?: () => Promise<string> }): Promise<Address> {
  const keystore = await readKeystoreFile(keyFile);
  const stated = keystoreAddress(keystore);
  if (stated !== undefined) return getAddress(stated);
  if (!passphrase) throw new KeystoreFormatError(keyFile, 'does not state its address', { hint: 'Give the passphrase so the key can be decrypted.' });
  return (await loadAccount({ keyFile, passphrase: await passphrase() })).address;
}

export interface WriteKeyFileParameters {
  keyFile: string;
  passphrase: string;
  /** Key to store; default a fresh random key. */
  privateKey?: Hex;
  scrypt?: ScryptParams;
}

/** Encrypts a key (new or given) into `keyFile` (mode 0600, never overwriting). Returns its address. */
export async function writeKeyFile({ keyFile, passphrase, privateKey = generatePrivateKey(), scrypt }: WriteKeyFileParameters): Promise<Address> {
  const keystore = await encryptKeystore({ privateKey, passphrase, scrypt });
  await mkdir(path.dirname(path.resolve(keyFile)), { recursive: true });
  let handle;
  try {
    handle = await open(keyFile, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileExistsError(keyFile);
    throw cause;
  }
  try {
    await handle.writeFile(JSON.stringify(keystore, null, 2) + '\n');
  } finally {
    await handle.close();
  }
  return privateKeyToAccount(privateKey).address;
}

/** Reads a raw private key (hex, optional 0x, surrounding whitespace ignored) from a file, for `key import`. */
export async function readPrivateKeyFile(file: string): Promise<Hex> {
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (cause) {
    throw new InvalidPrivateKeyError(file, { cause, details: (cause as Error).message });
  }
  const hex = text.startsWith('0x') ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new InvalidPrivateKeyError(file);
  return `0x${hex.toLowerCase()}`;
}
