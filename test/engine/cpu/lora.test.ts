/**
 * LoRA on the CPU backend, as issue 4's tests do it on WebGPU (test/engine/webgpu/lora.forward.test.ts):
 * adapters of ranks 4, 8 (q and v only) and 16 in slots, logits with each against the reference,
 * and a mixed-adapter batch (base rows and three adapters stepping together, SGMV segments) giving
 * the same greedy tokens as each request alone and as the reference. Unified memory: adapters
 * written into pages of the KV pool (scattered among KV blocks, factors split over pages) give the
 * padded slots' logits, also after their pages served as KV blocks and back.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvBlockBytes, type Backend, type LoraWeights, type StepSequence } from '../../../src/engine/backend.ts';
import { createCpuBackend, type CpuBackend } from '../../../src/engine/cpu/backend.ts';
import { MAX_TASKS } from '../../../src/engine/cpu/matmulJob.ts';
import type { CpuWasmLoraPool } from '../../../src/engine/cpu/lora.ts';
import { createReferenceBackend } from '../../../src/engine/reference/backend.ts';
import { slotElements } from '../../../src/lora/checkWeights.ts';
import { createAdapter } from '../../../src/lora/create.ts';
import type { LoraDtype } from '../../../src/lora/dtype.ts';
import { adapterTargets, layoutAdapterPages, rowPages } from '../../../src/lora/pages.ts';
import { loadPeftAdapter } from '../../../src/lora/peft.ts';
import { loadModel, type LoadedModel } from '../../../src/model/load.ts';
import { presetConfigJson } from '../../../src/model/presets.ts';
import { makeTempDir, writeHandmadeModel } from '../../fixtures/model.ts';
import { loadMixedAdapterModel, mixedPrompt, shuffledIds } from '../../fixtures/mixedAdapters.ts';
import { relError } from '../webgpu/harness.ts';

const TOL = 1e-5;
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
let model: LoadedModel;
const adapters: LoraWeights[] = [];
const backends: Backend[] = [];
const prompt = mixedPrompt;

beforeAll(async () => {
  const made = await loadMixedAdapterModel();
  model = made.model;
  adapters.push(...made.adapters);
});
afterAll(async () => {
  for (const b of backends) b.destroy();
  await model?.close();
});

async function make(kind: 'cpu' | 'reference', loraDtype: LoraDtype = 'f32'): Promise<Backend> {
  const b = kind === 'cpu' ? await createCpuBackend({ model, numKvBlocks: 64, loraSlots: 4, maxLoraRank: 16, threads: 2, loraDtype }) : await createReferenceBackend({ model, numKvBlocks: 64, loraSlots: 4, maxLoraRank: 16, loraDtype });
  for (let i = 0; i < adapters.length; i++) await b.lora.load(i, adapters[i]);
  backends.push(b);
  return b;
}

/** Greedy decoding of several requests in the same steps, each with its own KV blocks and slot. */
async function generateBatch(backend: Backend, requests: Array<{ prompt: number[]; slot: number }>, maxTokens: number): Promise<number[][]> {
  const tables = requests.map((_, i) => Array.from({ length: 4 }, (_, b) => i * 4 + b));
  const tokens: number[][] = requests.map(() => []);
  const pos = requests.map(() => 0);
  for (let step = 0; step < maxTokens; step++) {
    const seqs: StepSequence[] = requests.map((r, i) => ({ tokens: step === 0 ? r.prompt : [tokens[i][step - 1]], startPos: pos[i], blockTable: tables[i], adapterSlot: r.slot, sample: { ...greedy, step } }));
    const out = await backend.step(seqs);
    seqs.forEach((s, i) => {
      pos[i] += s.tokens.length;
      tokens[i].push(out[i].token!);
    });
  }
  return tokens;
}

