import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { loadAccount, readKeyAddress, readPrivateKeyFile, writeKeyFile } from '../../src/keys/account.ts';
import { decryptKeystore, encryptKeystore, LIGHT_SCRYPT, parseKeystore } from '../../src/keys/keystore.ts';
import { resolvePassphrase } from '../../src/keys/passphrase.ts';
import { isBaseError } from '../../src/errors.ts';

// Test vectors published with the Web3 Secret Storage Definition (password "testpassword").
const SPEC_KEY = '0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d';
const SPEC_SCRYPT = {
  crypto: {
    cipher: 'aes-128-ctr',
    cipherparams: { iv: '83dbcc02d8ccb40e466191a123791e0e' },
    ciphertext: 'd172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c',
    kdf: 'scrypt',
    kdfparams: { dklen: 32, n: 262144, r: 1, p: 8, salt: 'ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19' },
    mac: '2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097',
  },
  id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
  version: 3,
};
const SPEC_PBKDF2 = {
  crypto: {
    cipher: 'aes-128-ctr',
    cipherparams: { iv: '6087dab2f9fdbbfaddc31a909735c1e6' },
    ciphertext: '5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46',
    kdf: 'pbkdf2',
    kdfparams: { c: 262144, dklen: 32, prf: 'hmac-sha256', salt: 'ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd' },
    mac: '517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2',
  },
  id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
  version: 3,
};

describe('Web3 Secret Storage v3 keystore', () => {
  it('decrypts the spec scrypt test vector', async () => {
    expect(await decryptKeystore({ keystore: parseKeystore(SPEC_SCRYPT), passphrase: 'testpassword' })).toBe(SPEC_KEY);
  }, 30_000);

  it('decrypts the spec pbkdf2 test vector', async () => {
    expect(await decryptKeystore({ keystore: parseKeystore(SPEC_PBKDF2), passphrase: 'testpassword' })).toBe(SPEC_KEY);
  }, 30_000);

  it('rejects a wrong passphrase and malformed keystores with stable codes', async () => {
    const keystore = await encryptKeystore({ privateKey: SPEC_KEY, passphrase: 'right', scrypt: LIGHT_SCRYPT });
    await expect(decryptKeystore({ keystore, passphrase: 'wrong' })).rejects.toSatisfy((e) => isBaseError(e, 'OPENLORA_KEYS_WRONG_PASSPHRASE'));
    expect(() => parseKeystore({ ...SPEC_SCRYPT, crypto: { ...SPEC_SCRYPT.crypto, cipher: 'aes-256-gcm' } })).toThrow(expect.toSatisfy((e: unknown) => isBaseError(e, 'OPENLORA_KEYS_KEYSTORE_INVALID')));
    expect(() => parseKeystore({ version: 1 })).toThrow(/keystore/);
  });

  it('round-trips: new file (0600, no overwrite), address without passphrase, loadAccount', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'openlora-keys-'));
    const keyFile = path.join(dir, 'node.json');
    const privateKey = generatePrivateKey();
    const address = await writeKeyFile({ keyFile, passphrase: 'pass word', privateKey, scrypt: LIGHT_SCRYPT });
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(await readKeyAddress({ keyFile })).toBe(address);
    const account = await loadAccount({ keyFile, passphrase: 'pass word' });
    expect(account.address).toBe(address);
    expect(account.type).toBe('local');
    await expect(writeKeyFile({ keyFile, passphrase: 'x', scrypt: LIGHT_SCRYPT })).rejects.toSatisfy((e) => isBaseError(e, 'OPENLORA_KEYS_FILE_EXISTS'));
    // The file never holds the raw key.
    expect(await readFile(keyFile, 'utf8')).not.toContain(privateKey.slice(2));
  });

  it('imports a key from a file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'openlora-keys-'));
    await writeFile(path.join(dir, 'raw'), `${SPEC_KEY.slice(2)}\n`);
    const key = await readPrivateKeyFile(path.join(dir, 'raw'));
    expect(key).toBe(SPEC_KEY);
    const address = await writeKeyFile({ keyFile: path.join(dir, 'k.json'), passphrase: 'p', privateKey: key, scrypt: LIGHT_SCRYPT });
    expect(address).toBe(privateKeyToAccount(SPEC_KEY).address);
    await writeFile(path.join(dir, 'bad'), 'nothex');
    await expect(readPrivateKeyFile(path.join(dir, 'bad'))).rejects.toSatisfy((e) => isBaseError(e, 'OPENLORA_KEYS_INVALID_PRIVATE_KEY'));
  });

  it('takes the passphrase from a file (trailing newline ignored) or the environment', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'openlora-keys-'));
    await writeFile(path.join(dir, 'pass'), 'secret phrase\n');
    expect(await resolvePassphrase({ passphraseFile: path.join(dir, 'pass'), env: { OPENLORA_KEY_PASSPHRASE: 'env' } })).toBe('secret phrase');
    expect(await resolvePassphrase({ env: { OPENLORA_KEY_PASSPHRASE: 'env' } })).toBe('env');
    await expect(resolvePassphrase({ env: {} })).rejects.toSatisfy((e) => isBaseError(e, 'OPENLORA_KEYS_PASSPHRASE_MISSING'));
  });
});

describe('scrypt fallback', () => {
  it('matches node:crypto where both work, and the RFC 7914 vector', async () => {
    const { scryptJs } = await import('../../src/keys/scrypt.ts');
    const { scryptSync } = await import('node:crypto');
    const args = [Buffer.from('password'), Buffer.from('NaCl'), 64] as const;
    // RFC 7914 section 12, N = 1024, r = 8, p = 16.
    const rfc = 'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640';
    expect(scryptJs(...args, { N: 1024, r: 8, p: 16 }).toString('hex')).toBe(rfc);
    expect(scryptJs(...args, { N: 16, r: 2, p: 3 })).toEqual(scryptSync(...args, { N: 16, r: 2, p: 3 }));
  });
});
