import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvBlockBytes, type Backend, type LoraWeights, type StepSequence } from '../../../src/engine/backend.ts';
import { generate } from '../../../src/engine/generate.ts';
import { createReferenceBackend } from '../../../src/engine/reference/backend.ts';
import { createWebGpuBackend, type WebGpuBackend } from '../../../src/engine/webgpu/backend.ts';
import { createPipelineCache, type PipelineCache } from '../../../src/engine/webgpu/pipelines.ts';
import { acquireGpu, type Gpu } from '../../../src/gpu/device.ts';
import { createAdapter } from '../../../src/lora/create.ts';
import type { LoraDtype } from '../../../src/lora/dtype.ts';
import { createHostCache } from '../../../src/lora/hostCache.ts';
import { loadPeftAdapter } from '../../../src/lora/peft.ts';
import { createPeftLoader } from '../../../src/lora/peftLoader.ts';
import { createSlotManager } from '../../../src/lora/slots.ts';
import { createAdapterStore } from '../../../src/lora/store.ts';
import { loadModel, type LoadedModel } from '../../../src/model/load.ts';
import { createScheduler } from '../../../src/scheduler/scheduler.ts';
import { createTinyModel, makeTempDir } from '../../fixtures/model.ts';
import { relError } from './harness.ts';

// Whole-model tolerances with LoRA, as without (docs/engine.md): max abs logit error / max |logit|.
const F32_TOL = 1e-4;
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };

let gpu: Gpu;
/** One kernel cache for every backend of this file: each kernel compiles once, not once per backend. */
let pipelines: PipelineCache;
let root: string;
let f32Dir: string;
let f32: LoadedModel;
let f16: LoadedModel;
/** Adapters of ranks 4, 8, 16 and 6 (the rank-8 one targets q and v only, the rank-6 one q, k and gate), as directories and weights. */
const adapters: Array<{ dir: string; weights: LoraWeights }> = [];
const backends: Backend[] = [];

const prompt = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 37 + seed * 11 + 3) % 256);

async function pair(model: LoadedModel, loraDtype: LoraDtype = 'f32'): Promise<{ cpu: Backend; webgpu: WebGpuBackend }> {
  const cpu = await createReferenceBackend({ model, numKvBlocks: 64, loraSlots: 4, maxLoraRank: 16, loraDtype });
  const webgpu = await createWebGpuBackend({ model, gpu, pipelines, numKvBlocks: 64, maxRows: 64, maxContext: 256, loraSlots: 4, maxLoraRank: 16, loraDtype });
  backends.push(cpu, webgpu);
  for (const b of [cpu, webgpu]) for (let i = 0; i < adapters.length; i++) await b.lora.load(i, adapters[i].weights);
  return { cpu, webgpu };
}

beforeAll(async () => {
  gpu = await acquireGpu();
  pipelines = createPipelineCache(gpu.device);
  root = await makeTempDir('openlora-lora-forward-');
  f32Dir = await createTinyModel({ seed: 1 });
  f32 = await loadModel({ dir: f32Dir });
  f16 = await loadModel({ dir: await createTinyModel({ seed: 1, dtype: 'f16' }) });
  const specs = [
    { rank: 4, seed: 11 },
    { rank: 8, seed: 12, targets: ['q_proj', 'v_proj'] },
    { rank: 16, seed: 13 },
    { rank: 6, seed: 14, targets: ['q_proj', 'k_proj', 'gate_proj'] }, // A padded to r4 = 8 in the slot image
  ];
  for (const [i, s] of specs.entries()) {
    const out = join(root, `adapter-${i}`);
    await createAdapter({ model: f32Dir, out, ...s });
    adapters.push({ dir: out, weights: (await loadPeftAdapter({ dir: out, config: f32.config })).weights });
  }
});
afterAll(async () => {
  for (const b of backends) b.destroy();
  await f32?.close();
  await f16?.close();
  gpu?.destroy();
});

/**
 * Greedy decoding of several requests in the same steps (one prefill step, then one decode row
 * each per step), each with its own KV blocks and adapter slot.
 */
async function generateBatch(backend: Backend, requests: Array<{ prompt: number[]; slot: number }>, maxTokens: number): Promise<number[][]> {
  const tables = requests.map((_, i) => Array.from({ length: 4 }, (_, b) => i * 4 + b));
  const tokens: number[][] = requests.map(() => []);
  const pos = requests.map(() => 0);
  for (let step = 0; step < maxTokens; step++) {
    const seqs: StepSequence[] = requests.map((r, i) => ({
      tokens: step === 0 ? r.prompt : [tokens[i][step - 1]],
      startPos: pos[i],
      blockTable: tables[i],
      adapterSlot: r.slot,
      sample: { ...greedy, step },
    }));
    const out = await backend.step(seqs);
    out.forEach((o, i) => {
      pos[i] += seqs[i].tokens.length;
      tokens[i].push(o.token!);
    });
  }
  return tokens;
}

