import { describe, expect, it } from 'vitest';
import { acquireGpu } from '../../src/gpu/device.ts';
import { runNode } from '../fixtures/cli.ts';

describe('GPU device', () => {
  it('acquires a device with the full limits, runs a kernel, and releases it', async () => {
    const gpu = await acquireGpu();
    try {
      expect(gpu.limits.maxStorageBufferBindingSize).toBe(gpu.adapter.limits.maxStorageBufferBindingSize);
      expect(gpu.hasF16).toBe(gpu.adapter.features.has('shader-f16'));
      const { device } = gpu;
      const n = 1000;
      const input = new Float32Array(n).map((_, i) => i * 0.5);
      const buffer = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(buffer, 0, input);
      const module = device.createShaderModule({
        code: `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
               @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
                 if (id.x >= arrayLength(&x)) { return; }
                 x[id.x] = x[id.x] * 2.0 + 1.0;
               }`,
      });
      const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer } }] });
      const readback = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(Math.ceil(n / 64));
      pass.end();
      encoder.copyBufferToBuffer(buffer, 0, readback, 0, n * 4);
      device.queue.submit([encoder.finish()]);
      await readback.mapAsync(GPUMapMode.READ);
      const out = new Float32Array(readback.getMappedRange().slice(0));
      readback.unmap();
      expect(Array.from(out)).toEqual(Array.from(input, (v) => v * 2 + 1));
    } finally {
      gpu.destroy();
    }
    expect(await gpu.lost).toBeUndefined(); // destroyed on purpose: not reported as a loss
    gpu.destroy(); // idempotent
  });

  it('lets the process exit on its own after destroy', async () => {
    const script = `
      import { acquireGpu } from './src/gpu/device.ts';
      const gpu = await acquireGpu();
      const b = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
      b.destroy();
      gpu.destroy();
      console.log('released');`;
    const result = await runNode(['--input-type=module', '-e', script], { timeoutMs: 30_000 });
    expect(result.stdout.trim()).toBe('released');
    expect(result.code).toBe(0);
  });
});
