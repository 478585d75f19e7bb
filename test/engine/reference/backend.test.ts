import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, StepSequence } from '../../../src/engine/backend.ts';
import { createReferenceBackend } from '../../../src/engine/reference/backend.ts';
import { logprobOf, argmax } from '../../../src/engine/sampling.ts';
import { projectionShape } from '../../../src/model/config.ts';
import { loadModel, type LoadedModel } from '../../../src/model/load.ts';
import { openSafetensors } from '../../../src/model/safetensors.ts';
import { writeSafetensors } from '../../../src/model/safetensorsWrite.ts';
import { f32ToBytes } from '../../../src/model/dtype.ts';
import { normalStream } from '../../../src/model/random.ts';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { createTinyModel, makeTempDir } from '../../fixtures/model.ts';

let model: LoadedModel;
let backend: Backend;
const prompt = Array.from({ length: 70 }, (_, i) => (i * 37 + 11) % 256); // spans 5 KV blocks
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const seq = (s: Partial<StepSequence> & Pick<StepSequence, 'tokens' | 'blockTable'>): StepSequence => ({ startPos: 0, adapterSlot: -1, ...s });

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

beforeAll(async () => {
  model = await loadModel({ dir: await createTinyModel() });
  backend = await createReferenceBackend({ model, numKvBlocks: 32 });
});
afterAll(async () => {
  backend.destroy();
  await model.close();
});

