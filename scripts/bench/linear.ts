/**
 * Tiled vs plain linear kernel, side by side (not a test): `npm run bench:linear [-- --out FILE]`.
 *
 * Two WebGPU backends on the same model in one process, one with the tiled linear kernel from 8
 * rows (`tiledLinear: true`; `src/engine/webgpu/linearPlan.ts`) and one with the plain register-tile kernel
 * at every row count (`tiledLinear: false`), measured in interleaved rounds (the order alternates
 * per round) so a busy machine slows both alike: decode tokens/s per batch size, prefill tokens/s
 * per prompt length, each the median of the rounds, with the ratio tiled / plain per figure and the
 * batch-32 / batch-1 throughput of each. Greedy tokens of every decode are compared between the two.
 * The 1-minute load average is printed with each figure.
 *
 * `--b1`: each batch-1 projection of the model's layers and its lm_head, one kernel at a time on
 * random weights in `--dtype` (f16 default; bf16, f32, q8_0, q4_0, q4_k, q6_k), beside the
 * streaming roofline, per `--variants` of the kernel's shape (scripts/bench/lib/linearB1.ts).
 *
 * `--probe`: the same `--probe-mb` bytes streamed through each way a kernel can load them (storage
 * buffer as the batch-1 kernel and the roofline read it, textures, storage textures, a uniform
 * buffer), checked against the CPU, then timed in interleaved rounds, GB/s and the ratio to the
 * batch-1 kernel's loads per `--forms` (scripts/bench/lib/loadProbe.ts).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_DATA_DIR } from '../../src/constants.ts';
import { createWebGpuBackend, type WebGpuBackend } from '../../src/engine/webgpu/backend.ts';
import { acquireGpu } from '../../src/gpu/device.ts';
import { createModel } from '../../src/model/create.ts';
import { loadModel } from '../../src/model/load.ts';
import { QUANTIZE_TYPES } from '../../src/model/quant/index.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';
import { benchKvBlocks, decodeRun, prefillRun } from './lib/engineRuns.ts';
import { linearB1Lines, runLinearB1, type B1Config } from './lib/linearB1.ts';
import { QUANT_TYPES } from '../../src/model/quant/index.ts';
import { readFile } from 'node:fs/promises';
import { median } from './lib/stats.ts';
import { LOAD_FORMS, type LoadFormName } from './lib/loadForms.ts';
import { loadProbeLines, runLoadProbe } from './lib/loadProbe.ts';

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
  variants: { type: 'string', default: 'current' },
  probe: { type: 'boolean', default: false },
  'probe-mb': { type: 'string', default: '100' },
  forms: { type: 'string', default: Object.keys(LOAD_FORMS).join(',') },
});
const rounds = positiveNumber('rounds', args.rounds);
const batches = args.batches!.split(',').map(Number);
const prompts = args.prefill!.split(',').map(Number);
const steps = positiveNumber('decode-steps', args['decode-steps']);
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const quantize = QUANTIZE_TYPES.find((t) => t === args.quantize);
if (args.quantize !== undefined && !quantize) throw new Error(`--quantize ${args.quantize}: use one of ${QUANTIZE_TYPES.join(', ')}`);

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
const dir = join(DEFAULT_DATA_DIR, 'cache', 'models', args.preset!);
if (!existsSync(join(dir, 'config.json'))) {
  log(`creating ${args.preset} in ${dir}`);
  await createModel({ preset: args.preset!, seed: 0, out: dir });
}
if (args.b1) {
  const dtypes = ['f16', 'bf16', 'f32', ...QUANT_TYPES] as const;
  const dtype = dtypes.find((d) => d === args.dtype);
  if (!dtype) throw new Error(`--dtype ${args.dtype}: use one of ${dtypes.join(', ')}`);
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as B1Config;
  const gpu = await acquireGpu();
  const r = await runLinearB1({ gpu, config, dtype, variants: args.variants!.split(','), rounds, log });
  gpu.destroy();
  process.stdout.write(linearB1Lines(r, args.preset!).join('\n') + '\n');
  if (args.out) await writeFile(args.out, JSON.stringify({ model: args.preset, ...r }, null, 2) + '\n');
  process.exit(0);
}
const model = await loadModel({ dir, quantize });
const maxPrompt = Math.max(...prompts);
const { numKvBlocks, perSeqBlocks } = benchKvBlocks(maxPrompt, Math.max(...batches), steps);
const kinds = ['tiled', 'plain'] as const;
const backends: Record<(typeof kinds)[number], WebGpuBackend> = {} as never;
for (const kind of kinds) {
  const gpu = await acquireGpu();
  backends[kind] = await createWebGpuBackend({ model, gpu, numKvBlocks, maxRows: Math.max(maxPrompt, ...batches), maxContext: Math.max(maxPrompt + 16, 256), tiledLinear: kind === 'tiled' });
  log(`${kind} backend ready (${backends[kind].startup.warmup.kernels} kernels)`);
}

type Figure = { name: string; unit: string; tiled: number[]; plain: number[]; load: number[] };
const figures = new Map<string, Figure>();
const record = (name: string, kind: (typeof kinds)[number], value: number) => {
  const f = figures.get(name) ?? { name, unit: 'tokens/s', tiled: [], plain: [], load: [] };
  f[kind].push(value);
  f.load.push(loadavg()[0]);
  figures.set(name, f);
};
let sameTokens = 0;
let decodes = 0;
for (let round = 0; round <= rounds; round++) {
  // Round 0 warms both (first use of every row tile); it is not recorded.
  const order = round % 2 === 0 ? [...kinds] : [...kinds].reverse();
  for (const batch of batches) {
    const runs: Partial<Record<(typeof kinds)[number], number[][]>> = {};
    for (const kind of order) {
      const r = await decodeRun(backends[kind], { batch, steps, promptLen: maxPrompt, perSeqBlocks });
      runs[kind] = r.tokens;
      if (round > 0) record(`decode batch ${batch}`, kind, (batch * steps * 1000) / r.ms);
    }
    if (round > 0) {
      decodes += batch;
      sameTokens += runs.tiled!.filter((t, i) => JSON.stringify(t) === JSON.stringify(runs.plain![i])).length;
    }
  }
  for (const prompt of prompts) {
    for (const kind of order) {
      const ms = await prefillRun(backends[kind], prompt);
      if (round > 0) record(`prefill ${prompt}`, kind, (prompt * 1000) / ms);
    }
  }
  if (round > 0) log(`round ${round}/${rounds} done, load average ${loadavg()[0].toFixed(2)}`);
}
for (const b of Object.values(backends)) b.destroy();
await model.close();

const rows = [...figures.values()].map((f) => ({ figure: f.name, unit: f.unit, tiled: median(f.tiled), plain: median(f.plain), ratio: median(f.tiled) / median(f.plain), loadAverage: median(f.load) }));
const get = (name: string) => rows.find((r) => r.figure === name);
const b1 = get('decode batch 1');
const b32 = get('decode batch 32');
const result = {
  model: args.preset,
  quantize: args.quantize,
  rounds,
  figures: rows,
  batch32OverBatch1: b1 && b32 ? { tiled: b32.tiled / b1.tiled, plain: b32.plain / b1.plain } : undefined,
  greedyIdentical: { sequences: sameTokens, of: decodes },
};
const f = (n: number, d = 1) => n.toFixed(d);
const lines = [
  `openlora linear kernels, tiled vs plain: ${args.preset}${quantize ? ` (${quantize})` : ''}, median of ${rounds} interleaved rounds`,
  ...rows.map((r) => `  ${r.figure.padEnd(18)} tiled ${f(r.tiled).padStart(7)}  plain ${f(r.plain).padStart(7)} ${r.unit}  ratio ${f(r.ratio, 2)}x  (load average ${f(r.loadAverage, 2)})`),
  ...(result.batch32OverBatch1 ? [`  batch 32 / batch 1  tiled ${f(result.batch32OverBatch1.tiled, 2)}x  plain ${f(result.batch32OverBatch1.plain, 2)}x`] : []),
  `  greedy tokens identical: ${sameTokens} of ${decodes} sequences`,
];
process.stdout.write(lines.join('\n') + '\n');
if (args.out) await writeFile(args.out, JSON.stringify(result, null, 2) + '\n');
