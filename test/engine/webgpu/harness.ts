import { acquireGpu, type Gpu } from '../../../src/gpu/device.ts';
import { createPipelineCache } from '../../../src/engine/webgpu/pipelines.ts';
import { createPassRecorder, type Recorder } from '../../../src/engine/webgpu/recorder.ts';
import type { OpContext } from '../../../src/engine/webgpu/ops.ts';
import { createDataBuffer } from '../../../src/engine/webgpu/weights.ts';

/** A device with an op context for kernel tests. */
export interface KernelHarness {
  gpu: Gpu;
  ctx: OpContext;
  /** A storage buffer holding `data`. */
  buffer(data: Float32Array | Uint32Array | Uint16Array): GPUBuffer;
  /** An empty storage buffer of `floats` f32. */
  empty(floats: number): GPUBuffer;
  /** Sets `Step { rows, outRows }`, records `fn` (warming the kernels it dispatches), submits and waits. */
  run(rows: number, outRows: number, fn: (rec: Recorder) => void): Promise<void>;
  read(buffer: GPUBuffer, floats: number): Promise<Float32Array>;
  destroy(): void;
}

/** Acquires the device; `subgroups: false` forces the workgroup-memory reductions; `shape` overrides the linear kernel's. */
export async function createHarness(options: { subgroups?: boolean; shape?: Partial<Pick<OpContext, 'tpo' | 'opl' | 'workgroup' | 'xshuf' | 'tiled' | 'workgroupBytes' | 'minGroups' | 'sgNorm' | 'normStats' | 'q4Q8x' | 'q8xUnnormed' | 'packedDot' | 'q4RowGroups' | 'halfRowGroups'>> } = {}): Promise<KernelHarness> {
  const gpu = await acquireGpu();
  const { device } = gpu;
  const stepBuffer = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const subgroups = (options.subgroups ?? true) && gpu.hasSubgroups && (gpu.summary.subgroupMinSize ?? 0) >= 8;
  const ctx: OpContext = { device, pipelines: createPipelineCache(device), stepBuffer, subgroups, tpo: subgroups ? Math.min(32, gpu.summary.subgroupMinSize!) : 8, ...options.shape };
  return {
    gpu,
    ctx,
    buffer: (data) => createDataBuffer(device, 'test', data),
    empty: (floats) => device.createBuffer({ size: Math.max(16, floats * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST }),
    async run(rows, outRows, fn) {
      // Record first, then warm only the kernels this step dispatches (an op asks for all its
      // variants, e.g. every row tile of the linear kernel; a kernel test runs one or two).
      const calls: Parameters<Recorder['dispatch']>[] = [];
      fn({ dispatch: (...call) => void calls.push(call), end() {} });
      await ctx.pipelines.warm({ kernels: [...new Set(calls.map(([kernel]) => kernel))] });
      device.pushErrorScope('validation');
      device.queue.writeBuffer(stepBuffer, 0, new Uint32Array([rows, outRows, 0, 0]));
      const encoder = device.createCommandEncoder();
      const rec = createPassRecorder(encoder);
      for (const call of calls) rec.dispatch(...call);
      rec.end();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      const error = await device.popErrorScope();
      if (error) throw new Error(error.message);
    },
    async read(buffer, floats) {
      const staging = device.createBuffer({ size: floats * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(buffer, 0, staging, 0, floats * 4);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const out = new Float32Array(staging.getMappedRange().slice(0));
      staging.destroy();
      return out;
    },
    destroy: () => gpu.destroy(),
  };
}

/** Deterministic values in [-scale, scale) (mulberry32). */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** max |a - b| / max |b|: the relative error the tolerances are stated in. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let ref = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return err / Math.max(ref, 1e-30);
}
