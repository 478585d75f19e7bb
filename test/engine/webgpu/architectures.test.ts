/**
 * Every architecture on both backends: the tiny preset of each (`model create --preset tiny-*`)
 * and hand-made configs for what the presets leave out (tied embeddings, odd sizes, biases), run
 * through the WebGPU engine and the CPU reference. Tolerances as in forward.test.ts (max abs logit
 * error / max |logit|): f32 1e-4, f16 / bf16 1e-2; greedy decoding must give identical tokens.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, StepSequence } from '../../../src/engine/backend.ts';
import { generate } from '../../../src/engine/generate.ts';
import { createReferenceBackend } from '../../../src/engine/reference/backend.ts';
import { createWebGpuBackend, type WebGpuBackend } from '../../../src/engine/webgpu/backend.ts';
import { createPipelineCache, type PipelineCache } from '../../../src/engine/webgpu/pipelines.ts';
import { acquireGpu, type Gpu } from '../../../src/gpu/device.ts';
import { createAdapter } from '../../../src/lora/create.ts';
import { loadPeftAdapter } from '../../../src/lora/peft.ts';
import { createModel, type CreateDtype } from '../../../src/model/create.ts';
import { loadModel, type LoadedModel } from '../../../src/model/load.ts';
import { presetConfigJson, type ModelPreset } from '../../../src/model/presets.ts';
import { makeTempDir, writeHandmadeModel } from '../../fixtures/model.ts';
import { relError } from './harness.ts';

const F32_TOL = 1e-4;
const F16_TOL = 1e-2;
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const PRESETS = ['tiny', 'tiny-mistral', 'tiny-qwen2', 'tiny-gemma', 'tiny-gemma2', 'tiny-phi3'] as const satisfies readonly ModelPreset[];

let gpu: Gpu;
/** One kernel cache for every backend of this file: each kernel compiles once, not once per backend. */
let pipelines: PipelineCache;
let root: string;
const models: LoadedModel[] = [];
const backends: Backend[] = [];

const prompt = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 37 + seed * 11 + 3) % 256);
const seq = (tokens: number[], blockTable: number[], startPos = 0): StepSequence => ({ tokens, startPos, blockTable, adapterSlot: -1 });

async function preset(name: ModelPreset, dtype: CreateDtype = 'f32'): Promise<LoadedModel> {
  const out = join(root, `${name}-${dtype}`);
  await createModel({ preset: name, seed: 5, dtype, out });
  const m = await loadModel({ dir: out });
  models.push(m);
  return m;
}

async function handmade(configJson: Record<string, unknown>, dtype: 'F32' | 'BF16' = 'F32'): Promise<LoadedModel> {
  const dir = await makeTempDir('openlora-arch-');
  await writeHandmadeModel({ dir, configJson: { ...configJson, torch_dtype: dtype === 'F32' ? 'float32' : 'bfloat16' }, dtype });
  const m = await loadModel({ dir });
  models.push(m);
  return m;
}

async function pair(m: LoadedModel, lora = 0): Promise<{ cpu: Backend; webgpu: WebGpuBackend }> {
  const cpu = await createReferenceBackend({ model: m, numKvBlocks: 24, loraSlots: lora, maxLoraRank: 8 });
  const webgpu = await createWebGpuBackend({ model: m, gpu, pipelines, numKvBlocks: 24, maxRows: 64, maxContext: 384, loraSlots: lora, maxLoraRank: 8 });
  backends.push(cpu, webgpu);
  return { cpu, webgpu };
}

/** Logits after a 40-token prompt (past every preset's 16-position window) and after 3 decode steps; greedy tokens for 16 steps. */
async function compare(m: LoadedModel, tol: number, varied = true): Promise<void> {
  const { cpu, webgpu } = await pair(m);
  const tokens = prompt(40, 1);
  const s = seq(tokens, [5, 0, 9]);
  const [a] = await webgpu.logits([s]);
  const [b] = await cpu.logits([s]);
  expect(relError(a, b)).toBeLessThan(tol);
  // Decode rows (one token at a time) attend through the same window as prefill rows.
  for (const [i, t] of [7, 99, 200].entries()) {
    const d = seq([t], [5, 0, 9], 40 + i);
    const [x] = await webgpu.logits([d]);
    const [y] = await cpu.logits([d]);
    expect(relError(x, y), `decode step ${i}`).toBeLessThan(tol);
  }
  if (tol === F32_TOL) {
    const g = await generate({ backend: webgpu, promptTokens: prompt(23, 2), maxTokens: 16, sampling: greedy });
    const r = await generate({ backend: cpu, promptTokens: prompt(23, 2), maxTokens: 16, sampling: greedy });
    expect(g.tokens).toEqual(r.tokens);
    if (varied) expect(new Set(r.tokens).size).toBeGreaterThan(3);
  }
}

beforeAll(async () => {
  gpu = await acquireGpu();
  pipelines = createPipelineCache(gpu.device);
  root = await makeTempDir('openlora-arch-presets-');
});
afterAll(async () => {
  for (const b of backends) b.destroy();
  for (const m of models) await m.close();
  gpu?.destroy();
});

