/**
 * Each row's 1 / rms for a norm projection's batch tiles on CPU adapters (shaders/norm_stats.wgsl,
 * read by linear.wgsl's NORM_STATS variant): one small pass before the projection, so its
 * workgroups need not each sum the squares of all their rows of x behind a barrier (on lavapipe a
 * 32-row tile's workgroup of 16 loaded 1,152 words of x for them, against ~7,000 in its chunk
 * loop, and the barrier made it a coroutine). Only the row tiles of batched decode and prefill take
 * it (linearOp): a one-row tile norms x per subgroup with no barrier, and the extra dispatch would
 * add to batch 1's step for nothing.
 */
import { createUniform, type GpuAct, type OpContext, type RecordOp } from './ops.ts';
import { bindBuffers } from './pipelines.ts';

/** Parameters of {@link normStatsOp}. */
export interface NormStatsOpParameters {
  x: GpuAct; // [rows, k] f32
  /** The projection's RMSNorm (linearOp's `norm`): its width and epsilon. */
  norm: { width: number; eps: number };
  /** Row count from `step.outRows` (lm_head over the gathered rows). */
  useOutRows?: boolean;
  label?: string;
}

/** The rows' 1 / rms (`[rows]` f32, as many rows as x's buffer holds) and the pass that writes them. */
export interface NormStats {
  buffer: GPUBuffer;
  record: RecordOp;
}

/** Prepares the 1 / rms pass of a projection's x (see the file comment). */
export function normStatsOp(ctx: OpContext, p: NormStatsOpParameters): NormStats {
  const label = `${p.label ?? 'linear'}.rms`;
  const kernel = ctx.pipelines.kernel('norm_stats.wgsl', ['uniform', 'uniform', 'read', 'storage']);
  const words = new Uint32Array([p.x.stride, p.x.offset, p.norm.width, 0, p.useOutRows ? 1 : 0, 0, 0, 0]);
  new Float32Array(words.buffer)[3] = p.norm.eps;
  const params = createUniform(ctx.device, `${label}.params`, words);
  const rows = Math.max(1, Math.floor(p.x.buffer.size / (p.x.stride * 4)));
  const buffer = ctx.device.createBuffer({ label, size: Math.max(16, rows * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const group = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.x.buffer, buffer]);
  return { buffer, record: (rec, rows) => rec.dispatch(kernel, group, rows) };
}
