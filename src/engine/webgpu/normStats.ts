/**
 * The norm of a norm projection's batch tiles on CPU adapters as a pass before the projection
 * (shaders/norm_stats.wgsl), so its workgroups need not each sum the squares of all their rows of x
 * behind a barrier (on lavapipe a 32-row tile's workgroup of 16 loaded 1,152 words of x for them,
 * against ~7,000 in its chunk loop, and the barrier made it a coroutine). The pass writes each
 * row's 1 / rms (linear.wgsl NORM_STATS) or, `pack`, x · gain / rms itself as f16 pairs of rows
 * (linear.wgsl X16: half the words of x for the projection to load, at f16 precision). A dispatch
 * costs 0.3-0.6 ms on lavapipe, so only the row tiles of batched decode and prefill take it
 * (linearOp), never the one-row tile.
 */
import { createUniform, type GpuAct, type OpContext, type RecordOp } from './ops.ts';
import { bindBuffers } from './pipelines.ts';

/** Parameters of {@link normStatsOp}. */
export interface NormStatsOpParameters {
  x: GpuAct; // [rows, k] f32
  /** The projection's RMSNorm (linearOp's `norm`: gain `offset + w` at `vecs[at]`). */
  norm: { at: number; width: number; eps: number };
  /** Write x · gain / rms as f16 pairs of rows, `k` elements per pair (the projection's padded k; gain from `vecs`). */
  pack?: { k: number; vecs: GPUBuffer };
  /** Row count from `step.outRows` (lm_head over the gathered rows). */
  useOutRows?: boolean;
  label?: string;
}

/** What the pass writes (`[rows]` f32 1 / rms, or `[ceil(rows / 2), k]` u32 pairs; as many rows as x's buffer holds) and the pass. */
export interface NormStats {
  buffer: GPUBuffer;
  record: RecordOp;
}

/** Prepares the norm pass of a projection's x (see the file comment). */
export function normStatsOp(ctx: OpContext, p: NormStatsOpParameters): NormStats {
  const label = `${p.label ?? 'linear'}.${p.pack ? 'xh' : 'rms'}`;
  const { pack } = p;
  const kernel = ctx.pipelines.kernel('norm_stats.wgsl', ['uniform', 'uniform', 'read', 'storage', ...(pack ? (['read'] as const) : [])], { PACK: pack !== undefined });
  const words = new Uint32Array([p.x.stride, p.x.offset, p.norm.width, 0, p.useOutRows ? 1 : 0, pack?.k ?? 0, p.norm.at, 0]);
  new Float32Array(words.buffer)[3] = p.norm.eps;
  const params = createUniform(ctx.device, `${label}.params`, words);
  const rows = Math.max(1, Math.floor(p.x.buffer.size / (p.x.stride * 4)));
  const size = pack ? Math.ceil(rows / 2) * pack.k * 4 : rows * 4;
  const buffer = ctx.device.createBuffer({ label, size: Math.max(16, size), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const group = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.x.buffer, buffer, ...(pack ? [pack.vecs] : [])]);
  return { buffer, record: (rec, rows) => rec.dispatch(kernel, group, pack ? Math.ceil(rows / 2) : rows) };
}
