import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gluOp, wholeAct } from '../../../src/engine/webgpu/ops.ts';
import { OUT_ROW_WORDS } from '../../../src/engine/webgpu/passPlan.ts';
import { createPipelineCache } from '../../../src/engine/webgpu/pipelines.ts';
import { shaderSource } from '../../../src/engine/webgpu/shaderSource.ts';
import { acquireGpu, type Gpu } from '../../../src/gpu/device.ts';
import { createHarness, type KernelHarness } from './harness.ts';

let gpu: Gpu;
let h: KernelHarness;

beforeAll(async () => {
  gpu = await acquireGpu();
  h = await createHarness();
});
afterAll(() => {
  gpu?.destroy();
  h?.destroy();
});

const rmsnorm = ['uniform', 'uniform', 'read', 'read', 'storage'] as const;

describe('pipeline cache', () => {
  it('asks once per variant, compiles in the background, and warm() makes every kernel ready', async () => {
    const cache = createPipelineCache(gpu.device);
    const a = cache.kernel('rmsnorm.wgsl', rmsnorm);
    const b = cache.kernel('rmsnorm.wgsl', [...rmsnorm, 'read'], { GATHER: true, OUT_ROW_WORDS });
    expect(cache.kernel('rmsnorm.wgsl', rmsnorm, { GATHER: false })).toBe(a); // false defines name the same variant
    expect(cache.kernels.map((k) => k.name)).toEqual(['rmsnorm.wgsl[]', `rmsnorm.wgsl[GATHER,OUT_ROW_WORDS=${OUT_ROW_WORDS}]`]);
    expect(b.variant).toEqual({ file: 'rmsnorm.wgsl', bindings: [...rmsnorm, 'read'], defines: { GATHER: true, OUT_ROW_WORDS } });
    expect(cache.cold()).toEqual([a, b]);
    await cache.warm({ kernels: [b] });
    expect(cache.cold()).toEqual([a]);
    await cache.warm();
    expect(cache.cold()).toEqual([]);
    expect(a.pipeline).toBeDefined();
    expect(cache.late).toEqual([]);
  });

  it('warmed kernels compute: an op run after warm() matches its formula, with nothing compiled late', async () => {
    const width = 300;
    const gate = Float32Array.from({ length: width * 2 }, (_, i) => (i % 7) - 3);
    const up = Float32Array.from({ length: width * 2 }, (_, i) => (i % 5) * 0.5);
    const g = h.buffer(gate);
    const op = gluOp(h.ctx, { gate: wholeAct(g, width), up: wholeAct(h.buffer(up), width), act: 'silu' });
    await h.run(2, 0, (rec) => op(rec, 2));
    const got = await h.read(g, width * 2);
    gate.forEach((x, i) => expect(got[i]).toBeCloseTo((x / (1 + Math.exp(-x))) * up[i], 5));
    expect(h.ctx.pipelines.late).toEqual([]);
  });

  it('one variant asked for with two binding lists is refused where it is asked, naming both', () => {
    const cache = createPipelineCache(gpu.device);
    cache.kernel('rmsnorm.wgsl', rmsnorm);
    expect(() => cache.kernel('rmsnorm.wgsl', [...rmsnorm, 'read'])).toThrow(/rmsnorm\.wgsl\[\].*\[uniform, uniform, read, read, storage, read\] after \[uniform, uniform, read, read, storage\]/s);
    expect(cache.kernel('rmsnorm.wgsl', [...rmsnorm])).toBe(cache.kernels[0]);
  });

  it('a kernel used before it was warmed is compiled on the spot and listed as late', () => {
    const cache = createPipelineCache(gpu.device);
    const k = cache.kernel('glu.wgsl', ['uniform', 'uniform', 'storage', 'read']);
    expect(k.pipeline).toBeDefined();
    expect(cache.late).toEqual(['glu.wgsl[]']);
    expect(cache.cold()).toEqual([]);
  });

  it('a variant that does not compile fails warm() with the kernel`s name', async () => {
    const cache = createPipelineCache(gpu.device);
    gpu.device.pushErrorScope('validation'); // the shader module's own error, reported again by warm()
    cache.kernel('glu.wgsl', ['uniform', 'uniform', 'storage', 'read']);
    // attention.wgsl with a workgroup of 0 invocations (and 4 for every other number it takes).
    const defines: Record<string, number> = { WG: 0 };
    for (;;) {
      const missing = /(?:define|count) (\w+) needs a number/.exec(String((() => { try { shaderSource('attention.wgsl', defines); return ''; } catch (e) { return e; } })()));
      if (!missing) break;
      defines[missing[1]] = 4;
    }
    const bad = cache.kernel('attention.wgsl', ['uniform', 'uniform', 'read', 'read', 'read', 'read', 'read', 'storage'], defines);
    await expect(cache.warm()).rejects.toMatchObject({ code: 'OPENLORA_GPU_VALIDATION', shortMessage: `WebGPU rejected kernel ${bad.name}.` });
    await gpu.device.popErrorScope();
  });
});
