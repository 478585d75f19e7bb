import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { PeerKeyError } from './errors.ts';

/**
 * The node's persistent libp2p identity: an Ed25519 key in libp2p's protobuf encoding, created
 * (mode 0600) on first use, so the peer id survives restarts and peers' scores of it stay meaningful.
 */
export async function loadOrCreatePeerKey(file: string): Promise<PrivateKey> {
  let bytes: Buffer | undefined;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw new PeerKeyError(file, 'cannot be read', cause);
  }
  if (bytes) {
    try {
      return privateKeyFromProtobuf(bytes);
    } catch (cause) {
      throw new PeerKeyError(file, 'is not a libp2p private key', cause);
    }
  }
  const key = await generateKeyPair('Ed25519');
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' });
  } catch (cause) {
    // Another process made it first: use that one.
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreatePeerKey(file);
    throw new PeerKeyError(file, 'cannot be written', cause);
  }
  return key;
}
