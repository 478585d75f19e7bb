/**
 * keccak256 over bytes, in WebAssembly (hash-wasm): ~5-8x faster than the JS implementation for the
 * 64-400 byte inputs of receipt digests and Merkle trees, which a follower hashes for every receipt
 * of every node it follows.
 */
import { createKeccak } from 'hash-wasm';

const hasher = await createKeccak(256);

/** keccak256 of `data`, as 32 bytes. */
export function keccak256Bytes(data: Uint8Array): Uint8Array {
  return hasher.init().update(data).digest('binary');
}
