/**
 * Variants of the linear kernel end to end, side by side (not a test): `npm run bench:linear [-- --out FILE]`.
 *
 * One WebGPU backend per variant on the same model in one process, measured in interleaved rounds
 * (the order reversed every other round) so a busy machine slows them alike: decode tokens/s per
 * batch size, prefill tokens/s per prompt length, each the median of the rounds, with each
 * variant's ratio to the first per figure and the batch-32 / batch-1 throughput of each. Greedy
 * tokens of every decode are compared with the first variant's. The 1-minute load average is
 * printed with each figure. `--variants` (default `tiled,plain`): `tiled` (the tiled linear kernel
 * from 8 rows, `tiledLinear: true`; `src/engine/webgpu/linearPlan.ts`), `plain` (the plain
 * register-tile kernel at every row count), `current` (the device's plan), each optionally followed
 * by shape overrides as in `--b1` (`current+batchOpl=4+batchWorkgroup=64`).
 *
 * `--b1`: each batch-1 projection of the model's layers and its lm_head, one kernel at a time on
 * random weights in `--dtype` (f16 default; bf16, f32, q8_0, q4_0, q4_k, q6_k), beside the
 * streaming roofline, per `--variants` of the kernel's shape (scripts/bench/lib/linearB1.ts);
 * `--rows 8` or `--rows 32` runs them on that many rows of x (a batched decode step's row tile;
 * `tiled=4/8` in a variant: the tiled kernel with 4 weight rows per invocation, workgroup 8).
 *
 * `--probe`: the same `--probe-mb` bytes streamed through each way a kernel can load them (storage
 * buffer as the batch-1 kernel and the roofline read it, textures, storage textures, a uniform
 * buffer), checked against the CPU, then timed in interleaved rounds, GB/s and the ratio to the
 * batch-1 kernel's loads per `--forms` (scripts/bench/lib/loadProbe.ts).
 *
 * `--dispatch`: what a dispatch costs apart from its work: steps of 150 near-empty dispatches (and
 * one), per bindings, workgroups and passes, under each `--poll-ms` way of waiting on Dawn (0:
 * Dawn's spin), wall and CPU microseconds per dispatch; then dispatches of one and of two
 * workgroups of ~0.1 ms of work each: how much of the second a second thread ran side by side
 * (scripts/bench/lib/dispatchProbe.ts).
 */
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createWebGpuBackend, type WebGpuBackend } from '../../src/engine/webgpu/backend.ts';
import { acquireGpu } from '../../src/gpu/device.ts';
import { loadModel } from '../../src/model/load.ts';
import { QUANTIZE_TYPES } from '../../src/model/quant/index.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';
import { cachedPreset } from './lib/models.ts';
import { benchKvBlocks, decodeRun, prefillRun } from './lib/engineRuns.ts';
import { linearB1Lines, parseVariant, runLinearB1, type B1Config } from './lib/linearB1.ts';
import { QUANT_TYPES } from '../../src/model/quant/index.ts';
import { readFile } from 'node:fs/promises';
import { median } from './lib/stats.ts';
import { LOAD_FORMS, type LoadFormName } from './lib/loadForms.ts';
import { loadProbeLines, runLoadProbe } from './lib/loadProbe.ts';
import { createDispatchProbe, DISPATCH_CASES, dispatchProbeLines, runDispatchProbe } from './lib/dispatchProbe.ts';

const args = benchArgs(import.meta.url, {
  preset: { type: 'string', default: 'bench-135m' },
  out: { type: 'string' },
  rounds: { type: 'string', default: '3' },
  batches: { type: 'string', default: '1,8,32' },
  prefill: { type: 'string', default: '128,512' },
  'decode-steps': { type: 'string', default: '4' },
  quantize: { type: 'string' },
  b1: { type: 'boolean', default: false },
  dtype: { type: 'string', default: 'f16' },
  variants: { type: 'string' },
  rows: { type: 'string', default: '1' },
  probe: { type: 'boolean', default: false },
  'probe-mb': { type: 'string', default: '100' },
  forms: { type: 'string', default: Object.keys(LOAD_FORMS).join(',') },
  dispatch: { type: 'boolean', default: false },
  'poll-ms': { type: 'string', default: '1,0' },
});
const rounds = positiveNumber('rounds', args.rounds);
const batches = args.batches!.split(',').map(Number);
const prompts = args.prefill!.split(',').map(Number);
const steps = positiveNumber('decode-steps', args['decode-steps']);
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const quantize = QUANTIZE_TYPES.find((t) => t === args.quantize);
if (args.quantize !== undefined && !quantize) throw new Error(`--quantize ${args.quantize}: use one of ${QUANTIZE_TYPES.join(', ')}`);