describe('LoRA on the CPU backend', () => {
  const seqs: StepSequence[] = [-1, 0, 1, 2, 2].map((slot, i) => ({ tokens: prompt(9 + i, i), startPos: 0, blockTable: [i * 2, i * 2 + 1], adapterSlot: slot }));
  it(`logits with each adapter (ranks 4, 8 on q/v, 16) and with none, in one batch, within ${TOL} of the reference`, async () => {
    const [cpu, ref] = [await make('cpu'), await make('reference')];
    const a = await cpu.logits(seqs);
    const b = await ref.logits(seqs);
    for (let i = 0; i < seqs.length; i++) expect(relError(a[i], b[i]), `sequence ${i}`).toBeLessThan(TOL);
  });

  it(`lora.dtype f16: the CPU backend computes with the reference's f16-rounded factors (within ${TOL}), which move the logits beyond it`, async () => {
    const [cpu, ref, unrounded] = [await make('cpu', 'f16'), await make('reference', 'f16'), await make('reference')];
    const a = await cpu.logits(seqs);
    const b = await ref.logits(seqs);
    const c = await unrounded.logits(seqs);
    for (let i = 0; i < seqs.length; i++) expect(relError(a[i], b[i]), `sequence ${i}`).toBeLessThan(TOL);
    expect(relError(a[4], c[4]), 'f16 factors vs f32').toBeGreaterThan(2 * TOL);
  });

  it('a mixed-adapter batch decodes as each request alone and as the reference (greedy, 12 tokens)', async () => {
    const cpu = await make('cpu');
    const ref = await make('reference');
    const requests = [
      { prompt: prompt(12, 1), slot: 0 },
      { prompt: prompt(7, 2), slot: -1 },
      { prompt: prompt(15, 3), slot: 2 },
      { prompt: prompt(9, 4), slot: 2 },
      { prompt: prompt(5, 5), slot: 1 },
    ];
    const together = await generateBatch(cpu, requests, 12);
    expect(together).toEqual(await generateBatch(ref, requests, 12));
    for (const [i, r] of requests.entries()) expect((await generateBatch(cpu, [r], 12))[0], `request ${i} alone`).toEqual(together[i]);
    await cpu.lora.unload(2);
    const base = await generateBatch(cpu, [{ ...requests[2], slot: -1 }], 12);
    expect((await generateBatch(cpu, [requests[2]], 12))[0]).toEqual(base[0]); // an emptied slot adds nothing
  });
});