describe('WebGPU forward pass with LoRA', () => {
  it('mixed batch (ranks 4/8/16 and base rows in one step): each request gets its solo greedy tokens, equal to the CPU reference\'s', async () => {
    const { cpu, webgpu } = await pair(f32);
    // Adjacent rows with one slot (0, 0) make an SGMV segment in prefill and decode; the rest are BGMV rows.
    const requests = [
      { prompt: prompt(9, 1), slot: 0 },
      { prompt: prompt(5, 2), slot: 0 },
      { prompt: prompt(12, 3), slot: -1 },
      { prompt: prompt(7, 4), slot: 1 },
      { prompt: prompt(3, 5), slot: 2 },
      { prompt: prompt(9, 1), slot: -1 },
      { prompt: prompt(9, 1), slot: 2 },
    ];
    const maxTokens = 12;
    const batched = await generateBatch(webgpu, requests, maxTokens);
    for (const [i, r] of requests.entries()) {
      const alone = await generate({ backend: webgpu, promptTokens: r.prompt, maxTokens, sampling: greedy, adapterSlot: r.slot });
      const reference = await generate({ backend: cpu, promptTokens: r.prompt, maxTokens, sampling: greedy, adapterSlot: r.slot });
      expect(batched[i], `request ${i} batched vs alone`).toEqual(alone.tokens);
      expect(alone.tokens, `request ${i} WebGPU vs CPU`).toEqual(reference.tokens);
    }
    // The adapters matter: one prompt, base vs slot 0 vs slot 2, gives three different continuations.
    expect(batched[5]).not.toEqual(batched[0]);
    expect(batched[5]).not.toEqual(batched[6]);
  });

  /** Four prefill sequences: three adapters and one base row, mixed in one pass. */
  const mixedSeqs = (): StepSequence[] => [
    { tokens: prompt(21, 6), startPos: 0, blockTable: [0, 1], adapterSlot: 2 },
    { tokens: prompt(4, 7), startPos: 0, blockTable: [2], adapterSlot: -1 },
    { tokens: prompt(17, 8), startPos: 0, blockTable: [3, 4], adapterSlot: 1 },
    { tokens: prompt(1, 9), startPos: 0, blockTable: [5], adapterSlot: 0 },
  ];

  // One adapter precision rule for both backends (docs/engine.md): adapters in f32 beside f16 (or
  // bf16, f32) base weights, so with the base weights' values identical on both, an f16 model with
  // LoRA agrees as closely as an f32 one (it was 1e-2 while WebGPU rounded adapters to f16).
  it('logits with LoRA match the CPU reference within 1e-4, f32 and f16 models alike', async () => {
    for (const [model, tol] of [[f32, F32_TOL], [f16, F32_TOL]] as const) {
      const { cpu, webgpu } = await pair(model);
      const seqs = mixedSeqs();
      const a = await webgpu.logits(seqs);
      const b = await cpu.logits(seqs);
      const base = await cpu.logits(seqs.map((s) => ({ ...s, adapterSlot: -1 })));
      for (let i = 0; i < seqs.length; i++) {
        expect(relError(a[i], b[i]), `${model.dtype} sequence ${i}`).toBeLessThan(tol);
        if (seqs[i].adapterSlot >= 0) expect(relError(base[i], b[i]), `adapter ${seqs[i].adapterSlot} changes the logits`).toBeGreaterThan(10 * tol);
      }
    }
  });

  it('f16 model with an adapter: 16 greedy steps give the same tokens and logprobs on both backends', async () => {
    const { cpu, webgpu } = await pair(f16);
    const a = await generate({ backend: webgpu, promptTokens: prompt(11, 3), maxTokens: 16, sampling: greedy, adapterSlot: 2 });
    const b = await generate({ backend: cpu, promptTokens: prompt(11, 3), maxTokens: 16, sampling: greedy, adapterSlot: 2 });
    expect(a.tokens).toEqual(b.tokens);
    a.logprobs.forEach((lp, i) => expect(Math.abs(lp - b.logprobs[i]), `step ${i}`).toBeLessThan(1e-4));
  });

  // lora.dtype f16 (src/lora/dtype.ts): WebGPU slots hold f16 bits, the CPU reference the same
  // values rounded the same way, so they agree as closely as with f32 factors; and the rounding is
  // real at that tolerance (the CPU with f32 factors is further from the f16 slots than 1e-4).
  // A projection none of whose members the pass's adapters target records no shrink (its epilogue
  // finds rank 0): per layer one shrink for q_proj, v_proj adapters (q|k|v), two for q, k, gate
  // (q|k|v, gate|up), four for adapters on every projection; logits still match the reference.
  it('a pass records shrinks only for the projections its adapters target, and its logits match the CPU reference', async () => {
    const { cpu, webgpu } = await pair(f32);
    const layers = f32.config.numLayers;
    const seqsOf = (slots: number[]): StepSequence[] => slots.map((slot, i) => ({ tokens: prompt(5 + i, 20 + i), startPos: 0, blockTable: [i], adapterSlot: slot }));
    const layerDispatches = async (slots: number[]) => {
      const seqs = seqsOf(slots);
      const [a, b] = [await webgpu.logits(seqs), await cpu.logits(seqs)];
      for (let i = 0; i < seqs.length; i++) expect(relError(a[i], b[i]), `slots ${slots}, sequence ${i}`).toBeLessThan(F32_TOL);
      return webgpu.dispatches(seqs.length, seqs.length, false).layers; // the last pass's plan
    };
    const base = await layerDispatches([-1, -1]);
    expect(await layerDispatches([1, -1])).toBe(base + layers); // q_proj, v_proj
    expect(await layerDispatches([3, 3])).toBe(base + 2 * layers); // q_proj, k_proj, gate_proj
    expect(await layerDispatches([1, 3])).toBe(base + 2 * layers);
    expect(await layerDispatches([1, 0])).toBe(base + 4 * layers); // every projection
  });

  it('lora.dtype f16 (split memory): logits match the CPU reference with f16 factors within 1e-4, f32 and f16 models alike', async () => {
    for (const model of [f32, f16]) {
      const { cpu, webgpu } = await pair(model, 'f16');
      expect(webgpu.lora.dtype).toBe('f16');
      const { cpu: cpuF32 } = await pair(model, 'f32');
      const seqs = mixedSeqs();
      const a = await webgpu.logits(seqs);
      const b = await cpu.logits(seqs);
      const unrounded = await cpuF32.logits(seqs);
      for (let i = 0; i < seqs.length; i++) expect(relError(a[i], b[i]), `${model.dtype} sequence ${i}`).toBeLessThan(F32_TOL);
      expect(relError(a[0], unrounded[0]), `${model.dtype}: f16 factors move the logits beyond the tolerance`).toBeGreaterThan(2 * F32_TOL);
      const x = await generate({ backend: webgpu, promptTokens: prompt(11, 3), maxTokens: 16, sampling: greedy, adapterSlot: 2 });
      const y = await generate({ backend: cpu, promptTokens: prompt(11, 3), maxTokens: 16, sampling: greedy, adapterSlot: 2 });
      expect(x.tokens).toEqual(y.tokens);
      x.logprobs.forEach((lp, i) => expect(Math.abs(lp - y.logprobs[i]), `${model.dtype} step ${i}`).toBeLessThan(1e-4));
    }
  });

  it('lora.dtype f16 is refused with adapters in pages of unified memory, naming both settings', async () => {
    await expect(createWebGpuBackend({ model: f32, gpu, pipelines, numKvBlocks: 16, maxRows: 64, maxContext: 128, loraSlots: 2, maxLoraRank: 16, pageBytes: kvBlockBytes(f32.config), loraDtype: 'f16' })).rejects.toThrow(
      expect.objectContaining({ code: 'OPENLORA_ENGINE_UNSUPPORTED', message: expect.stringMatching(/lora\.dtype f16.*engine\.memory\.mode: unified/), hint: expect.stringContaining('lora.dtype: f32') }),
    );
  });

  it('unloading a slot gives the base model\'s output for its rows; other slots keep theirs', async () => {
    const webgpu = await createWebGpuBackend({ model: f32, gpu, pipelines, numKvBlocks: 16, maxRows: 64, maxContext: 128, loraSlots: 2, maxLoraRank: 16 });
    backends.push(webgpu);
    await webgpu.lora.load(0, adapters[0].weights);
    await webgpu.lora.load(1, adapters[2].weights);
    const tokens = prompt(11, 10);
    const run = (slots: number[]) => webgpu.logits(slots.map((adapterSlot, i) => ({ tokens, startPos: 0, blockTable: [i], adapterSlot })));
    const [base] = await run([-1]);
    const [withA, withB] = await run([0, 1]);
    expect(relError(base, withA)).toBeGreaterThan(1e-3);
    webgpu.lora.unload(0);
    const [unloaded, stillB] = await run([0, 1]);
    expect(relError(unloaded, base)).toBeLessThan(1e-6);
    expect(relError(stillB, withB)).toBeLessThan(1e-6);
    await expect(run([2])).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_ADAPTER_SLOT' });
  });

  it('the node\'s scheduler and slot manager serve 2 adapters and the base model on WebGPU, batched', async () => {
    const webgpu = await createWebGpuBackend({ model: f32, gpu, pipelines, numKvBlocks: 32, maxRows: 64, maxContext: 128, loraSlots: 2, maxLoraRank: 16 });
    const { cpu } = await pair(f32); // CPU reference: slots 0..2 hold adapters 0..2
    backends.push(webgpu);
    const store = createAdapterStore({ dir: join(root, 'none'), config: f32.config, maxRank: 16 });
    const names = ['adapter-0', 'adapter-2'];
    const ids = [];
    for (const name of names) ids.push((await store.register({ path: join(root, name), name })).id);
    const slots = createSlotManager({ pool: webgpu.lora, store, hostCache: createHostCache({ load: (id) => store.load(id) }) });
    const scheduler = createScheduler({ maxBatchTokens: 64 }, { backend: webgpu, adapters: slots });
    const requests = [
      { adapterId: ids[0], cpuSlot: 0, promptIds: prompt(6, 11) },
      { adapterId: ids[1], cpuSlot: 2, promptIds: prompt(9, 12) },
      { adapterId: null, cpuSlot: -1, promptIds: prompt(4, 13) },
      { adapterId: ids[1], cpuSlot: 2, promptIds: prompt(6, 11) },
      { adapterId: ids[0], cpuSlot: 0, promptIds: prompt(9, 12) },
    ];
    const streams = requests.map((r) => scheduler.submit({ promptIds: r.promptIds, maxTokens: 8, sampling: greedy, adapterId: r.adapterId }));
    const results = await Promise.all(
      streams.map(async (stream) => {
        const tokens: number[] = [];
        for await (const event of stream) if (event.type === 'token') tokens.push(event.token);
        return tokens;
      }),
    );
    await scheduler.stop();
    slots.stop();
    for (const [i, r] of requests.entries()) {
      const reference = await generate({ backend: cpu, promptTokens: r.promptIds, maxTokens: 8, sampling: greedy, adapterSlot: r.cpuSlot });
      expect(results[i], `request ${i}`).toEqual(reference.tokens);
    }
    expect(scheduler.stats().steps).toBeLessThan(requests.length * 8); // requests shared steps
    expect(slots.stats().loads).toBe(2);
  });

  it('warm switches under churn (packed on the loader thread, evicted, reloaded from host memory) give the CPU reference\'s logits every time', async () => {
    const webgpu = await createWebGpuBackend({ model: f32, gpu, pipelines, numKvBlocks: 16, maxRows: 64, maxContext: 128, loraSlots: 2, maxLoraRank: 16 });
    const { cpu } = await pair(f32); // CPU reference: slots 0..2 hold adapters 0..2
    backends.push(webgpu);
    const loader = createPeftLoader();
    const store = createAdapterStore({ dir: join(root, 'none'), config: f32.config, maxRank: 16, loader, slotImage: webgpu.lora.imageLayout });
    const names = ['adapter-0', 'adapter-1', 'adapter-2', 'adapter-3'];
    for (const name of names) await store.register({ path: join(root, name), name });
    const hostCache = createHostCache({ load: (id) => store.load(id) });
    const slots = createSlotManager({ pool: webgpu.lora, store, hostCache });
    const tokens = prompt(9, 4);
    let uploads = 0;
    // Each adapter follows one of higher rank in the same slot at least once (16 → 6, 16 → 4, 8 → 6, ...):
    // rows past its rank keep the earlier adapter's values, which no kernel may read.
    for (const [k, i] of [0, 1, 2, 3, 0, 2, 1, 1, 0, 2, 3, 0, 2, 3, 1].entries()) {
      const before = slots.stats().loads;
      const slot = await slots.load(names[i]);
      if (slots.stats().loads > before) {
        uploads++;
        expect(webgpu.lora.lastUpload!.packMs, `load ${k}: the image packed on the loader thread was copied as it is`).toBe(0);
      }
      const [got] = await webgpu.logits([{ tokens, startPos: 0, blockTable: [0], adapterSlot: slot }]);
      const [want] = await cpu.logits([{ tokens, startPos: 0, blockTable: [0], adapterSlot: i }]);
      expect(relError(got, want), `load ${k}: adapter ${i} in slot ${slot}`).toBeLessThan(F32_TOL);
    }
    slots.stop();
    await loader.close();
    const stats = slots.stats();
    expect(loader.threadLoads).toBe(8); // per adapter: registration (validate, hash), then one load (parse, pack); reloads never read the disk
    expect(stats).toMatchObject({ loads: uploads, failures: 0 });
    expect(stats.evictions).toBeGreaterThanOrEqual(5);
    expect(stats.host.hits).toBe(uploads - 4); // every reload came from host memory
  });
});
