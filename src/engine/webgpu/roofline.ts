import { createPipelineCache, bindBuffers } from './pipelines.ts';
import { createUniform } from './ops.ts';

/** Parameters of {@link measureReadBandwidth}. */
export interface MeasureReadBandwidthParameters {
  device: GPUDevice;
  /** Bytes streamed per run (default 64 MiB, within every binding limit). */
  bytes?: number;
  /** Timed runs after one warm-up (default 5). */
  runs?: number;
  /** Use timestamp queries (GPU time) instead of wall-clock submit-to-done time. */
  timestamps?: boolean;
}

/** Result of {@link measureReadBandwidth}. */
export interface ReadBandwidth {
  bytes: number;
  /** Best run, milliseconds. */
  ms: number;
  /** bytes / ms, in GB/s (1e9 bytes). */
  gbPerSecond: number;
}

/**
 * The roofline of a memory-bound kernel on this device: a plain streaming read (shaders/stream.wgsl,
 * vec4 loads, 256-invocation workgroups) of a buffer, best of `runs`.
 */
export async function measureReadBandwidth(p: MeasureReadBandwidthParameters): Promise<ReadBandwidth> {
  const { device } = p;
  const bytes = p.bytes ?? 64 * 2 ** 20;
  const runs = p.runs ?? 5;
  const src = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
  const groups = Math.min(4096, Math.ceil(bytes / 16 / 256));
  const dst = device.createBuffer({ size: groups * 4, usage: GPUBufferUsage.STORAGE });
  const pipelines = createPipelineCache(device);
  const kernel = pipelines.kernel('stream.wgsl', ['uniform', 'read', 'storage']);
  await pipelines.warm();
  const params = createUniform(device, 'stream.params', new Uint32Array([bytes / 16, 0, 0, 0]));
  const group = bindBuffers(device, kernel, [params, src, dst]);
  const querySet = p.timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : undefined;
  const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  let best = Infinity;
  try {
    for (let i = 0; i <= runs; i++) {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass(querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
      pass.setPipeline(kernel.pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(groups);
      pass.end();
      if (querySet) {
        encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, read, 0, 16);
      }
      const t0 = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      let ms = performance.now() - t0;
      if (querySet) {
        await read.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(read.getMappedRange().slice(0));
        read.unmap();
        ms = Number(t[1] - t[0]) / 1e6;
      }
      if (i > 0 && ms > 0) best = Math.min(best, ms);
    }
  } finally {
    src.destroy();
    dst.destroy();
    params.destroy();
    resolve.destroy();
    read.destroy();
    querySet?.destroy();
  }
  return { bytes, ms: best, gbPerSecond: bytes / best / 1e6 };
}
