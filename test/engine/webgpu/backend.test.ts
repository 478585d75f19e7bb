import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepSequence } from '../../../src/engine/backend.ts';
import { createWebGpuBackend, type WebGpuBackend } from '../../../src/engine/webgpu/backend.ts';
import { LINEAR_ROW_TILES } from '../../../src/engine/webgpu/linearPlan.ts';
import { acquireGpu, type Gpu } from '../../../src/gpu/device.ts';
import { createAdapter } from '../../../src/lora/create.ts';
import { loadPeftAdapter } from '../../../src/lora/peft.ts';
import { loadModel, type LoadedModel } from '../../../src/model/load.ts';
import { createTinyModel, makeTempDir } from '../../fixtures/model.ts';

let gpu: Gpu;
const models: LoadedModel[] = [];
const backends: WebGpuBackend[] = [];
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0, step: 0 };

beforeAll(async () => {
  gpu = await acquireGpu();
});
afterAll(async () => {
  for (const b of backends) b.destroy();
  for (const m of models) await m.close();
  gpu?.destroy();
});

async function backend(dtype: 'f32' | 'f16', loraSlots: number, maxRows = 64, device: Gpu = gpu): Promise<WebGpuBackend> {
  const model = await loadModel({ dir: await createTinyModel({ seed: 1, dtype }) });
  models.push(model);
  const b = await createWebGpuBackend({ model, gpu: device, numKvBlocks: 32, maxRows, maxContext: 256, loraSlots, maxLoraRank: 8 });
  backends.push(b);
  return b;
}

describe('WebGPU backend start-up', () => {
  it('compiles every kernel of the forward pass during load: steps of every row tile, with and without LoRA, compile nothing', async () => {
    const b = await backend('f32', 2);
    expect(b.pipelines.cold()).toEqual([]);
    expect(b.startup.warmup.kernels).toBe(b.pipelines.size);
    expect(b.startup.warmup.ms).toBeGreaterThan(0);
    expect(b.startup.firstPassMs).toBeGreaterThan(0);
    const dir = join(await makeTempDir(), 'adapter');
    await createAdapter({ model: models[0].dir, rank: 8, seed: 3, out: dir });
    await b.lora.load(1, (await loadPeftAdapter({ dir, config: b.config })).weights);
    // Row counts that pick every tile of the linear kernel; a LoRA sequence beside a base one (SGMV and BGMV).
    for (const rows of [1, 3, 8, 13, 40]) {
      const seqs: StepSequence[] = [
        { tokens: Array.from({ length: rows }, (_, i) => i + 1), startPos: 0, blockTable: [0, 1, 2], adapterSlot: 1, sample: greedy },
        { tokens: [7], startPos: 0, blockTable: [3], adapterSlot: rows % 2 ? -1 : 1, sample: greedy },
      ];
      await b.step(seqs);
    }
    expect(b.pipelines.late).toEqual([]);
  });

  it('compiles only the kernels the model needs: its dtype, LoRA only with slots, row tiles up to maxRows', async () => {
    const base = await backend('f16', 0);
    const names = base.pipelines.kernels.map((k) => k.name);
    expect(names.filter((n) => n.startsWith('lora_'))).toEqual([]);
    const linear = names.filter((n) => n.startsWith('linear.wgsl'));
    // One variant per row tile for each fused projection shape (accumulating into the residual is a
    // parameter): q|k|v with the RMSNorm prologue, gate|up with the prologue and the GLU epilogue,
    // and plain (o_proj, down_proj, lm_head); half-precision weights only.
    expect(linear.length).toBe(3 * LINEAR_ROW_TILES.length);
    expect(linear.filter((n) => /[[,]NORM[,\]]/.test(n) && /[[,]GLU[,\]]/.test(n))).toHaveLength(LINEAR_ROW_TILES.length);
    if (gpu.hasF16) expect(linear.every((n) => /[[,]HALF[,\]]/.test(n))).toBe(true);
    expect(names.filter((n) => /BIAS/.test(n))).toEqual([]); // this model has no biases

    const withLora = await backend('f32', 1);
    const loraNames = withLora.pipelines.kernels.map((k) => k.name).filter((n) => n.startsWith('lora_'));
    // One shrink per fused projection, with or without the norm prologue; the expand is the projections' epilogue.
    expect(loraNames).toHaveLength(2);
    expect(loraNames.every((n) => n.startsWith('lora_shrink.wgsl'))).toBe(true);
    expect(loraNames.filter((n) => /[[,]NORM[,\]]/.test(n))).toHaveLength(1);
    const loraLinear = withLora.pipelines.kernels.filter((k) => k.name.startsWith('linear.wgsl'));
    expect(loraLinear.filter((k) => k.variant.defines.LORA === true)).toHaveLength(3 * LINEAR_ROW_TILES.length); // lm_head has no LoRA
    expect(loraLinear.every((k) => !/[[,]HALF[,\]]/.test(k.name))).toBe(true);

    // A backend for passes of at most 6 rows (e.g. `generate` of a 6-token prompt) needs tiles 1, 4 and 8 only, and runs those rows.
    const small = await backend('f32', 0, 6);
    expect(new Set(small.pipelines.kernels.filter((k) => k.name.startsWith('linear.wgsl')).map((k) => k.variant.defines.ROWS))).toEqual(new Set([1, 4, 8]));
    const out = await small.step([{ tokens: [1, 2, 3, 4, 5, 6], startPos: 0, blockTable: [0], adapterSlot: -1, sample: greedy }]);
    expect(out[0].token).toBeGreaterThanOrEqual(0);
    expect(small.pipelines.late).toEqual([]);
  });
});

describe('WebGPU lora.dtype auto (the default)', () => {
  it('holds f16 slots on the f16 base where the device has shader-f16, f32 on the f32 base and on a device without shader-f16', async () => {
    const f32 = await backend('f32', 1, 8);
    expect(f32.lora.dtype).toBe('f32');
    const f16 = await backend('f16', 1, 8);
    expect(f16.lora.dtype).toBe(gpu.hasF16 ? 'f16' : 'f32');
    expect(f16.pipelines.kernels.filter((k) => k.name.startsWith('lora_shrink')).every((k) => k.variant.defines.F16 === gpu.hasF16)).toBe(true);
    const noF16 = await backend('f16', 1, 8, { ...gpu, hasF16: false });
    expect(noF16.lora.dtype).toBe('f32');
  });
});
