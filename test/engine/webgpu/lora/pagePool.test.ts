/**
 * LoRA in pages of the KV cache on WebGPU (unified memory, src/engine/webgpu/lora/pagePool.ts):
 * adapters of ranks 4, 8 (q and v only) and 16 written into pages scattered among the KV blocks
 * (A cut along `in` in the layers' K slices, B in their V slices, read by the kernels through each slot's run
 * table) give the padded slots' logits and the reference's, also after their pages served as KV
 * blocks and back, and on a model whose slice is smaller than an A row. No slot buffer is allocated.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvBlockBytes, type Backend, type LoraWeights, type StepSequence } from '../../../../src/engine/backend.ts';
import { createReferenceBackend } from '../../../../src/engine/reference/backend.ts';
import { createWebGpuBackend } from '../../../../src/engine/webgpu/backend.ts';
import { webgpuRecipe } from '../../../../src/engine/webgpu/fusedRecipe.ts';
import type { GpuLoraSlotPool } from '../../../../src/engine/webgpu/lora/slotPool.ts';
import { createPipelineCache, type PipelineCache } from '../../../../src/engine/webgpu/pipelines.ts';
import { acquireGpu, type Gpu } from '../../../../src/gpu/device.ts';
import { slotElements } from '../../../../src/lora/checkWeights.ts';
import { createAdapter } from '../../../../src/lora/create.ts';
import { adapterTargets, layoutAdapterPages } from '../../../../src/lora/pages.ts';
import { loadPeftAdapter } from '../../../../src/lora/peft.ts';
import { loraInfoIndex } from '../../../../src/lora/slotImage.ts';
import type { FusedLinearOp } from '../../../../src/model/arch/fuse.ts';
import type { ModelConfig } from '../../../../src/model/config.ts';
import { loadModel, type LoadedModel } from '../../../../src/model/load.ts';
import { presetConfigJson } from '../../../../src/model/presets.ts';
import { makeTempDir, writeHandmadeModel } from '../../../fixtures/model.ts';
import { loadMixedAdapterModel, mixedPrompt, shuffledIds } from '../../../fixtures/mixedAdapters.ts';
import { relError } from '../harness.ts';

// The whole-model tolerance of the WebGPU LoRA tests (lora.forward.test.ts) against the reference.
const F32_TOL = 1e-4;
const PAGES = 96;
const prompt = mixedPrompt;
const backends: Backend[] = [];
let gpu: Gpu;
/** One kernel cache for every backend of this file: each kernel compiles once, not once per backend. */
let pipelines: PipelineCache;
let model: LoadedModel;
let adapters: LoraWeights[] = [];

beforeAll(async () => {
  gpu = await acquireGpu();
  pipelines = createPipelineCache(gpu.device);
  ({ model, adapters } = await loadMixedAdapterModel());
});
afterAll(async () => {
  for (const b of backends) b.destroy();
  gpu?.destroy();
  await model?.close();
});

const keep = <T extends Backend>(b: T): T => {
  backends.push(b);
  return b;
};
const paged = async (m = model) => keep(await createWebGpuBackend({ model: m, gpu, pipelines, numKvBlocks: PAGES, maxRows: 64, maxContext: 256, loraSlots: 4, maxLoraRank: 16, pageBytes: kvBlockBytes(m.config) }));
const reference = async (m = model) => keep(await createReferenceBackend({ model: m, numKvBlocks: PAGES, loraSlots: 4, maxLoraRank: 16 }));

/** Pages adapter `w` takes on `b` (the geometry the tier counts by). */
const pagesOf = (b: Backend, w: LoraWeights, config = model.config) => layoutAdapterPages({ config, rank: w.rank, targets: adapterTargets(config, w), geometry: b.lora.pageGeometry! });

async function read(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
  const staging = gpu.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = gpu.device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, offset, staging, 0, bytes);
  gpu.device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0);
  staging.destroy();
  return out;
}

/** `got`'s logits against `want`'s: equal, or within `tol`. */
async function same(got: Backend, want: Backend, seqs: StepSequence[], wantSeqs = seqs, tol?: number) {
  const a = await got.logits(seqs);
  const b = await want.logits(wantSeqs);
  for (let i = 0; i < seqs.length; i++) {
    if (tol === undefined) expect(a[i], `sequence ${i}`).toEqual(b[i]);
    else expect(relError(a[i], b[i]), `sequence ${i}`).toBeLessThan(tol);
  }
}

