import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoraWeights } from '../../../../src/engine/backend.ts';
import { loraExpand, loraShrink } from '../../../../src/engine/reference/ops.ts';
import { planLoraRows, type LoraRowPlan } from '../../../../src/engine/webgpu/lora/plan.ts';
import { createGpuLora } from '../../../../src/engine/webgpu/lora/runner.ts';
import { createPipelineCache } from '../../../../src/engine/webgpu/pipelines.ts';
import { createGpuLoraSlotPool, type GpuLoraSlotPool } from '../../../../src/engine/webgpu/lora/slotPool.ts';
import { acquireGpu, type Gpu } from '../../../../src/gpu/device.ts';
import { moduleNames, projectionShape, type ModelConfig, type Projection } from '../../../../src/model/config.ts';
import { parseModelConfig } from '../../../../src/model/parseConfig.ts';
import { presetConfigJson } from '../../../../src/model/presets.ts';
import { normalStream } from '../../../../src/model/random.ts';

const config: ModelConfig = parseModelConfig({ json: presetConfigJson('tiny'), file: 'tiny' });
const MAX_RANK = 16;
const SLOTS = 4;

/** Random adapter: A ~ N(0, 1/in), B ~ N(0, 1/r); `skip` projections absent. */
function randomWeights(seed: number, rank: number, scale: number, skip: Projection[] = []): LoraWeights {
  const layers = Array.from({ length: config.numLayers }, (_, l) => {
    const layer: LoraWeights['layers'][number] = {};
    for (const proj of moduleNames(config)) {
      if (skip.includes(proj)) continue;
      const [out, inF] = projectionShape(config, proj);
      layer[proj] = {
        a: normalStream(seed, `a${l}${proj}`).fill(new Float32Array(rank * inF), 1 / Math.sqrt(inF), 0),
        b: normalStream(seed, `b${l}${proj}`).fill(new Float32Array(out * rank), 1 / Math.sqrt(rank), 0),
      };
    }
    return layer;
  });
  return { rank, scale, layers };
}

/** What the reference ops give: y0 + LoRA delta for each row with an adapter. */
function reference(p: { x: Float32Array; y0: Float32Array; rows: number; xStride: number; xOffset: number; yStride: number; yOffset: number; rowSlots: number[]; held: (LoraWeights | undefined)[]; layer: number; proj: Projection }): Float32Array {
  const [out, inF] = projectionShape(config, p.proj);
  const y = p.y0.slice();
  for (let r = 0; r < p.rows; r++) {
    const w = p.rowSlots[r] >= 0 ? p.held[p.rowSlots[r]] : undefined;
    const t = w?.layers[p.layer][p.proj];
    if (!w || !t) continue;
    const xr = p.x.slice(r * p.xStride + p.xOffset, r * p.xStride + p.xOffset + inF);
    const v = loraShrink({ x: xr, a: t.a, rows: 1, inFeatures: inF, rank: w.rank });
    const yr = y.slice(r * p.yStride + p.yOffset, r * p.yStride + p.yOffset + out);
    loraExpand({ y: yr, v, b: t.b, rows: 1, rank: w.rank, outFeatures: out, scale: w.scale });
    y.set(yr, r * p.yStride + p.yOffset);
  }
  return y;
}

function storage(device: GPUDevice, data: Float32Array): GPUBuffer {
  const b = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(b, 0, data);
  return b;
}

async function readback(device: GPUDevice, buffer: GPUBuffer, bytes: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

function relError(got: Float32Array, want: Float32Array): number {
  let err = 0;
  let max = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    max = Math.max(max, Math.abs(want[i]));
  }
  return err / max;
}

let gpu: Gpu;
beforeAll(async () => {
  gpu = await acquireGpu();
});
afterAll(() => gpu?.destroy());

// Both kernel shapes run on any device: the GPU shape (workgroup reductions) and the CPU shape
// the engine picks on software adapters (one invocation per output, no barriers).
const variants = [
  ['f32', 'gpu'],
  ['f16', 'gpu'],
  ['f32', 'cpu'],
  ['f16', 'cpu'],
] as const;

