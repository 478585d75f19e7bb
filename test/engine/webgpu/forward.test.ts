import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, StepSequence } from '../../../src/engine/backend.ts';
import { generate } from '../../../src/engine/generate.ts';
import { createReferenceBackend } from '../../../src/engine/reference/backend.ts';
import { createWebGpuBackend, type WebGpuBackend } from '../../../src/engine/webgpu/backend.ts';
import { createPipelineCache, type PipelineCache } from '../../../src/engine/webgpu/pipelines.ts';
import { acquireGpu, type Gpu } from '../../../src/gpu/device.ts';
import { createModel } from '../../../src/model/create.ts';
import { loadModel, type LoadedModel } from '../../../src/model/load.ts';
import type { QuantizeType } from '../../../src/model/quant/index.ts';
import { relError } from './harness.ts';

// Whole-model tolerances (max abs logit error / max |logit|): f32 weights well under 1e-4;
// f16 weights (GPU f16 storage vs the reference on the same f16-rounded weights) under 1e-2.
const F32_TOL = 1e-4;
const F16_TOL = 1e-2;

let dir: string;
let gpu: Gpu;
/** One kernel cache for every backend of this file: each kernel compiles once, not once per backend. */
let pipelines: PipelineCache;
const models: LoadedModel[] = [];
const backends: Backend[] = [];

async function model(seed: number, dtype: 'f32' | 'f16', quantize?: QuantizeType): Promise<LoadedModel> {
  const out = join(dir, `tiny-${seed}-${dtype}${quantize ? `-${quantize}` : ''}`);
  await createModel({ preset: 'tiny', seed, dtype, out });
  const m = await loadModel({ dir: out, quantize });
  models.push(m);
  return m;
}

async function pair(m: LoadedModel, options: { maxRows?: number; tiledLinear?: boolean } = {}): Promise<{ cpu: Backend; webgpu: WebGpuBackend }> {
  const cpu = await createReferenceBackend({ model: m, numKvBlocks: 48 });
  const webgpu = await createWebGpuBackend({ model: m, gpu, pipelines, numKvBlocks: 48, maxRows: options.maxRows ?? 64, maxContext: 768, tiledLinear: options.tiledLinear });
  backends.push(cpu, webgpu);
  return { cpu, webgpu };
}

