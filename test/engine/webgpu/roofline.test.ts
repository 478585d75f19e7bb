import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireGpu, type Gpu } from '../../../src/gpu/device.ts';
import { createPipelineCache, bindBuffers } from '../../../src/engine/webgpu/pipelines.ts';
import { createUniform } from '../../../src/engine/webgpu/ops.ts';
import { measureReadBandwidth } from '../../../src/engine/webgpu/roofline.ts';

/** The value stream.wgsl writes a workgroup's sum for (real data never sums to it). */
const MAGIC = Math.fround(1.2345e-30);

let gpu: Gpu;
beforeAll(async () => {
  gpu = await acquireGpu();
});
afterAll(() => gpu?.destroy());

/**
 * Runs shaders/stream.wgsl over `count` vec4s that are zero except element `at` (MAGIC), and
 * returns which workgroups wrote their sum: exactly the one whose invocations read `at`.
 */
async function writers(defines: Record<string, boolean | number>, words: number[], count: number, groups: number, at: number): Promise<number[]> {
  const { device } = gpu;
  const pipelines = createPipelineCache(device);
  const kernel = pipelines.kernel('stream.wgsl', ['uniform', 'read', 'storage'], defines);
  await pipelines.warm();
  const data = new Float32Array(count * 4);
  data[at * 4 + 2] = MAGIC;
  const src = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(src, 0, data);
  const dst = device.createBuffer({ size: groups * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: groups * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const params = createUniform(device, 'stream.params', new Uint32Array(words));
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(kernel.pipeline);
  pass.setBindGroup(0, bindBuffers(device, kernel, [params, src, dst]));
  pass.dispatchWorkgroups(groups);
  pass.end();
  encoder.copyBufferToBuffer(dst, 0, read, 0, groups * 4);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(read.getMappedRange().slice(0));
  for (const b of [src, dst, read, params]) b.destroy();
  return [...out.keys()].filter((g) => out[g] !== 0).map((g) => (expect(out[g]).toBe(MAGIC), g));
}

describe('streaming roofline probe (shaders/stream.wgsl)', () => {
  // 1,000 vec4s: grid-stride over 2 workgroups of 256 (stride 512); runs of 7 over workgroups of 64 (448 per workgroup, the last run short).
  const count = 1000;
  it.each([0, 511, 512, 999])('grid-stride: vec4 %i is read by the workgroup its invocation belongs to', async (at) => {
    expect(await writers({ WG: 256 }, [count, 0, 0, 0], count, 2, at)).toEqual([Math.floor((at % 512) / 256)]);
  });
  it.each([0, 447, 448, 999])('runs per invocation: vec4 %i is read by its run\'s workgroup', async (at) => {
    expect(await writers({ RUNS: true, WG: 64 }, [count, 7, 0, 0], count, 3, at)).toEqual([Math.floor(at / 448)]);
  });

  it('reports both patterns and the faster one as the roofline', async () => {
    const r = await measureReadBandwidth({ device: gpu.device, bytes: 4 * 2 ** 20, runs: 2, timestamps: gpu.hasTimestamps });
    expect(r.patterns.stride).toBeGreaterThan(0);
    expect(r.patterns.runs).toBeGreaterThan(0);
    expect(r.gbPerSecond).toBe(Math.max(r.patterns.stride, r.patterns.runs));
    expect(r.pattern).toBe(r.patterns.runs > r.patterns.stride ? 'runs' : 'stride');
    expect(r.ms).toBeCloseTo(r.bytes / r.gbPerSecond / 1e6, 6);
  });
});
