import { createPipelineCache, bindBuffers, type Kernel } from './pipelines.ts';
import { createUniform } from './ops.ts';
import { createPassTimer } from './passTimer.ts';

/** Parameters of {@link measureReadBandwidth}. */
export interface MeasureReadBandwidthParameters {
  device: GPUDevice;
  /** Bytes streamed per run (default 64 MiB, within every binding limit). */
  bytes?: number;
  /** Timed runs of each pattern after one warm-up (default 5). */
  runs?: number;
  /** Use timestamp queries (GPU time) instead of wall-clock submit-to-done time. */
  timestamps?: boolean;
}

/** How the probe walks the buffer (shaders/stream.wgsl): `stride` grid-stride (coalesced), `runs` one contiguous run per invocation (the batch-1 linear kernel's weight rows). */
export type StreamPattern = 'stride' | 'runs';

/** Result of {@link measureReadBandwidth}. */
export interface ReadBandwidth {
  bytes: number;
  /** Best run of the faster pattern, milliseconds. */
  ms: number;
  /** bytes / ms, in GB/s (1e9 bytes): the faster pattern's. */
  gbPerSecond: number;
  /** The faster pattern. */
  pattern: StreamPattern;
  /** Each pattern's best, GB/s. */
  patterns: Record<StreamPattern, number>;
}

/** The grid-stride pattern's workgroups: 256 invocations each, at most this many (enough for any GPU). */
export const STRIDE_GROUPS = 4096;
/** vec4s each invocation of the run pattern reads (4 KiB: a weight row of 2,048 f16). */
const RUN_VEC4S = 256;
/** The run pattern's workgroup (the linear kernel's decode workgroup on lavapipe). */
const RUN_WORKGROUP = 64;

/**
 * The roofline of a memory-bound kernel on this device: a plain streaming read of a buffer
 * (shaders/stream.wgsl, vec4 loads) in two patterns, each the best of `runs`, runs alternating;
 * the faster pattern is the roofline. GPUs stream fastest grid-stride (coalesced); on lavapipe an
 * invocation is a SIMD lane whose every load is a loop over the lanes, and a contiguous run per
 * invocation, as the batch-1 linear kernel reads its weight rows, is as fast or faster (docs/engine.md
 * "Load forms on lavapipe"), so the kernel is never measured against a slower pattern than its own.
 */
export async function measureReadBandwidth(p: MeasureReadBandwidthParameters): Promise<ReadBandwidth> {
  const { device } = p;
  const bytes = p.bytes ?? 64 * 2 ** 20;
  const runs = p.runs ?? 5;
  const count = bytes / 16;
  // Written data, as weights are: a never-written allocation may read the OS's shared zero page.
  const src = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
  new Float32Array(src.getMappedRange()).fill(1 / 1024);
  src.unmap();
  const pipelines = createPipelineCache(device);
  const bindings = ['uniform', 'read', 'storage'] as const;
  const setups: { pattern: StreamPattern; kernel: Kernel; groups: number; params: GPUBuffer }[] = [
    { pattern: 'stride', kernel: pipelines.kernel('stream.wgsl', bindings, { WG: 256 }), groups: Math.min(STRIDE_GROUPS, Math.ceil(count / 256)), params: createUniform(device, 'stream.params', new Uint32Array([count, 0, 0, 0])) },
    { pattern: 'runs', kernel: pipelines.kernel('stream.wgsl', bindings, { RUNS: true, WG: RUN_WORKGROUP }), groups: Math.ceil(count / RUN_VEC4S / RUN_WORKGROUP), params: createUniform(device, 'stream.params', new Uint32Array([count, RUN_VEC4S, 0, 0])) },
  ];
  const dst = device.createBuffer({ size: Math.max(...setups.map((s) => s.groups)) * 4, usage: GPUBufferUsage.STORAGE });
  await pipelines.warm();
  const timer = createPassTimer(device, p.timestamps === true);
  const best: Record<StreamPattern, number> = { stride: Infinity, runs: Infinity };
  try {
    const groups = setups.map((s) => bindBuffers(device, s.kernel, [s.params, src, dst]));
    for (let i = 0; i <= runs; i++) {
      for (const [k, s] of setups.entries()) {
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass(timer.writes);
        pass.setPipeline(s.kernel.pipeline);
        pass.setBindGroup(0, groups[k]);
        pass.dispatchWorkgroups(s.groups);
        pass.end();
        const ms = await timer.time(encoder);
        if (i > 0 && ms > 0) best[s.pattern] = Math.min(best[s.pattern], ms);
      }
    }
  } finally {
    src.destroy();
    dst.destroy();
    for (const s of setups) s.params.destroy();
    timer.destroy();
  }
  const pattern: StreamPattern = best.runs < best.stride ? 'runs' : 'stride';
  const gb = (ms: number) => bytes / ms / 1e6;
  return { bytes, ms: best[pattern], gbPerSecond: gb(best[pattern]), pattern, patterns: { stride: gb(best.stride), runs: gb(best.runs) } };
}
