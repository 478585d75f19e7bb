/**
 * Weight and adapter precision benchmark (not a test): `npm run bench:weights [-- --model bench-135m] [--out FILE]`.
 *
 * Decode step time at batch 1 and 8, side by side in interleaved rounds on one device, for:
 *  - base weights held as f16, bf16 (unpacked by bit shifts, exact for bf16 checkpoints) and f32;
 *  - f16 base weights with every row on a rank-16 adapter (all linear modules) held in f32 slots
 *    (the rule both backends follow) vs f16 slots.
 * Prints one line per figure and the ratios that decide the rules in docs/engine.md.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend, LoraWeights, StepSequence } from '../../src/engine/backend.ts';
import { createWebGpuBackend } from '../../src/engine/webgpu/backend.ts';
import { acquireGpu } from '../../src/gpu/device.ts';
import { DEFAULT_DATA_DIR } from '../../src/constants.ts';
import { createModel } from '../../src/model/create.ts';
import type { DeviceDtype } from '../../src/model/dtype.ts';
import { loadModel } from '../../src/model/load.ts';
import { normalStream } from '../../src/model/random.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';
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

const dir = join(DEFAULT_DATA_DIR, 'cache', 'models', args.model!);
if (!existsSync(join(dir, 'config.json'))) {
  log(`creating ${args.model} in ${dir}`);
  await createModel({ preset: args.model!, seed: 0, out: dir });
}
const gpu = await acquireGpu();
const maxBatch = Math.max(...batches);
const perSeq = Math.ceil((PROMPT + steps + 2) / 16);
const variants: Array<{ name: string; dtype: DeviceDtype; lora?: 'f32' | 'f16' }> = [
  { name: 'f16 weights', dtype: 'f16' },
  { name: 'bf16 weights', dtype: 'bf16' },
  { name: 'f32 weights', dtype: 'f32' },
  { name: 'f16 weights + rank-16 adapter, f32 slots', dtype: 'f16', lora: 'f32' },
  ...(gpu.hasF16 ? [{ name: 'f16 weights + rank-16 adapter, f16 slots', dtype: 'f16' as const, lora: 'f16' as const }] : []),
];
const backends: Backend[] = [];
const models: Array<{ close(): Promise<void> }> = [];
for (const v of variants) {
  const model = await loadModel({ dir, dtype: v.dtype });
  models.push(model);
  const b = await createWebGpuBackend({ model, gpu, numKvBlocks: maxBatch * perSeq, maxRows: Math.max(PROMPT * maxBatch, 16), maxContext: 256, loraSlots: v.lora ? 1 : 0, maxLoraRank: 16, loraDtype: v.lora });
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
for (const b of backends) b.destroy();
for (const m of models) await m.close();
gpu.destroy();
const result = { model: args.model, device: gpu.summary.description, rounds, steps, rows, ratios };
if (args.out) await writeFile(args.out, JSON.stringify(result, null, 2) + '\n');