describe('CPU reference backend', () => {
  it('paged KV with blocks out of order equals contiguous blocks, and batching does not change results', async () => {
    const [contiguous] = await backend.logits([seq({ tokens: prompt, blockTable: [0, 1, 2, 3, 4] })]);
    const [scattered] = await backend.logits([seq({ tokens: prompt, blockTable: [31, 7, 19, 5, 12] })]);
    expect(maxDiff(scattered, contiguous)).toBe(0);
    const [a, b] = await backend.logits([seq({ tokens: prompt, blockTable: [20, 21, 22, 23, 24] }), seq({ tokens: prompt.slice(0, 30), blockTable: [8, 9] })]);
    expect(maxDiff(a, contiguous)).toBe(0);
    const [alone] = await backend.logits([seq({ tokens: prompt.slice(0, 30), blockTable: [10, 11] })]);
    expect(maxDiff(b, alone)).toBe(0);
  });

  it('step-by-step decode and chunked prefill equal one-shot prefill', async () => {
    const tokens = prompt.slice(0, 40);
    const blocks = [3, 14, 6];
    const [oneShot] = await backend.logits([seq({ tokens, blockTable: [0, 1, 2] })]);
    let last: Float32Array = new Float32Array();
    for (let pos = 0; pos < tokens.length; pos++) [last] = await backend.logits([seq({ tokens: [tokens[pos]], startPos: pos, blockTable: blocks })]);
    expect(maxDiff(last, oneShot)).toBeLessThan(1e-5);
    for (let start = 0; start < tokens.length; start += 7) {
      [last] = await backend.logits([seq({ tokens: tokens.slice(start, start + 7), startPos: start, blockTable: [9, 10, 11] })]);
    }
    expect(maxDiff(last, oneShot)).toBeLessThan(1e-5);
  });

  it('teacher-forced target logprobs equal per-step logprobs', async () => {
    const tokens = prompt.slice(0, 20);
    const targets = [...tokens.slice(1), 42];
    const [out] = await backend.step([seq({ tokens, targets, blockTable: [0, 1] })]);
    expect(out.targetLogprobs?.length).toBe(20);
    for (const i of [0, 5, 13, 19]) {
      const [logits] = await backend.logits([seq({ tokens: tokens.slice(0, i + 1), blockTable: [2, 3] })]);
      expect(Math.abs(out.targetLogprobs![i] - logprobOf(logits, targets[i]))).toBeLessThan(1e-5);
    }
  });

  it('greedy sampling is the argmax of logits and decodes varied tokens', async () => {
    const tokens = model.tokenizer!.encode(model.chatTemplate!.render({ messages: [{ role: 'user', content: 'Tell me a story.' }], addGenerationPrompt: true }));
    const blockTable = [4, 8, 15, 16, 23, 26];
    const [first] = await backend.step([seq({ tokens, blockTable, sample: { ...greedy, step: 0 } })]);
    const [logits] = await backend.logits([seq({ tokens, blockTable: [0, 1, 2] })]);
    expect(first.token).toBe(argmax(logits));
    expect(first.logprob).toBeCloseTo(logprobOf(logits, first.token!), 5);
    const out = [first.token!];
    for (let i = 1; i < 40; i++) {
      const [o] = await backend.step([seq({ tokens: [out[i - 1]], startPos: tokens.length + i - 1, blockTable, sample: { ...greedy, step: i } })]);
      out.push(o.token!);
    }
    expect(new Set(out).size).toBeGreaterThanOrEqual(8);
    // Seeded sampling is reproducible.
    const hot = { temperature: 1, topK: 50, topP: 0.9, seed: 1234, step: 3 };
    const [s1] = await backend.step([seq({ tokens, blockTable, sample: hot })]);
    const [s2] = await backend.step([seq({ tokens, blockTable: [1, 2, 3], sample: hot })]);
    expect(s2.token).toBe(s1.token);
  });

  it('LoRA slot: zero B is the base model; y = W x + scale B A x equals merged weights', async () => {
    const config = model.config;
    const [out, inF] = projectionShape(config, 'v_proj');
    const rank = 4;
    const r = normalStream(5, 'lora');
    const a = r.fill(new Float32Array(rank * inF), 0.1, 0);
    const b = r.fill(new Float32Array(out * rank), 0.1, 0);
    const scale = 2;
    const layers = Array.from({ length: config.numLayers }, () => ({}));
    const tokens = prompt.slice(0, 25);
    const [base] = await backend.logits([seq({ tokens, blockTable: [0, 1] })]);
    await backend.lora.load(0, { rank, scale, layers: layers.map((_, i) => (i === 1 ? { v_proj: { a, b: new Float32Array(b.length) } } : {})) });
    const [zero] = await backend.logits([seq({ tokens, blockTable: [0, 1], adapterSlot: 0 })]);
    expect(maxDiff(zero, base)).toBe(0);
    await backend.lora.load(1, { rank, scale, layers: layers.map((_, i) => (i === 1 ? { v_proj: { a, b } } : {})) });
    const [adapted] = await backend.logits([seq({ tokens, blockTable: [0, 1], adapterSlot: 1 })]);
    expect(maxDiff(adapted, base)).toBeGreaterThan(1e-3);

    // Merge W' = W + scale B A into a copy of the model and run it without the adapter.
    const dir = await makeTempDir();
    const src = await openSafetensors({ path: join(model.dir, 'model.safetensors') });
    const name = 'model.layers.1.self_attn.v_proj.weight';
    const merged = await src.readF32(name);
    for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) for (let k = 0; k < rank; k++) merged[o * inF + i] += scale * b[o * rank + k] * a[k * inF + i];
    const tensors = [];
    for (const [n, info] of src.header.tensors) {
      const bytes = n === name ? f32ToBytes(merged, 'F32') : await src.readBytes(n);
      tensors.push({ name: n, dtype: info.dtype, shape: info.shape, data: () => bytes });
    }
    await writeSafetensors({ path: join(dir, 'model.safetensors'), tensors });
    await copyFile(join(model.dir, 'config.json'), join(dir, 'config.json'));
    await src.close();
    const mergedModel = await loadModel({ dir });
    const mergedBackend = await createReferenceBackend({ model: mergedModel, numKvBlocks: 4 });
    const [reference] = await mergedBackend.logits([seq({ tokens, blockTable: [0, 1] })]);
    expect(maxDiff(adapted, reference)).toBeLessThan(1e-4);
    mergedBackend.destroy();
    await mergedModel.close();

    backend.lora.unload(1);
    const [unloaded] = await backend.logits([seq({ tokens, blockTable: [0, 1], adapterSlot: 1 })]);
    expect(maxDiff(unloaded, base)).toBe(0);
    await expect(backend.lora.load(0, { rank: 100, scale, layers })).rejects.toMatchObject({ code: 'OPENLORA_LORA_RANK_UNSUPPORTED' }); // the same check as the GPU pool's
  });

  it('rejects bad steps with stable codes', async () => {
    await expect(backend.step([seq({ tokens: [264], blockTable: [0] })])).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_TOKEN_OUT_OF_RANGE' });
    await expect(backend.step([seq({ tokens: prompt.slice(0, 20), blockTable: [0] })])).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_BLOCK_TABLE' });
    await expect(backend.step([seq({ tokens: [1], blockTable: [32] })])).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_BLOCK_TABLE' });
    await expect(backend.step([seq({ tokens: [1], startPos: 2048, blockTable: Array.from({ length: 129 }, () => 0) })])).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_CONTEXT_EXCEEDED' });
    await expect(backend.step([seq({ tokens: [1], blockTable: [0], sample: { ...greedy, topP: 2, step: 0 } })])).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_SAMPLING_PARAMS' });
    const controller = new AbortController();
    controller.abort();
    await expect(backend.step([seq({ tokens: [1], blockTable: [0] })], controller.signal)).rejects.toThrow();
  });

  it('f16 models run with f16-rounded weights and agree with f32 within 1e-2', async () => {
    const half = await loadModel({ dir: await createTinyModel({ dtype: 'f16' }) });
    const halfBackend = await createReferenceBackend({ model: half, numKvBlocks: 4 });
    expect(halfBackend.dtype).toBe('f16');
    const tokens = prompt.slice(0, 20);
    const [h] = await halfBackend.logits([seq({ tokens, blockTable: [0, 1] })]);
    const [f] = await backend.logits([seq({ tokens, blockTable: [0, 1] })]);
    const scale = Math.max(...f.map(Math.abs));
    expect(maxDiff(h, f) / scale).toBeLessThan(1e-2);
    halfBackend.destroy();
    await half.close();
  });
});

