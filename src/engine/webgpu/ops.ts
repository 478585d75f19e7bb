/**
 * The forward pass's kernels as prepared operations: each `xxxOp(...)` compiles (or reuses) its
 * pipeline, writes its static `Params` once and binds its buffers once, and returns a function
 * that records the dispatch for a step's row count. The forward pass and the kernel tests both
 * use these.
 */
import type { GpuMatrix } from './weights.ts';
import { bindBuffers, type BindingKind, type Kernel, type PipelineCache } from './pipelines.ts';
import type { Recorder } from './recorder.ts';

/** What every op needs: device, pipelines, the step uniform and the reduction strategy. */
export interface OpContext {
  device: GPUDevice;
  pipelines: PipelineCache;
  /** `Step` uniform of the current step (rows, outRows). */
  stepBuffer: GPUBuffer;
  /** Reduce with subgroup shuffles (needs `subgroups` and a subgroup size >= `tpo`). */
  subgroups: boolean;
  /** Invocations per output feature in the linear kernel (a power of two, 1..32). */
  tpo: number;
  /** Invocations per workgroup of the linear kernel; default 256. */
  workgroup?: number;
  /** Output features per invocation of the linear kernel (register tile); default 1. */
  opl?: number;
  /** f16 linear with `tpo` 1 on 8-wide subgroups: lanes load x together and broadcast it. */
  xshuf?: boolean;
  /** Invocations per attention workgroup; default 32 (8 on CPU adapters: less merge work per row). */
  attentionWorkgroup?: number;
}

/**
 * Linear-kernel shape for a device. GPUs: `tpo` invocations (a subgroup's width, at most 32) split
 * each output's dot product along k, so a subgroup's loads are contiguous (coalesced), reduced
 * by a subgroup butterfly. CPU implementations (lavapipe): one invocation per 4 outputs (`tpo`
 * 1, `opl` 4), each weight row streaming on its own, and with 8-wide subgroups the lanes load a
 * chunk of x together and broadcast it (`xshuf`); on lavapipe this is 3x (1 row) to 10x (32 rows)
 * faster than the GPU shape.
 */
export function linearShape(p: { software: boolean; subgroups: boolean; subgroupMinSize?: number; subgroupMaxSize?: number }): Pick<OpContext, 'tpo' | 'opl' | 'workgroup' | 'subgroups' | 'xshuf' | 'attentionWorkgroup'> {
  if (p.software) return { tpo: 1, opl: 4, workgroup: 64, attentionWorkgroup: 8, subgroups: p.subgroups, xshuf: p.subgroups && p.subgroupMinSize === 8 && p.subgroupMaxSize === 8 };
  const subgroups = p.subgroups && (p.subgroupMinSize ?? 0) >= 8;
  return { tpo: subgroups ? Math.min(32, p.subgroupMinSize!) : 16, opl: 1, workgroup: 256, subgroups };
}

/** Records one op for `rows` rows (or output rows for the ops that read `step.outRows`). */
export type RecordOp = (rec: Recorder, rows: number) => void;

/** Row tiles of the linear kernel: the smallest that holds the step's rows, 32 for prefill. */
export const LINEAR_ROW_TILES = [1, 4, 8, 16, 32] as const;

/** Largest workgroup count per dimension that WebGPU guarantees. */
const MAX_GROUPS = 65535;

