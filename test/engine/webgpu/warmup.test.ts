import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUT_ROW_WORDS } from '../../../src/engine/webgpu/passPlan.ts';
import { createPipelineCache } from '../../../src/engine/webgpu/pipelines.ts';
import { defaultWarmupHelpers, MAX_WARMUP_HELPERS, warmUpKernels } from '../../../src/engine/webgpu/warmup.ts';
import { acquireGpu, type Gpu } from '../../../src/gpu/device.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await acquireGpu();
});
afterAll(() => gpu?.destroy());

describe('kernel warm-up', () => {
  it('uses helper devices only on CPU adapters with the driver`s shader cache on, one per spare core', () => {
    const cpu = { summary: { software: true } } as Gpu;
    expect(defaultWarmupHelpers(cpu, {}, 2)).toBe(1);
    expect(defaultWarmupHelpers(cpu, {}, 1)).toBe(0);
    expect(defaultWarmupHelpers(cpu, {}, 64)).toBe(MAX_WARMUP_HELPERS);
    expect(defaultWarmupHelpers(cpu, { MESA_SHADER_CACHE_DISABLE: 'true' }, 8)).toBe(0);
    expect(defaultWarmupHelpers(cpu, { MESA_SHADER_CACHE_DISABLE: 'false' }, 8)).toBe(7);
    expect(defaultWarmupHelpers({ summary: { software: false } } as Gpu, {}, 64)).toBe(0);
  });

  it('takes the number from OPENLORA_WARMUP_HELPERS when set, and names a bad value', () => {
    const cpu = { summary: { software: true } } as Gpu;
    expect(defaultWarmupHelpers(cpu, { OPENLORA_WARMUP_HELPERS: '0' }, 8)).toBe(0);
    expect(defaultWarmupHelpers(cpu, { OPENLORA_WARMUP_HELPERS: '3' }, 2)).toBe(3);
    expect(defaultWarmupHelpers(cpu, { OPENLORA_WARMUP_HELPERS: '' }, 2)).toBe(1);
    for (const bad of ['two', '-1', '1.5', '8']) {
      expect(() => defaultWarmupHelpers(cpu, { OPENLORA_WARMUP_HELPERS: bad }, 2)).toThrow(expect.objectContaining({ code: 'OPENLORA_ENGINE_WARMUP_HELPERS', message: expect.stringContaining(`OPENLORA_WARMUP_HELPERS="${bad}"`) }));
    }
  });

  for (const helperDevices of [0, 2]) {
    it(`warms every cold kernel, with ${helperDevices} helper devices`, async () => {
      const pipelines = createPipelineCache(gpu.device);
      // Small kernels (this tests the mechanism, not the compiler).
      const five = ['uniform', 'uniform', 'read', 'read', 'storage'] as const;
      pipelines.kernel('rmsnorm.wgsl', five);
      pipelines.kernel('embed.wgsl', five, { F16: false });
      pipelines.kernel('sample.wgsl', ['uniform', 'uniform', 'read', 'storage', 'storage', 'read', 'storage', 'storage'], { OUT_ROW_WORDS }); // as sampleOp binds it
      pipelines.kernel('glu.wgsl', ['uniform', 'uniform', 'storage', 'read']);
      const report = await warmUpKernels({ gpu, pipelines, helperDevices });
      expect(report).toMatchObject({ kernels: 4, helperDevices });
      expect(pipelines.cold()).toEqual([]);
      // Nothing left to do: a second warm-up is empty and uses no helper.
      expect(await warmUpKernels({ gpu, pipelines, helperDevices })).toMatchObject({ kernels: 0, helperDevices: 0 });
      expect(pipelines.late).toEqual([]);
    });
  }
});
