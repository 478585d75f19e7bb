/**
 * Many adapters for the benchmarks without writing each one: `distinct` weight files per rank are
 * generated once into the cache; adapter `index` of a name set gets its own directory with its own
 * adapter_config.json (so its own content id and its own disk reads) and the weights of file
 * `index % distinct` symlinked.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createAdapter } from '../../../src/lora/create.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE } from '../../../src/lora/id.ts';
import { BENCH_CACHE_DIR } from './models.ts';

/** Parameters of {@link namedAdapters}. */
export interface NamedAdaptersParameters {
  /** Cache subdirectory naming the model (`<preset>`). */
  preset: string;
  modelDir: string;
  /** Weight files generated per rank. */
  distinct: number;
}

/** Directories of generated and named adapters. */
export function namedAdapters(p: NamedAdaptersParameters) {
  const root = (r: number) => resolve(BENCH_CACHE_DIR, 'adapters', `${p.preset}-r${r}`);
  /** Weight file `k` of rank `r` (generated on first use). */
  const file = async (r: number, k: number): Promise<string> => {
    const dir = join(root(r), `file-${k}`);
    if (!existsSync(join(dir, ADAPTER_WEIGHTS_FILE))) await createAdapter({ model: p.modelDir, rank: r, seed: 5000 + r * 100 + k, out: dir });
    return dir;
  };
  /** Adapter `index` of name set `set`, rank `r`: its own config, the weights of file `index % distinct`. */
  const named = async (set: string, index: number, r: number): Promise<string> => {
    const weights = await file(r, index % p.distinct);
    const dir = join(root(r), set, `a${index}`);
    if (!existsSync(join(dir, ADAPTER_WEIGHTS_FILE))) {
      await mkdir(dir, { recursive: true });
      await symlink(join(weights, ADAPTER_WEIGHTS_FILE), join(dir, ADAPTER_WEIGHTS_FILE));
      const json = JSON.parse(await readFile(join(weights, ADAPTER_CONFIG_FILE), 'utf8'));
      await writeFile(join(dir, ADAPTER_CONFIG_FILE), JSON.stringify({ ...json, revision: `${set}-${index}` }, null, 2) + '\n');
    }
    return dir;
  };
  return { root, file, named };
}
