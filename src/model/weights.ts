/**
 * WeightStore: lazy per-tensor access to a model's weights across one or more safetensors files
 * (`model.safetensors`, or shards listed in `model.safetensors.index.json`).
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SafetensorsDtype } from './dtype.ts';
import type { QuantType } from './quant/formats.ts';
import { ModelFileNotFoundError, SafetensorsInvalidError } from './errors.ts';
import { openSafetensors, type SafetensorsFile, type SafetensorsTensorInfo } from './safetensors.ts';

/** How a tensor is stored: a float dtype, or a ggml block format (GGUF files). */
export type StoredDtype = SafetensorsDtype | QuantType;

/** What the store knows about one tensor without reading it. */
export interface WeightInfo {
  name: string;
  dtype: StoredDtype;
  shape: number[];
  /** The safetensors file holding it. */
  file: string;
}

/** Per-tensor access to model weights (safetensors, or a GGUF file: `src/model/gguf/store.ts`), read from disk on demand (no caching). */
export interface WeightStore {
  /** Tensor names in the files. */
  names(): string[];
  has(name: string): boolean;
  info(name: string): WeightInfo;
  /** A tensor as float32 (f16/bf16 widened exactly, quantized blocks dequantized). `// shape row-major f32` */
  f32(name: string, signal?: AbortSignal): Promise<Float32Array>;
  /** A tensor as IEEE half bits for direct f16 upload (f32/bf16 rounded to nearest even). */
  f16(name: string, signal?: AbortSignal): Promise<Uint16Array>;
  /** Raw little-endian bytes in the stored dtype (ggml blocks for quantized tensors), rows in Hugging Face order. */
  bytes(name: string, signal?: AbortSignal): Promise<Uint8Array>;
  /** Closes the file handles. Idempotent. */
  close(): Promise<void>;
}

/** Name of the shard index file. */
export const SHARD_INDEX_FILE = 'model.safetensors.index.json';

/** Parameters of {@link openWeightStore}. */
export interface OpenWeightStoreParameters {
  /** Model directory. */
  dir: string;
  signal?: AbortSignal;
}

/**
 * Opens `model.safetensors.index.json` shards, else `model.safetensors`, else the directory's only
 * `*.safetensors` file; validates every header.
 */
export async function openWeightStore(p: OpenWeightStoreParameters): Promise<WeightStore> {
  const files = await weightFiles(p.dir);
  const opened: SafetensorsFile[] = [];
  const where = new Map<string, { file: SafetensorsFile; info: SafetensorsTensorInfo }>();
  try {
    for (const path of files.paths) {
      const file = await openSafetensors({ path, signal: p.signal });
      opened.push(file);
      for (const info of file.header.tensors.values()) {
        if (where.has(info.name)) throw new SafetensorsInvalidError(path, `tensor "${info.name}" also appears in ${where.get(info.name)!.file.path}`);
        where.set(info.name, { file, info });
      }
    }
    if (files.weightMap) {
      for (const [name, shard] of Object.entries(files.weightMap)) {
        const found = where.get(name);
        if (!found || found.file.path !== join(p.dir, shard)) {
          throw new SafetensorsInvalidError(join(p.dir, SHARD_INDEX_FILE), `it maps tensor "${name}" to ${shard}, which does not contain it`);
        }
      }
    }
  } catch (error) {
    await Promise.all(opened.map((f) => f.close()));
    throw error;
  }
  const get = (name: string) => {
    const found = where.get(name);
    if (!found) throw new SafetensorsInvalidError(p.dir, `no weight file contains tensor "${name}"`);
    return found;
  };
  return {
    names: () => [...where.keys()],
    has: (name) => where.has(name),
    info: (name) => {
      const { file, info } = get(name);
      return { name, dtype: info.dtype, shape: info.shape, file: file.path };
    },
    f32: (name, signal) => get(name).file.readF32(name, signal),
    f16: (name, signal) => get(name).file.readF16(name, signal),
    bytes: (name, signal) => get(name).file.readBytes(name, signal),
    close: async () => {
      await Promise.all(opened.map((f) => f.close()));
    },
  };
}

async function weightFiles(dir: string): Promise<{ paths: string[]; weightMap?: Record<string, string> }> {
  const indexPath = join(dir, SHARD_INDEX_FILE);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    throw new ModelFileNotFoundError(dir, { cause: error, details: (error as Error).message });
  }
  if (entries.includes(SHARD_INDEX_FILE)) {
    let index: unknown;
    try {
      index = JSON.parse(await readFile(indexPath, 'utf8'));
    } catch (error) {
      throw new SafetensorsInvalidError(indexPath, 'the shard index does not parse as JSON', { cause: error, details: (error as Error).message });
    }
    const weightMap = (index as { weight_map?: unknown })?.weight_map;
    if (typeof weightMap !== 'object' || weightMap === null || !Object.values(weightMap).every((v) => typeof v === 'string' && !v.includes('/') && !v.includes('\\'))) {
      throw new SafetensorsInvalidError(indexPath, '"weight_map" must map tensor names to shard file names in the same directory');
    }
    const shards = [...new Set(Object.values(weightMap as Record<string, string>))].sort();
    return { paths: shards.map((s) => join(dir, s)), weightMap: weightMap as Record<string, string> };
  }
  if (entries.includes('model.safetensors')) return { paths: [join(dir, 'model.safetensors')] };
  const candidates = entries.filter((e) => e.endsWith('.safetensors')).sort();
  if (candidates.length === 1) return { paths: [join(dir, candidates[0])] };
  throw new ModelFileNotFoundError(join(dir, 'model.safetensors'), {
    details: candidates.length ? `found several weight files without ${SHARD_INDEX_FILE}: ${candidates.join(', ')}` : 'no *.safetensors file in the directory',
  });
}
