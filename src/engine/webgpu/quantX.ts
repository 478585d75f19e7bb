/**
 * x quantized to Q8_0 blocks for the Q4_0 decode tiles on CPU adapters (shaders/quant_x.wgsl, read
 * by linear.wgsl's Q8X variant): a pass before the projection writes each row of x (RMS-normed
 * with the projection's gain where it has a norm prologue) as int8 per block of 32 and the block's
 * f32 scale, the way the CPU backend quantizes its activations. The linear kernel then loads one
 * word per 4 x values (and one scale per block) instead of one per x value and gain.
 */
import { createUniform, type GpuAct, type OpContext, type RecordOp } from './ops.ts';
import { bindBuffers } from './pipelines.ts';
import { EngineShapeUnsupportedError } from '../errors.ts';

/** Parameters of {@link quantXOp}. */
export interface QuantXOpParameters {
  x: GpuAct; // [rows, k] f32
  /** Elements per row quantized: the projection's k (a multiple of 32). */
  k: number;
  /** Most rows a step quantizes (the Q8X tiles' largest row count). */
  rows: number;
  /** The RMSNorm (gain `offset + w` at `vecs[at]`, as linearOp's `norm`), done here instead of in the projection. */
  norm?: { at: number; width: number; eps: number };
  vecs: GPUBuffer;
  /** Row count from `step.outRows` (lm_head over the gathered rows). */
  useOutRows?: boolean;
  label?: string;
}

/** The quantized rows (`[rows, k / 4 + k / 32]` u32: quants, then the blocks' scales) and the pass that writes them. */
export interface QuantX {
  buffer: GPUBuffer;
  record: RecordOp;
}

/** Words of one quantized row of `k` elements: k / 4 of packed int8, then k / 32 scales. */
export function quantXRowWords(k: number): number {
  return k / 4 + k / 32;
}

/** Prepares the quantization pass of a projection's x (see the file comment). */
export function quantXOp(ctx: OpContext, p: QuantXOpParameters): QuantX {
  const label = `${p.label ?? 'linear'}.xq`;
  if (p.k % 32 !== 0) throw new EngineShapeUnsupportedError(label, `its rows of ${p.k} elements are not whole Q8_0 blocks of 32`);
  const kernel = ctx.pipelines.kernel('quant_x.wgsl', ['uniform', 'uniform', 'read', 'read', 'storage'], { NORM: p.norm !== undefined });
  const words = new Uint32Array([p.k, p.x.stride, p.x.offset, p.useOutRows ? 1 : 0, p.norm?.width ?? 0, 0, p.norm?.at ?? 0, 0]);
  new Float32Array(words.buffer)[5] = p.norm?.eps ?? 0;
  const params = createUniform(ctx.device, `${label}.params`, words);
  const buffer = ctx.device.createBuffer({ label, size: p.rows * quantXRowWords(p.k) * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const group = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.x.buffer, p.vecs, buffer]);
  return { buffer, record: (rec, rows) => rec.dispatch(kernel, group, rows) };
}