describe('each architecture on WebGPU and the CPU reference', () => {
  for (const name of PRESETS) {
    it(`${name}: f32 logits (prefill past the window, decode) and greedy tokens`, async () => {
      await compare(await preset(name), F32_TOL);
    });
  }
  it('f16 and bf16 checkpoints (tiny-gemma2, tiny-phi3)', async () => {
    for (const name of ['tiny-gemma2', 'tiny-phi3'] as const) {
      for (const dtype of ['f16', 'bf16'] as const) {
        const m = await preset(name, dtype);
        expect(m.dtype).toBe(dtype);
        await compare(m, F16_TOL);
      }
    }
  });
});

describe('what the presets leave out', () => {
  it('tied embeddings (Gemma), Llama with attention_bias and mlp_bias, Gemma 2 with strong soft-caps and layer_types', async () => {
    const base = presetConfigJson('tiny');
    await compare(await handmade({ ...presetConfigJson('tiny-gemma'), tie_word_embeddings: true }), F32_TOL, false);
    await compare(await handmade({ ...base, attention_bias: true, mlp_bias: true }), F32_TOL, false);
    await compare(await handmade({ ...presetConfigJson('tiny-gemma2'), attn_logit_softcapping: 0.5, final_logit_softcapping: 2, layer_types: ['full_attention', 'sliding_attention'] }), F32_TOL, false);
  });

  it('odd sizes run on WebGPU, with LoRA too: intermediate 260, head_dim 10, hidden 132', async () => {
    const base = presetConfigJson('tiny');
    const odd = [
      await handmade({ ...base, intermediate_size: 260 }),
      await handmade({ ...base, head_dim: 10, num_attention_heads: 3, num_key_value_heads: 1 }),
      await handmade({ ...presetConfigJson('tiny-phi3'), hidden_size: 132, intermediate_size: 260, num_attention_heads: 6, num_key_value_heads: 3, head_dim: 22 }),
    ];
    for (const [i, m] of odd.entries()) {
      await compare(m, F32_TOL, false);
      const dir = join(root, `odd-adapter-${i}`);
      await createAdapter({ model: m.dir, out: dir, rank: 4, seed: 9 });
      const { weights } = await loadPeftAdapter({ dir, config: m.config });
      const { cpu, webgpu } = await pair(m, 1);
      for (const b of [cpu, webgpu]) await b.lora.load(0, weights);
      const s = { ...seq(prompt(19, 5), [0, 1]), adapterSlot: 0 };
      const [a] = await webgpu.logits([s]);
      const [b] = await cpu.logits([s]);
      expect(relError(a, b), `odd model ${i} with LoRA`).toBeLessThan(F32_TOL);
    }
  });

  it('bf16 weights beyond the f16 range: bf16 on the device, and f32 for that tensor when f16 is asked for', async () => {
    const dir = await makeTempDir('openlora-arch-range-');
    await writeHandmadeModel({ dir, configJson: { ...presetConfigJson('tiny'), torch_dtype: 'bfloat16' }, dtype: 'BF16', scale: { 'model.layers.0.mlp.down_proj.weight': 1e6 } });
    for (const dtype of ['bf16', 'f16'] as const) {
      const m = await loadModel({ dir, dtype });
      models.push(m);
      const { cpu, webgpu } = await pair(m);
      expect(webgpu.weights.matrix('model.layers.0.mlp.down_proj.weight').dtype).toBe(dtype === 'bf16' ? 'bf16' : 'f32');
      expect(webgpu.weights.matrix('model.layers.0.mlp.up_proj.weight').dtype).toBe(dtype);
      const s = seq(prompt(20, 3), [1, 2]);
      const [a] = await webgpu.logits([s]);
      const [b] = await cpu.logits([s]);
      expect(a.every(Number.isFinite), dtype).toBe(true);
      expect(relError(a, b), dtype).toBeLessThan(F32_TOL);
      const [out] = await webgpu.step([{ ...s, sample: { ...greedy, step: 0 } }]);
      const [ref] = await cpu.step([{ ...s, sample: { ...greedy, step: 0 } }]);
      expect(out.token).toBe(ref.token);
      expect(Number.isFinite(out.logprob)).toBe(true);
    }
  });
});

describe('LoRA on fused modules (Phi-3 qkv_proj, gate_up_proj)', () => {
  it('an adapter on the fused modules gives the same logits on both backends, and changes them', async () => {
    const m = await preset('tiny-phi3');
    const dir = join(root, 'phi3-adapter');
    await createAdapter({ model: m.dir, out: dir, rank: 8, seed: 3 });
    const adapter = await loadPeftAdapter({ dir, config: m.config });
    expect(adapter.meta.targets).toEqual(['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj']);
    const { cpu, webgpu } = await pair(m, 2);
    for (const b of [cpu, webgpu]) await b.lora.load(1, adapter.weights);
    const s = { ...seq(prompt(30, 4), [3, 4]), adapterSlot: 1 };
    const [a] = await webgpu.logits([s]);
    const [b] = await cpu.logits([s]);
    expect(relError(a, b)).toBeLessThan(F32_TOL);
    const [base] = await cpu.logits([{ ...s, adapterSlot: -1 }]);
    expect(relError(base, b)).toBeGreaterThan(1e-3);
  });
});
