/**
 * Adapter ids are content hashes, so the same id names the same adapter everywhere (on-chain
 * registry, gossip, API requests):
 *
 *   id = keccak256( keccak256(adapter_config.json bytes) ‖ keccak256(adapter_model.safetensors bytes) )
 *
 * over the files' exact bytes (no JSON re-serialization), as a 0x-prefixed bytes32. In Solidity:
 * `keccak256(abi.encodePacked(keccak256(config), keccak256(weights)))`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { concat, keccak256, type Hex } from 'viem';

/** File names of a PEFT adapter directory. */
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

/** A 0x-prefixed 32-byte hex string. */
export type AdapterId = Hex;

/** Parameters of {@link adapterId}. */
export interface AdapterIdParameters {
  /** Exact bytes of adapter_config.json. */
  configBytes: Uint8Array;
  /** Exact bytes of adapter_model.safetensors. */
  weightsBytes: Uint8Array;
}

/** The content id of an adapter from its two files' bytes. */
export function adapterId(p: AdapterIdParameters): AdapterId {
  return keccak256(concat([keccak256(p.configBytes), keccak256(p.weightsBytes)]));
}

/** Parameters of {@link adapterIdOfDir}. */
export interface AdapterIdOfDirParameters {
  dir: string;
  signal?: AbortSignal;
}

/** Reads an adapter directory's two files and returns its content id. */
export async function adapterIdOfDir(p: AdapterIdOfDirParameters): Promise<AdapterId> {
  const [configBytes, weightsBytes] = await Promise.all([
    readFile(join(p.dir, ADAPTER_CONFIG_FILE), { signal: p.signal }),
    readFile(join(p.dir, ADAPTER_WEIGHTS_FILE), { signal: p.signal }),
  ]);
  return adapterId({ configBytes, weightsBytes });
}

/** True for a 0x-prefixed bytes32 hex string (any case). */
export function isAdapterId(value: string): value is AdapterId {
  return /^0x[0-9a-fA-F]{64}$/.test(value);
}
