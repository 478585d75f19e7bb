/**
 * Weight and adapter precision benchmark (not a test): `npm run bench:weights [-- --model bench-135m] [--out FILE]`.
 *
 * Decode step time at batch 1 and 8, side by side in interleaved rounds on one device, for:
 *  - base weights held as f16, bf16 (unpacked by bit shifts, exact for bf16 checkpoints) and f32;
 *  - f16 base weights with every row on a rank-16 adapter (all linear modules) held in f32 slots
 *    (the rule both backends follow) vs f16 slots.
 * And the precision cost of f16 factors (`lora.dtype: f16`): teacher-forced log p of a test text
 * with the adapter in f32 vs f16 slots, beside the adapter's own effect.
 * Prints one line per figure and the ratios that decide the rules in docs/engine.md.
 */
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import type { Backend, LoraWeights, StepSequence } from '../../src/engine/backend.ts';
import { createWebGpuBackend } from '../../src/engine/webgpu/backend.ts';
import { acquireGpu } from '../../src/gpu/device.ts';
import type { DeviceDtype } from '../../src/model/dtype.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import { normalStream } from '../../src/model/random.ts';
import type { LoraDtype } from '../../src/lora/dtype.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';
import { cachedPreset } from './lib/models.ts';
import { median } from './lib/stats.ts';

const args = benchArgs(import.meta.url, {
  model: { type: 'string', default: 'bench-135m' },
  out: { type: 'string' },
  rounds: { type: 'string', default: '3' },
  steps: { type: 'string', default: '4' },
  batches: { type: 'string', default: '1,8' },
});
const rounds = positiveNumber('rounds', args.rounds);
const steps = positiveNumber('steps', args.steps);
const batches = args.batches!.split(',').map(Number);
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const PROMPT = 8;
/** The test text of the precision figure (teacher-forced; token ids of the model's tokenizer). */
/** KV blocks the precision figure's text may take (its first 128 tokens). */
const TEXT_BLOCKS = 8;
const TEXT =
  'openlora serves many LoRA adapters over one base model: each request names its adapter, and rows of different adapters share a step. ' +
  'The adapter factors are held in f32 or f16 on every backend, and every backend computes with the values the device holds. ' +
  'A node pays for what it reads: on a GPU the weights stream at memory bandwidth, on a CPU every word a lane loads costs alike.';

const dir = await cachedPreset(args.model!, log);
const gpu = await acquireGpu();
const maxBatch = Math.max(...batches);
const perSeq = Math.ceil((PROMPT + steps + 2) / 16);
const variants: Array<{ name: string; dtype: DeviceDtype; lora?: LoraDtype }> = [
  { name: 'f16 weights', dtype: 'f16' },
  { name: 'bf16 weights', dtype: 'bf16' },
  { name: 'f32 weights', dtype: 'f32' },
  { name: 'f16 weights + rank-16 adapter, f32 slots', dtype: 'f16', lora: 'f32' },
  ...(gpu.hasF16 ? [{ name: 'f16 weights + rank-16 adapter, f16 slots', dtype: 'f16' as const, lora: 'f16' as const }] : []),
];
const backends: Backend[] = [];
const models: LoadedModel[] = [];
for (const v of variants) {
  const model = await loadModel({ dir, dtype: v.dtype });
  models.push(model);
  const b = await createWebGpuBackend({ model, gpu, numKvBlocks: Math.max(maxBatch * perSeq, TEXT_BLOCKS), maxRows: Math.max(PROMPT * maxBatch, 16), maxContext: 256, loraSlots: v.lora ? 1 : 0, maxLoraRank: 16, loraDtype: v.lora });
  if (v.lora) {
    const r = 16;
    const layers: LoraWeights['layers'] = Array.from({ length: model.config.numLayers }, (_, l) =>
      Object.fromEntries(model.config.modules.map((m) => [m.name, { a: normalStream(l, `a${m.name}`).fill(new Float32Array(r * m.in), 0.05, 0), b: normalStream(l, `b${m.name}`).fill(new Float32Array(m.out * r), 0.05, 0) }])),
    );
    await b.lora.load(0, { rank: r, scale: 2, layers });
  }
  backends.push(b);
  log(`${v.name}: ready`);
}

async function decode(b: Backend, batch: number, slot: number): Promise<number> {
  const seqs = Array.from({ length: batch }, (_, i) => ({ tokens: Array.from({ length: PROMPT }, (_, j) => (i * 131 + j * 17 + 5) % 1000), blockTable: Array.from({ length: perSeq }, (_, j) => i * perSeq + j) }));
  let outs = await b.step(seqs.map((s, i): StepSequence => ({ ...s, startPos: 0, adapterSlot: slot, sample: { ...greedy, seed: i, step: 0 } })));
  const t = performance.now();
  for (let k = 1; k <= steps; k++) {
    outs = await b.step(seqs.map((s, i): StepSequence => ({ tokens: [outs[i].token!], startPos: PROMPT + k - 1, blockTable: s.blockTable, adapterSlot: slot, sample: { ...greedy, seed: i, step: k } })));
  }
  return (performance.now() - t) / steps;
}

