import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpuLoraSlotPool, LORA_STAGING_RING_BUFFERS } from '../../../../src/engine/webgpu/lora/slotPool.ts';
import { webgpuRecipe } from '../../../../src/engine/webgpu/fusedRecipe.ts';
import type { FusedLinearOp } from '../../../../src/model/arch/fuse.ts';
import { acquireGpu, type Gpu } from '../../../../src/gpu/device.ts';
import { createAdapter } from '../../../../src/lora/create.ts';
import { createHostCache } from '../../../../src/lora/hostCache.ts';
import { loadPeftAdapter } from '../../../../src/lora/peft.ts';
import { createSlotManager } from '../../../../src/lora/slots.ts';
import { loraSlotImageBytes } from '../../../../src/lora/slotImage.ts';
import { createAdapterStore } from '../../../../src/lora/store.ts';
import { tempDir, tinyConfig, tinyModel } from '../../../lora/helpers.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await acquireGpu();
});
afterAll(() => gpu?.destroy());

async function read(device: GPUDevice, buffer: GPUBuffer, offset: number, bytes: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, offset, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

describe('GPU slot pool under the slot manager', () => {
  it('uploads A and B into the slot layout (as the files hold them) and reloads identical bytes after eviction', async () => {
    const root = await tempDir();
    const model = await tinyModel(root);
    await createAdapter({ model, rank: 8, seed: 1, out: join(root, 'store/a') });
    await createAdapter({ model, rank: 4, seed: 2, out: join(root, 'store/b'), targets: ['q_proj'] });
    const pool = createGpuLoraSlotPool({ device: gpu.device, config: tinyConfig, slots: 1, maxRank: 8, dtype: 'f32', maxBindingBytes: gpu.limits.maxStorageBufferBindingSize });
    const store = createAdapterStore({ dir: join(root, 'store'), config: tinyConfig, maxRank: 8, slotImage: pool.imageLayout }); // loads arrive packed
    await store.scan();
    const hostCache = createHostCache({ budgetBytes: 0, load: (id) => store.load(id) }); // every reload comes from disk
    const slots = createSlotManager({ pool, store, hostCache });
    const [inF, out, r] = [384, 128, 8]; // down_proj
    const down = webgpuRecipe(tinyConfig).layers[1].find((op): op is FusedLinearOp => op.op === 'linear' && op.key.endsWith('down_proj.weight'))!;
    const snapshot = async () => {
      const a = await read(gpu.device, pool.group(down).a, 0, r * inF * 4);
      const bt = await read(gpu.device, pool.group(down).b, 0, r * out * 4);
      const info = new Uint32Array((await read(gpu.device, pool.info, 0, pool.infoStride * 4)).buffer);
      return { a, bt, info };
    };
    expect(await slots.load('a')).toBe(0);
    const first = await snapshot();
    const weights = (await store.load(store.get('a').id)).weights.layers[1].down_proj!;
    expect(first.a).toEqual(weights.a); // [r, in]
    expect(first.bt).toEqual(weights.b); // [out, r]
    expect(new Float32Array(first.info.buffer, 0, 1)[0]).toBe(2); // scale alpha / r = 16 / 8
    await slots.load('b'); // evicts a
    expect(slots.slotOf('a')).toBeUndefined();
    expect(pool.rankOf(0)).toBe(4);
    expect((await snapshot()).info[1 + 1 * 7 + 6]).toBe(0); // b does not target down_proj
    await slots.load('a');
    expect(await snapshot()).toEqual(first);
    expect(slots.stats()).toMatchObject({ loads: 3, evictions: 2, failures: 0 });
    expect(slots.stats().upload.count).toBe(3);
    expect(pool.lastUpload).toMatchObject({ packMs: 0, via: 'ring' });
    pool.destroy();
  });

  it('a burst of uploads past the mapped staging ring goes through writeBuffer and lands the same bytes; bare weights are packed in the pool', async () => {
    const root = await tempDir();
    const model = await tinyModel(root);
    const dir = (await createAdapter({ model, rank: 8, seed: 3, out: join(root, 'a') })).dir;
    const pool = createGpuLoraSlotPool({ device: gpu.device, config: tinyConfig, slots: LORA_STAGING_RING_BUFFERS + 2, maxRank: 8, dtype: 'f32', maxBindingBytes: gpu.limits.maxStorageBufferBindingSize });
    const adapter = await loadPeftAdapter({ dir, config: tinyConfig, slotImage: pool.imageLayout });
    const via: string[] = [];
    for (let slot = 0; slot <= LORA_STAGING_RING_BUFFERS; slot++) {
      void pool.load(slot, adapter.weights, adapter.image); // no await: the ring cannot be re-mapped in between
      via.push(pool.lastUpload!.via);
    }
    await pool.load(LORA_STAGING_RING_BUFFERS + 1, adapter.weights); // bare weights: packed here
    expect(pool.lastUpload!.packMs).toBeGreaterThan(0);
    expect(via).toEqual([...Array.from({ length: LORA_STAGING_RING_BUFFERS }, () => 'ring'), 'write']); // tiny images: the ring's buffer count binds
    const down = webgpuRecipe(tinyConfig).layers[1].find((op): op is FusedLinearOp => op.op === 'linear' && op.key.endsWith('down_proj.weight'))!;
    const [inF, out, r] = [384, 128, 8];
    for (let slot = 0; slot < pool.slots; slot++) {
      expect(await read(gpu.device, pool.group(down).a, slot * r * inF * 4, r * inF * 4), `slot ${slot} A`).toEqual(adapter.weights.layers[1].down_proj!.a);
      expect(await read(gpu.device, pool.group(down).b, slot * r * out * 4, r * out * 4), `slot ${slot} B`).toEqual(adapter.weights.layers[1].down_proj!.b);
    }
    pool.destroy();
  });

  it('switching back to an image the staging ring still holds copies it without writing it again, and lands the same bytes (copy mode writes every time)', async () => {
    const root = await tempDir();
    const model = await tinyModel(root);
    const down = webgpuRecipe(tinyConfig).layers[1].find((op): op is FusedLinearOp => op.op === 'linear' && op.key.endsWith('down_proj.weight'))!;
    const [inF, out, r] = [384, 128, 8];
    const settle = async () => {
      for (let i = 0; i < 3; i++) await gpu.device.queue.onSubmittedWorkDone(); // the ring's buffers are mapped again
    };
    for (const upload of ['reuse', 'copy'] as const) {
      const pool = createGpuLoraSlotPool({ device: gpu.device, config: tinyConfig, slots: 3, maxRank: 8, dtype: 'f32', maxBindingBytes: gpu.limits.maxStorageBufferBindingSize, upload });
      const a = await loadPeftAdapter({ dir: (await createAdapter({ model, rank: 8, seed: 4, out: join(root, `${upload}-a`) })).dir, config: tinyConfig, slotImage: pool.imageLayout });
      const b = await loadPeftAdapter({ dir: (await createAdapter({ model, rank: 4, seed: 5, out: join(root, `${upload}-b`) })).dir, config: tinyConfig, slotImage: pool.imageLayout });
      const via: string[] = [];
      for (const [slot, adapter] of [a, b, a, b].entries()) {
        await pool.load(slot % 3, adapter.weights, adapter.image);
        via.push(pool.lastUpload!.via);
        await settle();
      }
      expect(via, upload).toEqual(upload === 'reuse' ? ['ring', 'ring', 'held', 'held'] : ['ring', 'ring', 'ring', 'ring']);
      expect(pool.lastUpload!.copies).toBe(8 * tinyConfig.numLayers); // 2 per fused projection (q|k|v, o, gate|up, down) at rank 4 of 8 too
      expect(await read(gpu.device, pool.group(down).a, 2 * r * inF * 4, r * inF * 4), `${upload}: slot 2 A`).toEqual(a.weights.layers[1].down_proj!.a);
      expect(await read(gpu.device, pool.group(down).b, 2 * r * out * 4, r * out * 4), `${upload}: slot 2 B`).toEqual(a.weights.layers[1].down_proj!.b);
      expect(await read(gpu.device, pool.group(down).b, 0, 4 * out * 4), `${upload}: slot 0 B (rank 4 over rank 8)`).toEqual(b.weights.layers[1].down_proj!.b);
      expect(pool.rankOf(0)).toBe(4);
      pool.destroy();
    }
  });

  it('makes its first staging buffer at start-up, for the largest image of rank min(maxRank, 16): a first upload that fits makes none', async () => {
    const root = await tempDir();
    const model = await tinyModel(root);
    const dir = (await createAdapter({ model, rank: 16, seed: 6, out: join(root, 'a') })).dir; // every module
    const made: boolean[] = [];
    for (const stagingPrefillRank of [undefined, 0]) {
      const pool = createGpuLoraSlotPool({ device: gpu.device, config: tinyConfig, slots: 1, maxRank: 32, dtype: 'f16', maxBindingBytes: gpu.limits.maxStorageBufferBindingSize, stagingPrefillRank });
      const adapter = await loadPeftAdapter({ dir, config: tinyConfig, slotImage: pool.imageLayout });
      expect(adapter.image!.bytes.byteLength).toBe(loraSlotImageBytes(pool.imageLayout!, 16));
      await pool.load(0, adapter.weights, adapter.image);
      expect(pool.lastUpload!.via).toBe('ring');
      made.push(pool.lastUpload!.created);
      pool.destroy();
    }
    expect(made).toEqual([false, true]); // prefilled at start-up; without, the first upload made it
  });

  it('refuses a layout over the binding limit with a clear error', () => {
    expect(() => createGpuLoraSlotPool({ device: gpu.device, config: tinyConfig, slots: 4096, maxRank: 128, dtype: 'f32', maxBindingBytes: 128 * 2 ** 20 })).toThrow(/binding limit/);
  });
});