/** A uniform buffer holding `words` (u32 or f32 values as given by the typed array). */
export function createUniform(device: GPUDevice, label: string, words: Uint32Array | Float32Array): GPUBuffer {
  const buffer = device.createBuffer({ label, size: Math.max(16, Math.ceil(words.byteLength / 16) * 16), usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, 0, words);
  return buffer;
}

function u32f32(values: (number | { f32: number })[]): Uint32Array {
  const out = new Uint32Array(values.length);
  const f = new Float32Array(out.buffer);
  values.forEach((v, i) => {
    if (typeof v === 'number') out[i] = v;
    else f[i] = v.f32;
  });
  return out;
}

/** Parameters of {@link linearOp}. */
export interface LinearOpParameters {
  weight: GpuMatrix; // [n, k]
  bias?: GPUBuffer; // [n] f32
  x: GPUBuffer; // [rows, xStride] f32
  y: GPUBuffer; // [rows, yStride] f32
  xStride?: number; // default k
  yStride?: number; // default n
  /** y += W x instead of y = W x (residual projections). */
  accumulate?: boolean;
  /** Row count from `step.outRows` (lm_head over the gathered rows). */
  useOutRows?: boolean;
  label?: string;
}

/** `y (+)= x W^T (+ b)`, one dispatch per row chunk of W. */
export function linearOp(ctx: OpContext, p: LinearOpParameters): RecordOp {
  const { weight } = p;
  const bindings: BindingKind[] = ['uniform', 'uniform', 'read', 'read', 'storage'];
  if (p.bias) bindings.push('read');
  const defines = (rows: number) => ({
    F16: weight.dtype === 'f16',
    BIAS: p.bias !== undefined,
    ACCUMULATE: p.accumulate === true,
    SUBGROUPS: ctx.subgroups && ctx.tpo > 1,
    XSHUF: ctx.xshuf === true && ctx.tpo === 1 && weight.dtype === 'f16',
    REDUCE_WG: !ctx.subgroups && ctx.tpo > 1,
    ROWS: rows,
    TPO: ctx.tpo,
    WG: ctx.workgroup ?? 256,
    OPL: ctx.opl ?? 1,
    ACC: rows * (ctx.opl ?? 1),
    RC: Math.min(rows * (ctx.opl ?? 1), 4),
  });
  const kernels = LINEAR_ROW_TILES.map((rows) => ctx.pipelines.kernel('linear.wgsl', bindings, defines(rows)));
  const opw = ((ctx.workgroup ?? 256) / ctx.tpo) * (ctx.opl ?? 1);
  const parts = weight.chunks.map((chunk) => {
    const params = createUniform(
      ctx.device,
      `${p.label ?? 'linear'}.params`,
      u32f32([chunk.rowCount, weight.cols, p.xStride ?? weight.cols, p.yStride ?? weight.rows, chunk.rowStart, p.useOutRows ? 1 : 0, 0, 0]),
    );
    const bias = p.bias ? [p.bias] : [];
    if (p.bias && weight.chunks.length > 1) throw new RangeError('biased projections must fit one binding');
    const group = bindBuffers(ctx.device, kernels[0], [ctx.stepBuffer, params, chunk.buffer, p.x, p.y, ...bias]);
    return { group, groupsX: Math.ceil(chunk.rowCount / opw) };
  });
  return (rec, rows) => {
    const t = LINEAR_ROW_TILES.findIndex((r) => r >= rows);
    const tile = t === -1 ? LINEAR_ROW_TILES.length - 1 : t;
    const groupsY = Math.ceil(rows / LINEAR_ROW_TILES[tile]);
    for (const part of parts) rec.dispatch(kernels[tile], part.group, part.groupsX, groupsY);
  };
}

/** Parameters of {@link rmsnormOp}. */
export interface RmsnormOpParameters {
  x: GPUBuffer; // [rows, h] f32
  weight: GPUBuffer; // [h] f32
  y: GPUBuffer; // [rows, h] f32
  h: number;
  eps: number;
  /** Normalize only the rows named by this `[outRows, 8] u32` table (srcRow first). */
  gather?: GPUBuffer;
}

/** RMSNorm of each row (or each gathered row). */
export function rmsnormOp(ctx: OpContext, p: RmsnormOpParameters): RecordOp {
  const bindings: BindingKind[] = ['uniform', 'uniform', 'read', 'read', 'storage'];
  if (p.gather) bindings.push('read');
  const kernel = ctx.pipelines.kernel('rmsnorm.wgsl', bindings, { GATHER: p.gather !== undefined });
  const params = createUniform(ctx.device, 'rmsnorm.params', u32f32([p.h, { f32: p.eps }, 0, 0]));
  const group = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.x, p.weight, p.y, ...(p.gather ? [p.gather] : [])]);
  return (rec, rows) => rec.dispatch(kernel, group, rows);
}

/** Parameters of {@link embedOp}. */
export interface EmbedOpParameters {
  table: GpuMatrix; // [vocab, h]
  rowInfo: GPUBuffer; // [rows] RowInfo
  x: GPUBuffer; // [rows, h] f32
}

/** Embedding rows of the step's tokens, one dispatch per table chunk. */
export function embedOp(ctx: OpContext, p: EmbedOpParameters): RecordOp {
  const kernel = ctx.pipelines.kernel('embed.wgsl', ['uniform', 'uniform', 'read', 'read', 'storage'], { F16: p.table.dtype === 'f16' });
  const groups = p.table.chunks.map((chunk) => {
    const params = createUniform(ctx.device, 'embed.params', u32f32([p.table.cols, chunk.rowStart, chunk.rowCount, 0]));
    return bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.rowInfo, chunk.buffer, p.x]);
  });
  return (rec, rows) => {
    for (const g of groups) rec.dispatch(kernel, g, rows);
  };
}