describe('sliding windows change what the reference computes', () => {
  it('Mistral with a 16-position window equals full attention up to position 15, then differs', async () => {
    const dir = await createTinyModel({ seed: 4 });
    const windowed = await makeTempDir();
    const full = await makeTempDir();
    const json = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    for (const [out, sliding_window] of [[windowed, 16], [full, null]] as const) {
      await writeFile(join(out, 'config.json'), JSON.stringify({ ...json, architectures: ['MistralForCausalLM'], model_type: 'mistral', attention_bias: undefined, mlp_bias: undefined, sliding_window }));
      await copyFile(join(dir, 'model.safetensors'), join(out, 'model.safetensors'));
    }
    const [a, b] = await Promise.all([windowed, full].map((d) => loadModel({ dir: d })));
    expect(a.config.slidingWindows).toEqual([16, 16]);
    expect(b.config.slidingWindows).toEqual([0, 0]);
    const [ba, bb] = await Promise.all([a, b].map((m) => createReferenceBackend({ model: m, numKvBlocks: 4 })));
    const logitsAt = async (backend: Backend, n: number) => (await backend.logits([seq({ tokens: prompt.slice(0, n), blockTable: [0, 1, 2] })]))[0];
    expect(maxDiff(await logitsAt(ba, 16), await logitsAt(bb, 16))).toBe(0);
    expect(maxDiff(await logitsAt(ba, 40), await logitsAt(bb, 40))).toBeGreaterThan(1e-3);
    for (const m of [a, b]) await m.close();
  });
});