describe('the step profile (bench:batch)', () => {
  it('is off unless asked; on, it gives each phase\'s milliseconds (LoRA only for adapter rows) within the pass\'s time, then starts again', async () => {
    const off = await createCpuBackend({ model, numKvBlocks: 16, loraSlots: 1, maxLoraRank: 16, threads: 2 });
    const cpu = await createCpuBackend({ model, numKvBlocks: 16, loraSlots: 1, maxLoraRank: 16, threads: 2, profile: true });
    backends.push(off, cpu);
    await cpu.lora.load(0, adapters[2]);
    await off.step([{ tokens: prompt(9, 1), startPos: 0, blockTable: [0], adapterSlot: -1 }]);
    expect(off.takeProfile()).toBeUndefined();
    const timed = async (slot: number) => {
      const started = performance.now();
      await cpu.step([{ tokens: prompt(9, 1), startPos: 0, blockTable: [0], adapterSlot: slot, sample: { ...greedy, step: 0 } }]);
      const ms = performance.now() - started;
      const p = cpu.takeProfile()!;
      expect(Object.keys(p).sort()).toEqual(['attention', 'logits', 'lora', 'matmul', 'other']);
      expect(Object.values(p).every((x) => x >= 0)).toBe(true);
      expect(p.matmul).toBeGreaterThan(0);
      expect(p.attention).toBeGreaterThan(0);
      expect(Object.values(p).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(ms);
      return p;
    };
    expect((await timed(-1)).lora).toBe(0);
    expect((await timed(0)).lora).toBeGreaterThan(0);
    expect(Object.values(cpu.takeProfile()!).every((x) => x === 0)).toBe(true); // taken: reset
  });
});

/** Pages adapter `i` takes in a pool of `pageBytes` pages. */
const pagesOf = (w: LoraWeights, config = model.config) => layoutAdapterPages({ config, rank: w.rank, targets: adapterTargets(config, w), geometry: rowPages(kvBlockBytes(config)) });

describe('LoRA in pages of the KV pool (unified memory)', () => {
  const PAGES = 96;
  const SEGMENTS = 120;
  const paged = async (config = model.config, m = model) => {
    const b = await createCpuBackend({ model: m, numKvBlocks: PAGES, loraSlots: 4, maxLoraRank: 16, threads: 2, pageBytes: kvBlockBytes(config) });
    backends.push(b);
    return b;
  };
  const same = async (got: Backend, want: Backend, seqs: StepSequence[], wantSeqs = seqs, exact = false) => {
    const a = await got.logits(seqs);
    const b = await want.logits(wantSeqs);
    for (let i = 0; i < seqs.length; i++) {
      if (exact) expect(a[i], `sequence ${i}`).toEqual(b[i]);
      else expect(relError(a[i], b[i]), `sequence ${i}`).toBeLessThan(TOL);
    }
  };

  it('factors span pages: each adapter takes the pages its layout says, fewer than a padded slot, and no slot memory is allocated', async () => {
    const b = (await paged()) as CpuBackend;
    expect(b.lora.inPages).toBe(true);
    expect(b.lora.bytesPerSlot).toBe(0);
    expect(b.kvBytes).toBe(PAGES * kvBlockBytes(model.config));
    const counts = adapters.map((w) => pagesOf(w));
    expect(counts.every((n) => n > 1)).toBe(true); // several pages each: runs split factors
    expect(Math.max(...counts)).toBeLessThanOrEqual(Math.ceil((slotElements(model.config, 16) * 4) / kvBlockBytes(model.config)) + 2);
    await expect(b.lora.load(0, adapters[0], undefined, shuffledIds(0, counts[0] - 1))).rejects.toThrow(/pages/); // too few pages
    await expect(b.lora.load(0, adapters[0], undefined, [...shuffledIds(0, counts[0] - 1), PAGES])).rejects.toThrow(/outside/);
  });

  it(`a mixed batch (three adapters and base rows, adapters' pages scattered among the KV blocks) gives the padded slots' logits exactly, and the reference's within ${TOL}`, async () => {
    const [cpu, slotsCpu, ref] = [await paged(), await make('cpu'), await make('reference')];
    const free = shuffledIds(10, PAGES); // KV blocks 0..9 below
    for (let i = 0; i < adapters.length; i++) await cpu.lora.load(i, adapters[i], undefined, free.splice(0, pagesOf(adapters[i])));
    const seqs: StepSequence[] = [-1, 0, 1, 2, 2].map((slot, i) => ({ tokens: prompt(9 + i * 5, i), startPos: 0, blockTable: [i * 2, i * 2 + 1], adapterSlot: slot }));
    await same(cpu, slotsCpu, seqs, seqs, true);
    await same(cpu, ref, seqs);
    // Decoding in the same blocks, adapters still in place.
    const next = seqs.map((s, i) => ({ ...s, tokens: [(i * 31 + 5) % 256], startPos: s.tokens.length }));
    await same(cpu, slotsCpu, next, next, true);
  });

  it('runs in pages whose ids follow each other are joined into one task (fewer than the same adapter scattered), with the padded slots\' logits', async () => {
    const [contiguous, scattered, slotsCpu] = [(await paged()) as CpuBackend, (await paged()) as CpuBackend, await make('cpu')];
    const w = adapters[2];
    const n = pagesOf(w);
    await contiguous.lora.load(0, w, undefined, Array.from({ length: n }, (_, i) => 10 + i));
    await scattered.lora.load(0, w, undefined, Array.from({ length: n }, (_, i) => 10 + 2 * (n - 1 - i))); // descending, a page apart
    const runs = (b: CpuBackend) => {
      let count = 0;
      for (let l = 0; l < model.config.numLayers; l++) {
        for (const m of model.config.modules) {
          const f = (b.lora as CpuWasmLoraPool).factors(0, l, m.name);
          if (!f) continue;
          for (const factor of [f.a, f.b]) {
            // Each factor's runs still cover its rows in order.
            factor.forEach((run, i) => expect(run.firstRow).toBe(i === 0 ? 0 : factor[i - 1].firstRow + factor[i - 1].rows));
            count += factor.length;
          }
        }
      }
      return count;
    };
    expect(runs(contiguous)).toBeLessThan(runs(scattered));
    const seqs: StepSequence[] = [0, -1].map((slot, i) => ({ tokens: prompt(11 + i, i), startPos: 0, blockTable: [i * 2, i * 2 + 1], adapterSlot: slot }));
    const want = seqs.map((s) => ({ ...s, adapterSlot: s.adapterSlot === 0 ? 2 : -1 }));
    await same(contiguous, slotsCpu, seqs, want, true);
    await same(scattered, slotsCpu, seqs, want, true);
  });

  it(`more LoRA tasks than one job holds (${SEGMENTS} segments, adapters' pages scattered) run in several jobs, every shrink before any expand: the reference's logits`, async () => {
    const blocks = SEGMENTS + adapters.reduce((n, w) => n + pagesOf(w), 0);
    const cpu = await createCpuBackend({ model, numKvBlocks: blocks, loraSlots: 3, maxLoraRank: 16, threads: 2, pageBytes: kvBlockBytes(model.config) });
    const ref = await createReferenceBackend({ model, numKvBlocks: SEGMENTS, loraSlots: 3, maxLoraRank: 16 });
    backends.push(cpu, ref);
    const free = shuffledIds(SEGMENTS, blocks);
    for (let i = 0; i < adapters.length; i++) {
      await cpu.lora.load(i, adapters[i], undefined, free.splice(0, pagesOf(adapters[i])));
      await ref.lora.load(i, adapters[i]);
    }
    // Slots 0, 1, 2, 0, 1, 2, ...: no two neighbours share an adapter, so every sequence is a segment of its own.
    const seqs: StepSequence[] = Array.from({ length: SEGMENTS }, (_, i) => ({ tokens: prompt(2, i), startPos: 0, blockTable: [i], adapterSlot: i % 3 }));
    const tasks = seqs.reduce((n, s) => n + model.config.modules.filter((m) => ['q_proj', 'k_proj', 'v_proj'].includes(m.name)).reduce((t, m) => t + ((cpu.lora as CpuWasmLoraPool).factors(s.adapterSlot, 0, m.name)?.a.length ?? 0), 0), 0);
    expect(tasks, 'shrink tasks of layer 0\'s q|k|v').toBeGreaterThan(MAX_TASKS);
    await same(cpu, ref, seqs);
  });

  it('an evicted adapter\'s pages reused as KV blocks, then another adapter loaded into pages that held KV, still give the reference\'s logits', async () => {
    const [cpu, ref] = [await paged(), await make('reference')];
    const n = adapters.map((w) => pagesOf(w));
    // Adapter 2 (rank 16) in the top pages; adapter 0 beside it.
    const first = shuffledIds(PAGES - n[2], PAGES);
    const other = shuffledIds(PAGES - n[2] - n[0], PAGES - n[2]);
    await cpu.lora.load(0, adapters[2], undefined, first);
    await cpu.lora.load(1, adapters[0], undefined, other);
    const withA = (slot: number, refSlot: number, blockTable: number[], len: number, salt: number) => ({ seq: { tokens: prompt(len, salt), startPos: 0, blockTable, adapterSlot: slot }, want: { tokens: prompt(len, salt), startPos: 0, blockTable: blockTable.map((_, i) => (salt - 1) * 8 + i), adapterSlot: refSlot } });
    let cases = [withA(0, 2, [0, 1], 20, 1), withA(1, 0, [2, 3], 25, 2)];
    await same(cpu, ref, cases.map((c) => c.seq), cases.map((c) => c.want));
    // Evict adapter 2: its pages become the KV blocks of a long base-model prompt and of a request on adapter 0.
    cpu.lora.unload(0);
    cases = [withA(-1, -1, first.slice(0, 4), 60, 3), withA(1, 0, first.slice(4, 7), 40, 4)];
    await same(cpu, ref, cases.map((c) => c.seq), cases.map((c) => c.want));
    // Adapter 1 into pages that just held KV (their stale K/V is overwritten), KV blocks in pages it does not take.
    const reused = first.slice(0, n[1]);
    await cpu.lora.load(2, adapters[1], undefined, reused);
    const kvAfter = first.slice(n[1]);
    cases = [withA(2, 1, kvAfter.slice(0, 2), 30, 5), withA(1, 0, [4, 5], 18, 6), withA(-1, -1, [6, 7], 22, 7)];
    await same(cpu, ref, cases.map((c) => c.seq), cases.map((c) => c.want));
  });

  it('head_dim 46 (KV blocks smaller than a page: blocks lie a page apart): adapters in pages and KV agree with the reference', async () => {
    const dir = await makeTempDir('openlora-cpu-pages-46-');
    await writeHandmadeModel({ dir, configJson: { ...presetConfigJson('tiny'), head_dim: 46, num_attention_heads: 4, num_key_value_heads: 2, torch_dtype: 'float32' } });
    const m = await loadModel({ dir });
    try {
      const w = (await loadPeftAdapter({ dir: (await createAdapter({ model: dir, rank: 8, seed: 21, out: join(dir, 'adapter') })).dir, config: m.config })).weights;
      const cpu = await paged(m.config, m);
      const ref = await createReferenceBackend({ model: m, numKvBlocks: PAGES, loraSlots: 1, maxLoraRank: 16 });
      backends.push(ref);
      // KV blocks in the top pages, the adapter's pages just below them: blocks laid out a KV block
      // (not a page) apart would land on the adapter.
      await cpu.lora.load(0, w, undefined, shuffledIds(PAGES - 6 - pagesOf(w, m.config), PAGES - 6));
      await ref.lora.load(0, w);
      const seqs: StepSequence[] = [0, -1].map((slot, i) => ({ tokens: prompt(35, i), startPos: 0, blockTable: [i * 3, i * 3 + 1, i * 3 + 2].map((b) => PAGES - 1 - b), adapterSlot: slot }));
      await same(cpu, ref, seqs);
    } finally {
      await m.close();
    }
  });

  it('allocates the budget, not the budget and the slots: adapters add nothing to the CPU backend\'s memory in unified mode', async () => {
    const pageBytes = kvBlockBytes(model.config);
    const make = async (p: { slots: number; pageBytes?: number }) => {
      const b = await createCpuBackend({ model, numKvBlocks: 40, loraSlots: p.slots, maxLoraRank: 16, threads: 1, pageBytes: p.pageBytes });
      backends.push(b);
      return b;
    };
    const none = await make({ slots: 0, pageBytes });
    const unified = await make({ slots: 4, pageBytes });
    const split = await make({ slots: 4 });
    expect(unified.memoryBytes).toBe(none.memoryBytes); // weights + 40 pages + activations
    expect(unified.kvBytes).toBe(40 * pageBytes);
    expect(split.memoryBytes - none.memoryBytes).toBeGreaterThanOrEqual(4 * slotElements(model.config, 16) * 4); // padded slots beside the pool
  });
});