/** Parameters of {@link ropeKvOp}. */
export interface RopeKvOpParameters {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Positions in `ropeTable`. */
  maxPos: number;
  rowInfo: GPUBuffer;
  blockTables: GPUBuffer;
  ropeTable: GPUBuffer; // [maxPos, headDim / 2] vec2<f32> (cos, sin)
  q: GPUBuffer; // [rows, numHeads, headDim] f32, rotated in place
  k: GPUBuffer; // [rows, numKvHeads, headDim] f32
  v: GPUBuffer;
  kCache: GPUBuffer; // [numBlocks, numKvHeads, 16, headDim] f32
  vCache: GPUBuffer;
}

/** RoPE on q and k and the store of k and v into the paged cache. */
export function ropeKvOp(ctx: OpContext, p: RopeKvOpParameters): RecordOp {
  const kernel = ctx.pipelines.kernel('rope_kv.wgsl', ['uniform', 'uniform', 'read', 'read', 'read', 'storage', 'read', 'read', 'storage', 'storage']);
  const params = createUniform(ctx.device, 'rope.params', u32f32([p.numHeads, p.numKvHeads, p.headDim, p.maxPos]));
  const group = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.rowInfo, p.blockTables, p.ropeTable, p.q, p.k, p.v, p.kCache, p.vCache]);
  return (rec, rows) => rec.dispatch(kernel, group, rows);
}

/** Parameters of {@link attentionOp}. */
export interface AttentionOpParameters {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rowInfo: GPUBuffer;
  blockTables: GPUBuffer;
  q: GPUBuffer; // [rows, numHeads, headDim] f32
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  out: GPUBuffer; // [rows, numHeads, headDim] f32
}

/** Causal GQA attention over the paged cache, one workgroup per (row, head). */
export function attentionOp(ctx: OpContext, p: AttentionOpParameters): RecordOp {
  if (p.headDim % 4 !== 0) throw new RangeError(`attention needs headDim % 4 == 0, got ${p.headDim}`);
  const kernel = ctx.pipelines.kernel('attention.wgsl', ['uniform', 'uniform', 'read', 'read', 'read', 'read', 'read', 'storage'], { HD: p.headDim, HD4: p.headDim / 4, WG: ctx.attentionWorkgroup ?? 32 });
  const params = createUniform(ctx.device, 'attention.params', u32f32([p.numHeads, p.numKvHeads, p.headDim, { f32: 1 / Math.sqrt(p.headDim) }]));
  const group = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.rowInfo, p.blockTables, p.q, p.kCache, p.vCache, p.out]);
  return (rec, rows) => rec.dispatch(kernel, group, rows, p.numHeads);
}

/** Parameters of {@link siluMulOp}. */
export interface SiluMulOpParameters {
  gate: GPUBuffer; // [rows, width] f32, overwritten with silu(gate) * up
  up: GPUBuffer; // [rows, width] f32
  width: number;
}

/** SwiGLU's `silu(gate) * up`, in place in `gate`. */
export function siluMulOp(ctx: OpContext, p: SiluMulOpParameters): RecordOp {
  const kernel = ctx.pipelines.kernel('silu_mul.wgsl', ['uniform', 'uniform', 'storage', 'read']);
  const params = createUniform(ctx.device, 'silu.params', u32f32([p.width, 0, 0, 0]));
  const group = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.gate, p.up]);
  return (rec, rows) => {
    const groups = Math.ceil((rows * p.width) / 256);
    const x = Math.min(groups, MAX_GROUPS);
    rec.dispatch(kernel, group, x, Math.ceil(groups / x));
  };
}

/** Parameters of {@link sampleOp}. */
export interface SampleOpParameters {
  vocab: number;
  outRows: GPUBuffer; // [outRows, 8] u32
  logits: GPUBuffer; // [outRows, vocab] f32
  result: GPUBuffer; // [outRows, 2] u32 (token, logprob f32 bits)
}

/** Token choice and log-probabilities per output row (see shaders/sample.wgsl). */
export function sampleOp(ctx: OpContext, p: SampleOpParameters): RecordOp {
  const kernel: Kernel = ctx.pipelines.kernel('sample.wgsl', ['uniform', 'uniform', 'read', 'read', 'storage']);
  const params = createUniform(ctx.device, 'sample.params', u32f32([p.vocab, 0, 0, 0]));
  const group = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.outRows, p.logits, p.result]);
  return (rec, outRows) => rec.dispatch(kernel, group, outRows);
}
