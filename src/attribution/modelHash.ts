/**
 * The base model hash an adapter is registered with (`AdapterRegistry.baseModelHash`):
 *
 *   keccak256( keccak256(config.json bytes) ‖ keccak256(f1.safetensors) ‖ keccak256(f2.safetensors) … )
 *
 * over the exact bytes, safetensors files in name order. Two models with the same shapes but
 * other weights hash differently, so an adapter is bound to the weights it was trained on.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { concat, keccak256, type Hex } from 'viem';
import { keccak_256 } from '@noble/hashes/sha3.js';

/** Streams a file through keccak256 (model weights can be GiBs). */
async function keccakFile(path: string, signal?: AbortSignal): Promise<Hex> {
  const h = keccak_256.create();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22, signal })) h.update(chunk as Uint8Array);
  return `0x${Buffer.from(h.digest()).toString('hex')}`;
}

/** Hash of a model directory (config.json and its safetensors files). */
export async function baseModelHash({ dir, signal }: { dir: string; signal?: AbortSignal }): Promise<Hex> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
  const parts: Hex[] = [keccak256(await readFile(join(dir, 'config.json'), { signal }))];
  for (const f of files) parts.push(await keccakFile(join(dir, f), signal));
  return keccak256(concat(parts));
}