const prompt = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 31 + seed * 17 + 5) % 256);
const seq = (tokens: number[], blockTable: number[], startPos = 0): StepSequence => ({ tokens, startPos, blockTable, adapterSlot: -1 });
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'openlora-webgpu-'));
  gpu = await acquireGpu();
  pipelines = createPipelineCache(gpu.device);
});
afterAll(async () => {
  for (const b of backends) b.destroy();
  for (const m of models) await m.close();
  gpu?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('forward pass against the CPU reference', () => {
  it('f32 model: logits of a 37-token prompt (3 KV blocks)', async () => {
    const { cpu, webgpu } = await pair(await model(1, 'f32'));
    const s = seq(prompt(37, 1), [4, 0, 9]);
    const [a] = await webgpu.logits([s]);
    const [b] = await cpu.logits([s]);
    expect(webgpu.dtype).toBe('f32');
    expect(relError(a, b)).toBeLessThan(F32_TOL);
  });

  it('f16 model: logits in f16 storage', async () => {
    const { cpu, webgpu } = await pair(await model(2, 'f16'));
    const s = seq(prompt(21, 2), [1, 2]);
    const [a] = await webgpu.logits([s]);
    const [b] = await cpu.logits([s]);
    expect(webgpu.dtype).toBe('f16');
    expect(relError(a, b)).toBeLessThan(F16_TOL);
  });

  // The GPU reads the blocks (matrix.wgsl); the reference computes with their dequantized values.
  for (const type of ['q8_0', 'q4_0'] as const) {
    it(`--quantize ${type}: logits and greedy tokens of the blocks read on the GPU`, async () => {
      const { cpu, webgpu } = await pair(await model(4, 'f32', type));
      const dense = await pair(await model(4, 'f32'));
      expect(webgpu.weightBytes).toBeLessThan(dense.webgpu.weightBytes / 3); // blocks on the device, not their f32 values
      const s = seq(prompt(29, 4), [3, 5]);
      const [a] = await webgpu.logits([s]);
      const [b] = await cpu.logits([s]);
      expect(relError(a, b)).toBeLessThan(F32_TOL);
      const promptTokens = prompt(9, 5);
      const x = await generate({ backend: webgpu, promptTokens, maxTokens: 8, sampling: greedy });
      const y = await generate({ backend: cpu, promptTokens, maxTokens: 8, sampling: greedy });
      expect(x.tokens).toEqual(y.tokens);
    });
  }

  it('greedy decoding: identical tokens for 32 steps, several models and prompts', async () => {
    for (const modelSeed of [1, 3]) {
      const { cpu, webgpu } = await pair(await model(modelSeed, 'f32'));
      for (const n of [1, 7, 40]) {
        const promptTokens = prompt(n, modelSeed + n);
        const a = await generate({ backend: webgpu, promptTokens, maxTokens: 32, sampling: greedy });
        const b = await generate({ backend: cpu, promptTokens, maxTokens: 32, sampling: greedy });
        expect(a.tokens).toEqual(b.tokens);
        a.logprobs.forEach((lp, i) => expect(lp).toBeCloseTo(b.logprobs[i], 3));
      }
    }
  });

  it('greedy decoding with the tiled linear kernel asked for (prefill of 40 rows, batched decode of 9): the reference tokens', async () => {
    const { cpu, webgpu } = await pair(await model(3, 'f16'), { tiledLinear: true });
    const prompts = Array.from({ length: 9 }, (_, i) => prompt(i === 0 ? 40 : 5 + i, 50 + i));
    for (const promptTokens of prompts.slice(0, 2)) {
      const a = await generate({ backend: webgpu, promptTokens, maxTokens: 16, sampling: greedy });
      const b = await generate({ backend: cpu, promptTokens, maxTokens: 16, sampling: greedy });
      expect(a.tokens).toEqual(b.tokens);
    }
    // Nine sequences stepping together: decode passes of 9 rows run the tiled row tile.
    const blocks = (i: number) => Array.from({ length: 4 }, (_, j) => i * 4 + j);
    let outs = await Promise.all([webgpu, cpu].map((b) => b.step(prompts.map((t, i) => ({ ...seq(t.slice(0, 8), blocks(i)), sample: { ...greedy, seed: 0, step: 0 } })))));
    for (let k = 0; k < 6; k++) {
      expect(outs[0].map((o) => o.token)).toEqual(outs[1].map((o) => o.token));
      const prev = outs;
      outs = await Promise.all([webgpu, cpu].map((b, e) => b.step(prompts.map((_, i) => ({ ...seq([prev[e][i].token!], blocks(i), 8 + k), sample: { ...greedy, seed: 0, step: k + 1 } })))));
    }
  });

  it('seeded sampling (temperature, top-k, top-p) gives the reference tokens', async () => {
    const { cpu, webgpu } = await pair(await model(1, 'f32'));
    for (const sampling of [
      { temperature: 0.8, topK: 0, topP: 1, seed: 7 },
      { temperature: 1.2, topK: 20, topP: 0.9, seed: 1234 },
    ]) {
      const promptTokens = prompt(12, sampling.seed);
      const a = await generate({ backend: webgpu, promptTokens, maxTokens: 16, sampling });
      const b = await generate({ backend: cpu, promptTokens, maxTokens: 16, sampling });
      expect(a.tokens).toEqual(b.tokens);
    }
  });

  it('teacher forcing: log p(target) per row', async () => {
    const { cpu, webgpu } = await pair(await model(1, 'f32'));
    const tokens = prompt(19, 4);
    const targets = tokens.slice(1).concat([3]);
    const s = { ...seq(tokens, [6, 7]), targets };
    const [a] = await webgpu.step([s]);
    const [b] = await cpu.step([s]);
    expect(relError(a.targetLogprobs!, b.targetLogprobs!)).toBeLessThan(F32_TOL);
  });
});

describe('paged KV cache', () => {
  it('a batch of sequences over scattered blocks equals each sequence alone', async () => {
    const { webgpu } = await pair(await model(1, 'f32'));
    const seqs = [seq(prompt(50, 1), [11, 3, 30, 7]), seq(prompt(5, 2), [20]), seq(prompt(33, 3), [40, 1, 25])];
    const together = await webgpu.logits(seqs);
    const alone = [await webgpu.logits([seqs[0]]), await webgpu.logits([seqs[1]]), await webgpu.logits([seqs[2]])].map((x) => x[0]);
    together.forEach((l, i) => expect(relError(l, alone[i])).toBeLessThan(1e-5));
  });

  it('decode across many blocks, then freeing and reusing the blocks gives the same results', async () => {
    const { cpu, webgpu } = await pair(await model(1, 'f32'));
    // Sequence A fills blocks [2, 9, 5]; B then reuses them in another order after A is "freed".
    const a = prompt(45, 5);
    const b = prompt(30, 6);
    const runDecode = async (backend: Backend, tokens: number[], table: number[]) => {
      const out: number[] = [];
      let [o] = await backend.step([{ ...seq(tokens, table), sample: { ...greedy, step: 0 } }]);
      let pos = tokens.length;
      for (let i = 1; i < 4; i++) {
        out.push(o.token!);
        [o] = await backend.step([{ ...seq([o.token!], table, pos), sample: { ...greedy, step: i } }]);
        pos++;
      }
      out.push(o.token!);
      return out;
    };
    const aTokens = await runDecode(webgpu, a, [2, 9, 5, 12]);
    const bReused = await runDecode(webgpu, b, [5, 2, 9]);
    const bFresh = await runDecode(webgpu, b, [30, 31, 32]);
    expect(bReused).toEqual(bFresh);
    expect(aTokens).toEqual(await runDecode(cpu, a, [2, 9, 5, 12]));
  });

  it('prompts longer than one pass run in chunks with the same logits', async () => {
    const m = await model(1, 'f32');
    const { webgpu: small } = await pair(m, { maxRows: 16 });
    const { webgpu: big } = await pair(m, { maxRows: 64 });
    const s = seq(prompt(50, 9), [0, 1, 2, 3]);
    const [a] = await small.logits([s]);
    const [b] = await big.logits([s]);
    expect(relError(a, b)).toBeLessThan(1e-5);
  });
});

describe('errors', () => {
  it('token ids outside the vocabulary and too long sequences have stable codes', async () => {
    const { webgpu } = await pair(await model(1, 'f32'));
    await expect(webgpu.step([seq([1, 999999], [0])])).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_TOKEN_OUT_OF_RANGE' });
    await expect(webgpu.step([seq([1], [0], 800)])).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_CONTEXT_EXCEEDED' });
    await expect(webgpu.step([seq(prompt(20, 1), [0])])).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_BLOCK_TABLE' });
    await expect(generate({ backend: webgpu, promptTokens: prompt(760, 1), maxTokens: 20, sampling: greedy })).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_CONTEXT_EXCEEDED' });
  });
});
