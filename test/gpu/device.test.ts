import { chmod, chown, mkdir, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireGpu, ensureRuntimeDir } from '../../src/gpu/device.ts';
import { runNode } from '../fixtures/cli.ts';
import { makeTempDir } from '../fixtures/model.ts';

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
    const result = await runNode(['--input-type=module', '-e', script], { timeoutMs: 120_000 });
    expect(result.stdout.trim()).toBe('released');
    expect(result.code).toBe(0);
  });
});

describe('XDG_RUNTIME_DIR for the Vulkan loader', () => {
  const own = `openlora-xdg-${process.getuid?.() ?? 0}`;

  it('creates its own directory with mode 0700 when none is set', async () => {
    const base = await makeTempDir();
    const env: NodeJS.ProcessEnv = {};
    expect(ensureRuntimeDir(env, base)).toBe(join(base, own));
    expect(env.XDG_RUNTIME_DIR).toBe(join(base, own));
    expect(((await stat(join(base, own))).mode & 0o777).toString(8)).toBe('700');
  });

  it('leaves a value the user set, and an existing directory`s mode, as they are', async () => {
    const env: NodeJS.ProcessEnv = { XDG_RUNTIME_DIR: '/tmp' };
    expect(ensureRuntimeDir(env, '/nonexistent')).toBe('/tmp');
    const base = await makeTempDir();
    await mkdir(join(base, own));
    await chmod(join(base, own), 0o1777);
    const env2: NodeJS.ProcessEnv = {};
    expect(ensureRuntimeDir(env2, base)).toBe(join(base, own));
    expect(((await stat(join(base, own))).mode & 0o7777).toString(8)).toBe('1777');
  });

  it('does not use a symlink, nor (as root) a directory someone else owns', async () => {
    const base = await makeTempDir();
    await mkdir(join(base, 'elsewhere'));
    await symlink(join(base, 'elsewhere'), join(base, own));
    const env: NodeJS.ProcessEnv = {};
    expect(ensureRuntimeDir(env, base)).toBeUndefined();
    expect(env.XDG_RUNTIME_DIR).toBeUndefined();
    if (process.getuid?.() === 0) {
      const other = await makeTempDir();
      await mkdir(join(other, own));
      await chown(join(other, own), 65534, 65534);
      expect(ensureRuntimeDir({}, other)).toBeUndefined();
    }
  });
});