describe('LoRA in pages of the KV cache on WebGPU (unified memory)', () => {
  it('adapters go into the pages given (no slot buffers: a slot is its run table), and the table read back rebuilds every factor exactly', async () => {
    const b = await paged();
    const pool = b.lora as GpuLoraSlotPool;
    const { config } = model;
    expect(pool.inPages).toBe(true);
    expect(pool.pageGeometry).toMatchObject({ kind: 'kvSlices', pageBytes: kvBlockBytes(config) });
    expect(pool.imageLayout).toBeUndefined();
    expect(b.kvBytes).toBe(PAGES * kvBlockBytes(config)); // the budget's pages, nothing beside
    expect(pool.bytesPerSlot).toBe(pool.infoStride * 4); // the run table only
    expect(pool.bytesPerSlot * 100).toBeLessThan(slotElements(config, 16) * 4); // under 1% of a padded slot
    const counts = adapters.map((w) => pagesOf(b, w));
    expect(counts.every((n) => n > 1)).toBe(true); // factors split over pages
    await expect(b.lora.load(0, adapters[0], undefined, shuffledIds(0, counts[0] - 1))).rejects.toThrow(/pages/);
    await expect(b.lora.load(0, adapters[0], undefined, [...shuffledIds(0, counts[0] - 1), PAGES])).rejects.toThrow(/outside/);

    const ids = shuffledIds(PAGES - counts[2], PAGES);
    await b.lora.load(1, adapters[2], undefined, ids);
    const w = adapters[2];
    const r = w.rank;
    const info = new Uint32Array(await read(pool.info, pool.infoStride * 4, pool.infoStride * 4));
    expect(new Float32Array(info.buffer, 0, 1)[0]).toBe(w.scale);
    const ops = webgpuRecipe(config).layers.flat().filter((op): op is FusedLinearOp => op.op === 'linear');
    const sliceFloats = pool.pageGeometry!.kind === 'kvSlices' ? pool.pageGeometry!.sliceBytes / 4 : 0;
    const pageSet = new Set(ids);
    for (const op of ops) {
      const group = pool.group(op);
      const kBuf = new Float32Array(await read(group.a, 0, PAGES * sliceFloats * 4));
      const vBuf = new Float32Array(await read(group.b, 0, PAGES * sliceFloats * 4));
      for (const member of op.members) {
        const m = member.module;
        const word = loraInfoIndex(config, op.layer, m.name);
        expect(info[word]).toBe(r);
        const header = pool.tableAt! + 4 * (word - 1);
        for (const [factor, buf, rows] of [['a', kBuf, m.in], ['b', vBuf, m.out]] as const) {
          const got = new Float32Array(rows * r);
          let next = 0;
          const [first, count] = factor === 'a' ? [info[header], info[header + 1]] : [info[header + 2], info[header + 3]];
          for (let j = 0; j < count; j++) {
            const [row0, n, base] = info.subarray(first + 3 * j, first + 3 * j + 3);
            expect(row0).toBe(next); // runs in order, none skipped
            expect(pageSet.has(Math.floor(base / sliceFloats))).toBe(true); // in the adapter's pages
            expect((base % sliceFloats) + n * r).toBeLessThanOrEqual(sliceFloats); // inside one slice
            if (factor === 'b') got.set(buf.subarray(base, base + n * r), row0 * r);
            else for (let t = 0; t < r; t++) got.set(buf.subarray(base + t * n, base + (t + 1) * n), t * m.in + row0); // features row0.. of A's rows: [r, n]
            next = row0 + n;
          }
          expect(next).toBe(rows);
          const want = w.layers[op.layer][m.name]![factor];
          if (factor === 'b') expect(got).toEqual(want);
          else expect(got).toEqual(want);
        }
      }
    }
  });

  it(`a batch of ranks 4, 8 and 16 with base rows (pages scattered among the KV blocks) gives the padded slots' logits, and the reference's within ${F32_TOL}, prefill and decode`, async () => {
    const b = await paged();
    const split = keep(await createWebGpuBackend({ model, gpu, pipelines, numKvBlocks: 64, maxRows: 64, maxContext: 256, loraSlots: 4, maxLoraRank: 16 }));
    const ref = await reference();
    const free = shuffledIds(18, PAGES); // KV blocks 0..17 below
    for (let i = 0; i < adapters.length; i++) {
      await b.lora.load(i, adapters[i], undefined, free.splice(0, pagesOf(b, adapters[i])));
      await split.lora.load(i, adapters[i]);
      await ref.lora.load(i, adapters[i]);
    }
    const seqs: StepSequence[] = [-1, 0, 1, 2, 2, -1].map((slot, i) => ({ tokens: prompt(9 + i * 5, i), startPos: 0, blockTable: [i * 3, i * 3 + 1, i * 3 + 2], adapterSlot: slot }));
    await same(b, split, seqs);
    await same(b, ref, seqs, seqs, F32_TOL);
    // Decode (one row each: the fused attention pass), adapters still in place.
    const next = seqs.map((s, i) => ({ ...s, tokens: [(i * 31 + 5) % 256], startPos: s.tokens.length }));
    await same(b, split, next);
    await same(b, ref, next, next, F32_TOL);
  });

  it("an evicted adapter's pages reused as KV blocks, then another adapter loaded into pages that held KV, still give the reference's logits", async () => {
    const [b, ref] = [await paged(), await reference()];
    const n = adapters.map((w) => pagesOf(b, w));
    const first = shuffledIds(PAGES - n[2], PAGES);
    const other = shuffledIds(PAGES - n[2] - n[0], PAGES - n[2]);
    await b.lora.load(0, adapters[2], undefined, first);
    await b.lora.load(1, adapters[0], undefined, other);
    for (let i = 0; i < adapters.length; i++) await ref.lora.load(i, adapters[i]);
    const withA = (slot: number, refSlot: number, blockTable: number[], len: number, salt: number) => ({ seq: { tokens: prompt(len, salt), startPos: 0, blockTable, adapterSlot: slot }, want: { tokens: prompt(len, salt), startPos: 0, blockTable: blockTable.map((_, i) => (salt - 1) * 8 + i), adapterSlot: refSlot } });
    let cases = [withA(0, 2, [0, 1], 20, 1), withA(1, 0, [2, 3], 25, 2)];
    await same(b, ref, cases.map((c) => c.seq), cases.map((c) => c.want), F32_TOL);
    // Evict adapter 2: its pages become the KV blocks of a long base-model prompt and of a request on adapter 0.
    b.lora.unload(0);
    cases = [withA(-1, -1, first.slice(0, 4), 60, 3), withA(1, 0, first.slice(4, 7), 40, 4)];
    await same(b, ref, cases.map((c) => c.seq), cases.map((c) => c.want), F32_TOL);
    // Adapter 1 into pages that just held KV (their K/V overwritten), KV blocks in pages it does not take.
    const reused = first.slice(0, n[1]);
    await b.lora.load(2, adapters[1], undefined, reused);
    const kvAfter = first.slice(n[1]);
    cases = [withA(2, 1, kvAfter.slice(0, 2), 30, 5), withA(1, 0, [4, 5], 18, 6), withA(-1, -1, [6, 7], 22, 7)];
    await same(b, ref, cases.map((c) => c.seq), cases.map((c) => c.want), F32_TOL);
  });

  it('a slice smaller than an A row (head_dim 8: 1 KiB slices, down_proj A rows of 1.5 KiB): A cut along `in` into runs of whole columns, logits as the reference', async () => {
    const dir = await makeTempDir('openlora-gpu-pages-small-');
    await writeHandmadeModel({ dir, configJson: { ...presetConfigJson('tiny'), num_attention_heads: 16, num_key_value_heads: 2, torch_dtype: 'float32' } });
    const m = await loadModel({ dir });
    try {
      const config: ModelConfig = m.config;
      const w = (await loadPeftAdapter({ dir: (await createAdapter({ model: dir, rank: 16, seed: 21, out: join(dir, 'adapter') })).dir, config })).weights;
      const b = await paged(m);
      const geometry = b.lora.pageGeometry!;
      const down = config.modules.find((x) => x.name === 'down_proj')!;
      expect(geometry.kind === 'kvSlices' && geometry.sliceBytes).toBeLessThan(down.in * 4);
      const ref = await reference(m);
      await b.lora.load(0, w, undefined, shuffledIds(PAGES - 6 - pagesOf(b, w, config), PAGES - 6));
      await ref.lora.load(0, w);
      const seqs: StepSequence[] = [0, -1].map((slot, i) => ({ tokens: prompt(35, i), startPos: 0, blockTable: [i * 3, i * 3 + 1, i * 3 + 2].map((x) => PAGES - 1 - x), adapterSlot: slot }));
      await same(b, ref, seqs, seqs, F32_TOL);
    } finally {
      await m.close();
    }
  });
});