log('warm-up (pipelines)');
for (const [i, b] of backends.entries()) for (const batch of batches) await decode(b, batch, variants[i].lora ? 0 : -1);
const samples = variants.map(() => batches.map(() => [] as number[]));
for (let round = 0; round < rounds; round++) {
  for (const [bi, batch] of batches.entries()) {
    for (const [i, b] of backends.entries()) samples[i][bi].push(await decode(b, batch, variants[i].lora ? 0 : -1));
  }
  log(`round ${round + 1}/${rounds}`);
}
const rows = variants.map((v, i) => ({ ...v, stepMs: Object.fromEntries(batches.map((batch, bi) => [batch, median(samples[i][bi])])) }));
for (const r of rows) for (const batch of batches) process.stdout.write(`${r.name}, batch ${batch}: ${r.stepMs[batch].toFixed(1)} ms/step\n`);
const ratio = (a: string, b: string, batch: number) => rows.find((r) => r.name === a)!.stepMs[batch] / rows.find((r) => r.name === b)!.stepMs[batch];
const ratios: Record<string, number> = {};
for (const batch of batches) {
  ratios[`bf16/f16 batch ${batch}`] = ratio('bf16 weights', 'f16 weights', batch);
  ratios[`f32/f16 batch ${batch}`] = ratio('f32 weights', 'f16 weights', batch);
  if (gpu.hasF16) ratios[`lora f32 slots/f16 slots batch ${batch}`] = ratio('f16 weights + rank-16 adapter, f32 slots', 'f16 weights + rank-16 adapter, f16 slots', batch);
}
for (const [k, v] of Object.entries(ratios)) process.stdout.write(`step time ${k}: ${v.toFixed(3)}\n`);
const precision = gpu.hasF16 ? await adapterPrecision() : undefined;
for (const b of backends) b.destroy();
for (const m of models) await m.close();
gpu.destroy();
const result = { model: args.model, device: gpu.summary.description, loadAverage: loadavg(), rounds, steps, rows, ratios, precision };
process.stdout.write(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
if (args.out) await writeFile(args.out, JSON.stringify(result, null, 2) + '\n');

/**
 * What f16 factors cost in precision (`lora.dtype`): teacher-forced log p of each token of
 * {@link TEXT} with the same adapter in f32 and in f16 slots (f16 weights), beside the adapter's
 * own effect (f32 slots vs no adapter) for scale.
 */
async function adapterPrecision(): Promise<{ tokens: number; maxAbsDiff: number; meanAbsDiff: number; adapterMaxAbsEffect: number; adapterMeanAbsEffect: number; sumLogprobF32: number; sumLogprobF16: number }> {
  const at = (lora: LoraDtype) => variants.findIndex((v) => v.lora === lora);
  const tokenizer = models[at('f32')].tokenizer;
  const ids = (tokenizer?.encode(TEXT, { addSpecialTokens: true }) ?? Array.from({ length: 48 }, (_, i) => (i * 131 + 7) % 1000)).slice(0, TEXT_BLOCKS * 16);
  const logprobs = async (b: Backend, slot: number) => {
    const [out] = await b.step([{ tokens: ids.slice(0, -1), targets: ids.slice(1), startPos: 0, blockTable: Array.from({ length: Math.ceil(ids.length / 16) }, (_, j) => j), adapterSlot: slot }]);
    return out.targetLogprobs!;
  };
  const f32 = await logprobs(backends[at('f32')], 0);
  const f16 = await logprobs(backends[at('f16')], 0);
  const base = await logprobs(backends[at('f32')], -1);
  const diff = (a: Float32Array, b: Float32Array) => Array.from(a, (x, i) => Math.abs(x - b[i]));
  const d = diff(f16, f32);
  const e = diff(f32, base);
  const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((x, y) => x + y, 0);
  const figure = { tokens: d.length, maxAbsDiff: Math.max(...d), meanAbsDiff: sum(d) / d.length, adapterMaxAbsEffect: Math.max(...e), adapterMeanAbsEffect: sum(e) / e.length, sumLogprobF32: sum(f32), sumLogprobF16: sum(f16) };
  process.stdout.write(`adapter precision, f16 vs f32 factors (rank-16 adapter on f16 weights, ${figure.tokens} teacher-forced tokens): |Δ log p| max ${figure.maxAbsDiff.toExponential(2)} mean ${figure.meanAbsDiff.toExponential(2)}; the adapter's own effect |Δ log p| max ${figure.adapterMaxAbsEffect.toFixed(3)} mean ${figure.adapterMeanAbsEffect.toFixed(3)}; sum log p ${figure.sumLogprobF32.toFixed(4)} (f32) vs ${figure.sumLogprobF16.toFixed(4)} (f16)\n`);
  return figure;
}