if (args.dispatch) {
  const pollMs = args['poll-ms']!.split(',').map(Number);
  const bad = pollMs.find((ms) => !Number.isFinite(ms) || ms < 0);
  if (bad !== undefined) throw new Error(`--poll-ms ${args['poll-ms']}: give milliseconds between Dawn's polls, 0 for Dawn's spin (e.g. 1,0)`);
  const gpu = await acquireGpu();
  const probe = createDispatchProbe(gpu.device);
  const r = await runDispatchProbe({ probe, cases: DISPATCH_CASES, pollMs, rounds });
  const device = gpu.summary.description || gpu.summary.vendor;
  probe.destroy();
  gpu.destroy();
  process.stdout.write(`${device}\n${dispatchProbeLines(r).join('\n')}\n`);
  if (args.out) await writeFile(args.out, JSON.stringify({ device, ...r }, null, 2) + '\n');
  process.exit(0);
}
if (args.probe) {
  const forms = args.forms!.split(',');
  const unknown = forms.find((f) => !(f in LOAD_FORMS));
  if (unknown) throw new Error(`--forms ${unknown}: use some of ${Object.keys(LOAD_FORMS).join(', ')}`);
  const gpu = await acquireGpu();
  const r = await runLoadProbe({ gpu, bytes: positiveNumber('probe-mb', args['probe-mb']) * 1e6, rounds, forms: forms as LoadFormName[], log });
  const device = gpu.summary.description || gpu.summary.vendor;
  gpu.destroy();
  process.stdout.write(loadProbeLines(r, device).join('\n') + '\n');
  if (args.out) await writeFile(args.out, JSON.stringify({ device, ...r }, null, 2) + '\n');
  process.exit(0);
}
const dir = await cachedPreset(args.preset!, log);
if (args.b1) {
  const dtypes = ['f16', 'bf16', 'f32', ...QUANT_TYPES] as const;
  const dtype = dtypes.find((d) => d === args.dtype);
  if (!dtype) throw new Error(`--dtype ${args.dtype}: use one of ${dtypes.join(', ')}`);
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as B1Config;
  const gpu = await acquireGpu();
  const r = await runLinearB1({ gpu, config, dtype, variants: (args.variants ?? 'current').split(','), rounds, rows: positiveNumber('rows', args.rows), log });
  gpu.destroy();
  process.stdout.write(linearB1Lines(r, args.preset!).join('\n') + '\n');
  if (args.out) await writeFile(args.out, JSON.stringify({ model: args.preset, ...r }, null, 2) + '\n');
  process.exit(0);
}
const model = await loadModel({ dir, quantize });
const maxPrompt = Math.max(...prompts);
const { numKvBlocks, perSeqBlocks } = benchKvBlocks(maxPrompt, Math.max(...batches), steps);
const variants = (args.variants ?? 'tiled,plain').split(',');
/** A variant's plan (`tiled`, `plain`, `current`) and its shape overrides. */
const plan = (spec: string) => {
  const [kind, ...rest] = spec.split('+');
  if (!['tiled', 'plain', 'current'].includes(kind)) throw new Error(`--variants ${spec}: start with tiled, plain or current (then +key=value overrides)`);
  return { tiledLinear: kind === 'current' ? undefined : kind === 'tiled', shape: rest.length ? parseVariant(rest.join('+')) : {} };
};
const backends: WebGpuBackend[] = [];
for (const spec of variants) {
  const gpu = await acquireGpu();
  backends.push(await createWebGpuBackend({ model, gpu, numKvBlocks, maxRows: Math.max(maxPrompt, ...batches), maxContext: Math.max(maxPrompt + 16, 256), ...plan(spec) }));
  log(`${spec} backend ready (${backends.at(-1)!.startup.warmup.kernels} kernels)`);
}

