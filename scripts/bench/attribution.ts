/**
 * Attribution benchmark (not a test): `npm run bench:attribution [-- --backend cpu --contributions 4 --tokens 512]`.
 *
 * Contributions scored per second on bench-135m (generated into .openlora/cache/models if absent)
 * with a rank-16 adapter on all seven projections and `--tokens`-token contributions, two ways on
 * the same engine and the same per-step row budget (2 × tokens):
 *   shared:   each contribution's base and adapter rows queued together (one SGMV batch per step);
 *   two-pass: every contribution under the base model first, then every one under the adapter.
 * Both must give the same losses; the ratio of their rates is printed (goal: shared >= 1.6x).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createScoringEngine } from '../../src/attribution/engine.ts';
import { scoreBaseAndAdapter } from '../../src/attribution/score.ts';
import { DEFAULT_DATA_DIR } from '../../src/constants.ts';
import { createAdapter } from '../../src/lora/create.ts';
import { loadModel } from '../../src/model/load.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';
import { benchModelDir } from './lib/models.ts';

const args = benchArgs(import.meta.url, {
  preset: { type: 'string', default: 'bench-135m' },
  model: { type: 'string' },
  backend: { type: 'string', default: 'webgpu' },
  contributions: { type: 'string', default: '8' },
  tokens: { type: 'string', default: '512' },
  rank: { type: 'string', default: '16' },
  out: { type: 'string' },
});
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const n = positiveNumber('contributions', args.contributions);
const tokens = positiveNumber('tokens', args.tokens);
const rank = positiveNumber('rank', args.rank);
const backendKind = args.backend === 'cpu' ? 'cpu' : 'webgpu';

const dir = await benchModelDir({ model: args.model, preset: args.preset! }, log);
// The cached adapter is the model's own: by preset, or by the --model path (an adapter made for one
// model's shapes cached under the preset's name was loaded onto the preset's model next time).
const adapterFor = args.model === undefined ? args.preset! : `model-${createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 12)}`;
const adapterDir = join(DEFAULT_DATA_DIR, 'cache', 'adapters', `${adapterFor}-r${rank}`);
if (!existsSync(join(adapterDir, 'adapter_config.json'))) await createAdapter({ model: dir, rank, seed: 1, out: adapterDir });
const model = await loadModel({ dir });
const vocab = model.config.vocabSize;
// Deterministic pseudo-text token ids (the engine's cost does not depend on which ids).
const sequences = Array.from({ length: n }, (_, k) => Array.from({ length: tokens }, (_, i) => (i * 7919 + k * 104_729 + 11) % vocab));
const engine = await createScoringEngine({ model, adapter: adapterDir, backend: backendKind, maxSequenceTokens: tokens, maxBatchTokens: 2 * tokens, maxRunning: 2 });
log(`${backendKind} engine ready (${engine.backend.dtype}); ${n} contributions x ${tokens} tokens, adapter rank ${engine.adapterRank}`);

async function timed(mode: 'shared' | 'two-pass') {
  const t0 = performance.now();
  const r = await scoreBaseAndAdapter({ scheduler: engine.scheduler, adapterId: engine.adapterId, sequences, mode, onProgress: (d, t) => d === t || log(`${mode} ${d}/${t}`) });
  const ms = performance.now() - t0;
  return { ms, perSecond: (n * 1000) / ms, r };
}
await timed('shared'); // warm-up (pipelines, caches)
const shared = await timed('shared');
const twoPass = await timed('two-pass');
const same = shared.r.base.every((v, i) => v === twoPass.r.base[i]) && shared.r.adapter.every((v, i) => v === twoPass.r.adapter[i]);
const result = {
  preset: args.preset,
  backend: backendKind,
  dtype: engine.backend.dtype,
  contributions: n,
  tokensPerContribution: tokens,
  rank,
  sharedContributionsPerSecond: shared.perSecond,
  twoPassContributionsPerSecond: twoPass.perSecond,
  speedup: shared.perSecond / twoPass.perSecond,
  identicalLosses: same,
};
await engine.close();
await model.close();
process.stdout.write(`attribution scoring on ${args.preset} (${backendKind}, ${result.dtype}), ${n} x ${tokens}-token contributions, rank ${rank}:\n`
  + `  shared SGMV pass: ${shared.perSecond.toFixed(3)} contributions/s (${shared.ms.toFixed(0)} ms)\n`
  + `  two passes:       ${twoPass.perSecond.toFixed(3)} contributions/s (${twoPass.ms.toFixed(0)} ms)\n`
  + `  speedup ${result.speedup.toFixed(2)}x (goal >= 1.6x); losses identical: ${same}\n`);
if (args.out) await writeFile(args.out, JSON.stringify(result, null, 2) + '\n');
