/**
 * The CPU backend (WebAssembly SIMD) against the reference, whole model: every architecture's tiny
 * preset and hand-made configs for what the presets leave out (odd sizes, biases, tied
 * embeddings), f32 / f16 / bf16 weights, one and two threads, steps split into several passes;
 * greedy decoding identical to the reference; quantized weights (Q8_0, Q4_0, activations in Q8_0
 * as llama.cpp does) within a looser bound. Tolerances: max abs logit error / max |logit|.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, StepSequence } from '../../../src/engine/backend.ts';
import { createCpuBackend } from '../../../src/engine/cpu/backend.ts';
import { generate } from '../../../src/engine/generate.ts';
import { createReferenceBackend } from '../../../src/engine/reference/backend.ts';
import { createModel, type CreateDtype } from '../../../src/model/create.ts';
import { loadModel, type LoadedModel } from '../../../src/model/load.ts';
import type { QuantizeType } from '../../../src/model/quant/formats.ts';
import { presetConfigJson, type ModelPreset } from '../../../src/model/presets.ts';
import { makeTempDir, writeHandmadeModel } from '../../fixtures/model.ts';
import { relError } from '../webgpu/harness.ts';

const TOL = { f32: 1e-5, f16: 1e-4, bf16: 1e-4 } as const;
/** Q8_0 activations (0.4% per element) against the reference's f32 activations on the same dequantized weights, through two random layers that amplify differences; the kernels alone are exact to 1e-5 (kernels.test.ts). */
const QUANT_TOL = 6e-2;
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const PRESETS = ['tiny', 'tiny-mistral', 'tiny-qwen2', 'tiny-gemma', 'tiny-gemma2', 'tiny-phi3'] as const satisfies readonly ModelPreset[];

const models: LoadedModel[] = [];
const backends: Backend[] = [];
afterAll(async () => {
  for (const b of backends) b.destroy();
  for (const m of models) await m.close();
});

const prompt = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 37 + seed * 11 + 3) % 256);
const seq = (tokens: number[], blockTable: number[], startPos = 0): StepSequence => ({ tokens, startPos, blockTable, adapterSlot: -1 });

async function preset(name: ModelPreset, dtype: CreateDtype = 'f32', quantize?: QuantizeType): Promise<LoadedModel> {
  const out = join(await makeTempDir(`openlora-cpu-${name}-`), dtype);
  await createModel({ preset: name, seed: 5, dtype, out });
  const m = await loadModel({ dir: out, quantize });
  models.push(m);
  return m;
}

async function handmade(configJson: Record<string, unknown>): Promise<LoadedModel> {
  const dir = await makeTempDir('openlora-cpu-arch-');
  await writeHandmadeModel({ dir, configJson: { ...configJson, torch_dtype: 'float32' } });
  const m = await loadModel({ dir });
  models.push(m);
  return m;
}

/**
 * Logits after a 40-token prompt (past every preset's 16-position window) run as one step of two
 * sequences, then three decode steps of both; greedy tokens for 12 steps.
 */
async function compare(m: LoadedModel, tol: number, options: { threads?: number; maxRows?: number; greedyTokens?: boolean } = {}): Promise<void> {
  const ref = await createReferenceBackend({ model: m, numKvBlocks: 24, loraSlots: 0 });
  const cpu = await createCpuBackend({ model: m, numKvBlocks: 24, loraSlots: 0, threads: options.threads ?? 2, maxRows: options.maxRows });
  backends.push(ref, cpu);
  const a = [seq(prompt(40, 1), [0, 1, 2, 3]), seq(prompt(23, 2), [4, 5])];
  const [r1, r2] = await ref.logits(a);
  const [c1, c2] = await cpu.logits(a);
  expect(relError(c1, r1)).toBeLessThan(tol);
  expect(relError(c2, r2)).toBeLessThan(tol);
  for (let s = 0; s < 3; s++) {
    const d = [seq([(s * 13 + 7) % 256], [0, 1, 2, 3], 40 + s), seq([(s * 5 + 1) % 256], [4, 5], 23 + s)];
    const r = await ref.logits(d);
    const c = await cpu.logits(d);
    for (let i = 0; i < 2; i++) expect(relError(c[i], r[i])).toBeLessThan(tol);
  }
  if (options.greedyTokens === false) return;
  const run = async (b: Backend) => (await generate({ backend: b, promptTokens: prompt(20, 3), maxTokens: 12, sampling: greedy })).tokens;
  expect(await run(cpu)).toEqual(await run(ref));
}

describe('CPU backend vs the reference', () => {
  for (const name of PRESETS) {
    it(`${name} f32: logits within ${TOL.f32}, greedy tokens identical`, async () => compare(await preset(name), TOL.f32));
  }
  for (const dtype of ['f16', 'bf16'] as const) {
    it(`tiny and tiny-gemma2 ${dtype}: within ${TOL[dtype]}, greedy tokens identical`, async () => {
      await compare(await preset('tiny', dtype), TOL[dtype]);
      await compare(await preset('tiny-gemma2', dtype), TOL[dtype]);
    });
  }
  it('one thread, and passes of 16 rows (a 40-token prompt over three passes) give the same logits', async () => {
    const m = await preset('tiny-phi3', 'f16');
    await compare(m, TOL.f16, { threads: 1 });
    await compare(m, TOL.f16, { threads: 2, maxRows: 16 });
  });
  it('odd sizes, biases, tied embeddings: intermediate 260, head_dim 10 and 46, hidden 132, Llama with every bias, tied Gemma', async () => {
    await compare(await handmade({ ...presetConfigJson('tiny'), intermediate_size: 260 }), TOL.f32);
    await compare(await handmade({ ...presetConfigJson('tiny'), head_dim: 10, hidden_size: 132, num_attention_heads: 4, num_key_value_heads: 2 }), TOL.f32);
    // head_dim 46: attention's 32 dimensions in registers, then 12 by vectors and 2 one by one.
    await compare(await handmade({ ...presetConfigJson('tiny'), head_dim: 46, num_attention_heads: 4, num_key_value_heads: 2 }), TOL.f32);
    await compare(await handmade({ ...presetConfigJson('tiny'), attention_bias: true, mlp_bias: true }), TOL.f32);
    await compare(await handmade({ ...presetConfigJson('tiny-gemma'), tie_word_embeddings: true }), TOL.f32, { greedyTokens: false });
  });
  for (const q of ['q8_0', 'q4_0'] as const) {
    it(`${q} weights (--quantize): within ${QUANT_TOL} of the reference on the same dequantized weights`, async () => {
      await compare(await preset('tiny', 'f32', q), QUANT_TOL, { greedyTokens: false });
    });
  }
  it('runs a step right after creation (the workers are listening before the first job), 10 times', async () => {
    const m = await preset('tiny');
    for (let i = 0; i < 10; i++) {
      const cpu = await createCpuBackend({ model: m, numKvBlocks: 2, threads: 2, loraSlots: 0 });
      const [out] = await cpu.step([{ ...seq([1, 2, 3], [0]), sample: { ...greedy, step: 0 } }]);
      expect(out.token).toBeTypeOf('number');
      cpu.destroy();
    }
  });
  it('refuses a step after destroy()', async () => {
    const m = await preset('tiny');
    const cpu = await createCpuBackend({ model: m, numKvBlocks: 4, threads: 2 });
    cpu.destroy();
    await expect(cpu.step([seq([1], [0])])).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_UNSUPPORTED' });
  });
});
