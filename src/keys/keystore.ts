/**
 * Web3 Secret Storage v3 keystores (https://ethereum.org/en/developers/docs/data-structures-and-encoding/web3-secret-storage/):
 * scrypt (or pbkdf2 on read) + aes-128-ctr, MAC = keccak256(derivedKey[16..32] ++ ciphertext).
 * Built on node:crypto and viem's keccak256.
 */
import { createCipheriv, createDecipheriv, pbkdf2, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import { bytesToHex, hexToBytes, keccak256, type Address, type Hex } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { KeystoreFormatError, WrongPassphraseError } from './errors.ts';
import { scrypt } from './scrypt.ts';

const pbkdf2Async = promisify(pbkdf2);

const HexString = Type.String({ pattern: '^[0-9a-fA-F]*$' });

/** Schema of a v3 keystore as openlora reads it (scrypt or pbkdf2-hmac-sha256, aes-128-ctr). */
export const KeystoreSchema = Type.Object({
  version: Type.Literal(3),
  id: Type.Optional(Type.String()),
  address: Type.Optional(Type.String()),
  crypto: Type.Object({
    cipher: Type.Literal('aes-128-ctr'),
    cipherparams: Type.Object({ iv: HexString }),
    ciphertext: HexString,
    kdf: Type.Union([Type.Literal('scrypt'), Type.Literal('pbkdf2')]),
    kdfparams: Type.Object({
      dklen: Type.Integer({ minimum: 32 }),
      salt: HexString,
      n: Type.Optional(Type.Integer({ minimum: 2 })),
      r: Type.Optional(Type.Integer({ minimum: 1 })),
      p: Type.Optional(Type.Integer({ minimum: 1 })),
      c: Type.Optional(Type.Integer({ minimum: 1 })),
      prf: Type.Optional(Type.Literal('hmac-sha256')),
    }),
    mac: HexString,
  }),
});

/** A parsed v3 keystore. */
export type Keystore = Static<typeof KeystoreSchema>;

/** scrypt cost parameters for new keystores. */
export interface ScryptParams {
  n: number;
  r: number;
  p: number;
}

/** Default scrypt cost for new keys: N = 2^17, r = 8, p = 1 (128 MiB, ~0.5 s; the ethers default). */
export const DEFAULT_SCRYPT: ScryptParams = { n: 2 ** 17, r: 8, p: 1 };
/** Cheap scrypt cost for tests and throwaway dev keys. */
export const LIGHT_SCRYPT: ScryptParams = { n: 2 ** 12, r: 8, p: 1 };

const strip0x = (hex: string) => (hex.startsWith('0x') ? hex.slice(2) : hex);

async function deriveKey(passphrase: string, kdf: Keystore['crypto']['kdf'], params: Keystore['crypto']['kdfparams'], file: string): Promise<Buffer> {
  const salt = Buffer.from(strip0x(params.salt), 'hex');
  const password = Buffer.from(passphrase.normalize('NFKC'), 'utf8');
  if (kdf === 'scrypt') {
    const { n, r, p } = params;
    if (n === undefined || r === undefined || p === undefined || (n & (n - 1)) !== 0) {
      throw new KeystoreFormatError(file, 'has scrypt parameters that are missing or not a power of two', { details: JSON.stringify(params) });
    }
    return scrypt(password, salt, params.dklen, { N: n, r, p });
  }
  if (params.c === undefined) throw new KeystoreFormatError(file, 'has pbkdf2 parameters without an iteration count `c`');
  return pbkdf2Async(password, salt, params.c, params.dklen, 'sha256');
}

function mac(derivedKey: Buffer, ciphertext: Buffer): Buffer {
  return Buffer.from(hexToBytes(keccak256(Buffer.concat([derivedKey.subarray(16, 32), ciphertext]))));
}

export interface EncryptKeystoreParameters {
  privateKey: Hex;
  passphrase: string;
  scrypt?: ScryptParams;
}

/** Encrypts a private key into a v3 keystore (scrypt + aes-128-ctr), with its address. */
export async function encryptKeystore({ privateKey, passphrase, scrypt: cost = DEFAULT_SCRYPT }: EncryptKeystoreParameters): Promise<Keystore> {
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  const kdfparams = { dklen: 32, n: cost.n, r: cost.r, p: cost.p, salt: salt.toString('hex') };
  const derivedKey = await deriveKey(passphrase, 'scrypt', kdfparams, '(new)');
  const cipher = createCipheriv('aes-128-ctr', derivedKey.subarray(0, 16), iv);
  const ciphertext = Buffer.concat([cipher.update(Buffer.from(hexToBytes(privateKey))), cipher.final()]);
  return {
    version: 3,
    id: randomUUID(),
    address: strip0x(privateKeyToAddress(privateKey)).toLowerCase(),
    crypto: {
      cipher: 'aes-128-ctr',
      cipherparams: { iv: iv.toString('hex') },
      ciphertext: ciphertext.toString('hex'),
      kdf: 'scrypt',
      kdfparams,
      mac: mac(derivedKey, ciphertext).toString('hex'),
    },
  };
}

/** Validates parsed JSON as a v3 keystore openlora can open. */
export function parseKeystore(value: unknown, file = '(inline)'): Keystore {
  if (!Value.Check(KeystoreSchema, value)) {
    const problems = [...Value.Errors(KeystoreSchema, value)].slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new KeystoreFormatError(file, 'is not a Web3 Secret Storage v3 keystore with scrypt/pbkdf2 and aes-128-ctr', { details: problems.join('; ') });
  }
  return value;
}

/** Decrypts a v3 keystore; throws `WrongPassphraseError` on a MAC mismatch. */
export async function decryptKeystore({ keystore, passphrase, file = '(inline)' }: { keystore: Keystore; passphrase: string; file?: string }): Promise<Hex> {
  const { crypto } = keystore;
  const derivedKey = await deriveKey(passphrase, crypto.kdf, crypto.kdfparams, file);
  const ciphertext = Buffer.from(strip0x(crypto.ciphertext), 'hex');
  const expected = Buffer.from(strip0x(crypto.mac), 'hex');
  const actual = mac(derivedKey, ciphertext);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) throw new WrongPassphraseError(file);
  const decipher = createDecipheriv('aes-128-ctr', derivedKey.subarray(0, 16), Buffer.from(strip0x(crypto.cipherparams.iv), 'hex'));
  const plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  if (plain.length !== 32) throw new KeystoreFormatError(file, `holds a ${plain.length}-byte key, not 32 bytes`);
  const privateKey = bytesToHex(plain);
  if (keystore.address !== undefined && strip0x(privateKeyToAddress(privateKey)).toLowerCase() !== strip0x(keystore.address).toLowerCase()) {
    throw new KeystoreFormatError(file, `holds a key whose address is not the stated ${keystore.address}`);
  }
  return privateKey;
}

/** The address a keystore states (checksummed), if it states one. */
export function keystoreAddress(keystore: Keystore): Address | undefined {
  return keystore.address === undefined ? undefined : (`0x${strip0x(keystore.address)}` as Address);
}