type Figure = { name: string; unit: string; values: number[][]; load: number[] };
const figures = new Map<string, Figure>();
const record = (name: string, vi: number, value: number, unit = 'tokens/s') => {
  const f = figures.get(name) ?? { name, unit, values: variants.map(() => []), load: [] };
  f.values[vi].push(value);
  f.load.push(loadavg()[0]);
  figures.set(name, f);
};
const sameTokens = variants.map(() => 0);
let decodes = 0;
for (let round = 0; round <= rounds; round++) {
  // Round 0 warms every backend (first use of every row tile); it is not recorded.
  const order = variants.map((_, i) => i);
  if (round % 2 === 1) order.reverse();
  for (const batch of batches) {
    const runs: number[][][] = [];
    for (const vi of order) {
      const r = await decodeRun(backends[vi], { batch, steps, promptLen: maxPrompt, perSeqBlocks });
      runs[vi] = r.tokens;
      if (round > 0) {
        record(`decode batch ${batch}`, vi, (batch * steps * 1000) / r.ms);
        // This process's CPU time (lavapipe's threads included): steadier than wall time on a busy machine.
        record(`batch ${batch} CPU/step`, vi, r.cpuMs / steps, 'CPU ms');
      }
    }
    if (round > 0) {
      decodes += batch;
      runs.forEach((tokens, vi) => (sameTokens[vi] += tokens.filter((t, i) => JSON.stringify(t) === JSON.stringify(runs[0][i])).length));
    }
  }
  for (const prompt of prompts) {
    for (const vi of order) {
      const ms = await prefillRun(backends[vi], prompt);
      if (round > 0) record(`prefill ${prompt}`, vi, (prompt * 1000) / ms);
    }
  }
  if (round > 0) log(`round ${round}/${rounds} done, load average ${loadavg()[0].toFixed(2)}`);
}
for (const b of backends) b.destroy();
await model.close();

const rows = [...figures.values()].map((f) => {
  const values = f.values.map(median);
  return { figure: f.name, unit: f.unit, values, ratios: values.map((v) => v / values[0]), loadAverage: median(f.load) };
});
const get = (name: string) => rows.find((r) => r.figure === name);
const b1 = get('decode batch 1');
const b32 = get('decode batch 32');
const result = {
  model: args.preset,
  quantize: args.quantize,
  rounds,
  variants,
  /** Per figure: each variant's median (in `variants` order) and its ratio to the first variant's. */
  figures: rows,
  /** Each variant's decode batch 32 / batch 1 tokens/s. */
  batch32OverBatch1: b1 && b32 ? b32.values.map((v, vi) => v / b1.values[vi]) : undefined,
  /** Greedy sequences identical to the first variant's, per variant, of `of`. */
  greedyIdentical: { sequences: sameTokens, of: decodes },
};
const f = (n: number, d = 1) => n.toFixed(d);
const width = Math.max(...variants.map((v) => v.length));
const lines = [
  `openlora linear kernels end to end: ${args.preset}${quantize ? ` (${quantize})` : ''}, median of ${rounds} interleaved rounds, ratios to ${variants[0]}`,
  ...rows.flatMap((r) => variants.map((v, vi) => `  ${r.figure.padEnd(18)} ${v.padEnd(width)} ${f(r.values[vi]).padStart(7)} ${r.unit}  ratio ${f(r.ratios[vi], 2)}x  (load average ${f(r.loadAverage, 2)})`)),
  ...(result.batch32OverBatch1 ? variants.map((v, vi) => `  batch 32 / batch 1 ${v.padEnd(width)} ${f(result.batch32OverBatch1![vi], 2)}x`) : []),
  ...variants.slice(1).map((v, vi) => `  greedy tokens identical to ${variants[0]}: ${v} ${sameTokens[vi + 1]} of ${decodes} sequences`),
];
process.stdout.write(lines.join('\n') + '\n');
if (args.out) await writeFile(args.out, JSON.stringify(result, null, 2) + '\n');