describe.each(variants)('LoRA shrink/expand kernels (%s slots, %s shape)', (dtype, shape) => {
  // Tolerances (relative to the largest output): f32 weights as the CPU reference; f16 weights round to 11 bits.
  const tolerance = dtype === 'f32' ? 1e-5 : 1e-2;
  let pool: GpuLoraSlotPool;
  const held: (LoraWeights | undefined)[] = [];

  beforeAll(async () => {
    if (dtype === 'f16' && !gpu.hasF16) return;
    pool = createGpuLoraSlotPool({ device: gpu.device, config, slots: SLOTS, maxRank: MAX_RANK, dtype, maxBindingBytes: gpu.limits.maxStorageBufferBindingSize });
    // Mixed ranks; slot 1 has no v_proj; slot 3 stays empty.
    held[0] = randomWeights(1, 4, 2);
    held[1] = randomWeights(2, 16, 0.5, ['v_proj']);
    held[2] = randomWeights(3, 8, 1.25);
    for (let s = 0; s < 3; s++) await pool.load(s, held[s]!);
  });
  afterAll(() => pool?.destroy());

  const layouts: Array<{ name: string; rowSlots: number[]; plan?: (rowSlots: number[]) => LoraRowPlan }> = [
    // long SGMV segment, single row, no-adapter rows, another long segment, BGMV decode rows, empty slot 3
    { name: 'mixed prefill and decode', rowSlots: [0, 0, 0, 0, 0, 0, 0, 1, -1, -1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 0, 2, 3, 3, -1] },
    { name: 'decode only (BGMV)', rowSlots: [2, 0, 1, -1, 3, 1] },
    { name: 'no adapters', rowSlots: [-1, -1, -1] },
    {
      name: 'explicit empty segments',
      rowSlots: [1, 1, 1, 1, 1, 0, 0],
      // seg_indptr [0, 0, 5, 5, 7]: empty segments (slots 2 and 0) must do nothing.
      plan: (rowSlots) => ({ ...planLoraRows({ rowSlots }), segIndptr: Uint32Array.from([0, 0, 5, 5, 7]), segSlot: Int32Array.from([2, 1, 0, 0]), segments: 4, sgmvSegments: 4, maxSegmentRows: 5, bgmvRows: 0, rowSlot: new Int32Array(7).fill(-1) }),
    },
  ];

  for (const layout of layouts) {
    it(`matches loraShrink/loraExpand: ${layout.name}`, async (ctx) => {
      if (dtype === 'f16' && !gpu.hasF16) ctx.skip();
      const { device } = gpu;
      const pipelines = createPipelineCache(device);
      const lora = createGpuLora({ device, pool, maxRows: 32, pipelines, cpu: shape === 'cpu' });
      await pipelines.warm();
      const rows = layout.rowSlots.length;
      if (layout.plan) lora.setPlan(layout.plan(layout.rowSlots));
      else lora.setRows(layout.rowSlots);
      for (const [proj, layer] of [['q_proj', 0], ['v_proj', 1], ['gate_proj', 1], ['down_proj', 0]] as const) {
        const [out, inF] = projectionShape(config, proj);
        const xStride = inF + 8;
        const xOffset = 4;
        const yStride = out + 3;
        const yOffset = 1;
        const x = normalStream(7, `x${proj}`).fill(new Float32Array(rows * xStride), 1, 0);
        const y0 = normalStream(8, `y${proj}`).fill(new Float32Array(rows * yStride), 1, 0);
        const xb = storage(device, x);
        const yb = storage(device, y0);
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        lora.encode({ pass, layer, projection: proj, x: { buffer: xb, stride: xStride, offset: xOffset }, y: { buffer: yb, stride: yStride, offset: yOffset } });
        pass.end();
        device.queue.submit([enc.finish()]);
        const got = await readback(device, yb, y0.byteLength);
        const want = reference({ x, y0, rows, xStride, xOffset, yStride, yOffset, rowSlots: layout.rowSlots, held, layer, proj });
        if (layout.name === 'no adapters') expect(Array.from(got)).toEqual(Array.from(y0));
        else {
          expect(relError(got, want), `${proj} layer ${layer}`).toBeLessThan(tolerance);
          expect(relError(got, y0)).toBeGreaterThan(0.01); // the delta is really there
        }
        xb.destroy();
        yb.destroy();
      }
      lora.destroy();
    });
  }

  it('unload clears a slot: its rows get no delta', async (ctx) => {
    if (dtype === 'f16' && !gpu.hasF16) ctx.skip();
    const { device } = gpu;
    const extra = createGpuLoraSlotPool({ device, config, slots: 2, maxRank: 8, dtype, maxBindingBytes: gpu.limits.maxStorageBufferBindingSize });
    await extra.load(1, randomWeights(9, 8, 1));
    extra.unload(1);
    const pipelines = createPipelineCache(device);
    const lora = createGpuLora({ device, pool: extra, maxRows: 4, pipelines, cpu: shape === 'cpu' });
    await pipelines.warm();
    lora.setRows([1, 1, 1]);
    const y0 = new Float32Array(3 * 128).fill(1);
    const yb = storage(device, y0);
    const xb = storage(device, new Float32Array(3 * 128).fill(1));
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    lora.encode({ pass, layer: 0, projection: 'q_proj', x: { buffer: xb, stride: 128 }, y: { buffer: yb, stride: 128 } });
    pass.end();
    device.queue.submit([enc.finish()]);
    expect(Array.from(await readback(device, yb, y0.byteLength))).toEqual(Array.from(y0));
    lora.destroy();
    extra.destroy();
  });
});

describe('planLoraRows', () => {
  it('groups runs into contiguous SGMV segments and leaves single rows to BGMV', () => {
    const plan = planLoraRows({ rowSlots: [0, 0, 0, 1, -1, -1, 2, 2, 1, 0] });
    expect(Array.from(plan.segIndptr)).toEqual([0, 3, 6, 8, 10]);
    expect(Array.from(plan.segSlot)).toEqual([0, -1, 2, -1]);
    expect(Array.from(plan.rowSlot)).toEqual([-1, -1, -1, 1, -1, -1, -1, -1, 1, 0]);
    expect(plan).toMatchObject({ segments: 4, sgmvSegments: 2, maxSegmentRows: 3, bgmvRows: 3, slotsUsed: [0, 1, 2] });
  });
});
