/**
 * The forward pass's kernels as prepared operations: each `xxxOp(...)` compiles (or reuses) its
 * pipeline, writes its static `Params` once and binds its buffers once, and returns a function
 * that records the dispatch for a step's row count. The forward pass and the kernel tests both
 * use these.
 */
import type { Activation } from '../../model/config.ts';
import { KV_BLOCK_SIZE } from '../backend.ts';
import { EngineShapeUnsupportedError } from '../errors.ts';
import type { GpuMatrix } from './weights.ts';
import { bindBuffers, type BindingKind, type Kernel, type PipelineCache } from './pipelines.ts';
import type { Recorder } from './recorder.ts';
import { OUT_ROW_WORDS } from './passPlan.ts';
import { quantXOp } from './quantX.ts';
import { normStatsOp } from './normStats.ts';
import { ATTENTION_MAX_HEADS, fitWorkgroup, linearTiles, NORM_PARTIAL_BYTES, Q4DOT_MAX_ROWS, Q4DOT_OPL, TILED_MIN_ROWS, type LinearShape, type LinearTile } from './linearPlan.ts';

/** What every op needs: device, pipelines, the step uniform and the linear kernel's shape on this device. */
export interface OpContext extends LinearShape {
  device: GPUDevice;
  pipelines: PipelineCache;
  /** `Step` uniform of the current step (rows, outRows). */
  stepBuffer: GPUBuffer;
  /** Most rows an op records (the backend's `maxRows`): row tiles above the one that holds them are never compiled. Default: no bound. */
  maxRows?: number;
}

/** Records one op for `rows` rows (or output rows for the ops that read `step.outRows`). */
export type RecordOp = (rec: Recorder, rows: number) => void;

const empties = new WeakMap<GPUDevice, GPUBuffer>();
/** A 16-byte storage buffer for bindings a variant declares but does not read. */
export function emptyStorage(device: GPUDevice): GPUBuffer {
  let b = empties.get(device);
  if (!b) {
    b = device.createBuffer({ label: 'empty', size: 16, usage: GPUBufferUsage.STORAGE });
    empties.set(device, b);
  }
  return b;
}

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

/** Columns `[offset, offset + width)` of each `stride`-element row of an f32 activation buffer. */
export interface GpuAct {
  buffer: GPUBuffer;
  stride: number;
  offset: number;
  width: number;
}

/** A whole `[rows, stride]` buffer as a {@link GpuAct} of `width` columns. */
export function wholeAct(buffer: GPUBuffer, width: number, stride = width): GpuAct {
  return { buffer, stride, offset: 0, width };
}

/** A projection's LoRA epilogue: `+ scale · B v` per row with an adapter (see shaders/linear_lora.wgsl). */
export interface LinearLora {
  rowInfo: GPUBuffer; // [rows] RowInfo (the slot of each row)
  info: GPUBuffer; // [slots, infoStride] u32
  v: GPUBuffer; // [rows, vStride] f32, from the shrink kernel
  b: GPUBuffer; // [slots, columns, rank rounded to 4] f32 or f16, [slots, columns, rank rounded to 8] f16 (b8), or (tableAt) the layer's V buffer holding B's runs
  infoStride: number;
  /** Word of each member's rank in a slot's info (1 to 3 members). */
  rankWords: readonly number[];
  /** First fused column of each member (the first is 0). */
  columns: readonly number[];
  vStride: number;
  /** Elements of v per member (maxRank rounded up to B's rank rounding). */
  vMember: number;
  /** B held as f16. */
  f16?: boolean;
  /** f16 B at rank rounded to 8, loaded 8 halves at a time (shaders/linear_lora.wgsl LORA_B8). */
  b8?: boolean;
  /** Unified memory: B is read through the slot's run table at this word of its info (`lora/pagePool.ts`). */
  tableAt?: number;
}

/** Parameters of {@link linearOp}. */
export interface LinearOpParameters {
  weight: GpuMatrix; // [rows, k] (rows padded to weight.stride)
  x: GpuAct; // [rows, k] f32; stride and offset multiples of 4
  y: GpuAct; // [rows, n] f32 (n: the weight's rows, or glu.width)
  /** The op's vectors (norm gain, bias): see `GpuOpVectors`. */
  vecs?: GPUBuffer;
  /** RMSNorm of x in the prologue: gain `offset + w` at `vecs[at]` (a multiple of 4). */
  norm?: { at: number; width: number; eps: number };
  /** Bias of weight row i at `vecs[biasAt + i]`. */
  biasAt?: number;
  /** `act(y[gate + j]) · y[up + j]`, j < width, is written instead of y. */
  glu?: { act: Activation; gate: number; up: number; width: number };
  lora?: LinearLora;
  /** y += W x instead of y = W x (residual projections). */
  accumulate?: boolean;
  /** Row count from `step.outRows` (lm_head over the gathered rows). */
  useOutRows?: boolean;
  /** `y = cap · tanh(y / cap)` (Gemma 2's final logits); 0 or absent = off. */
  softcap?: number;
  label?: string;
}

/** `y (+)= glu?(norm?(x) W^T (+ b) (+ LoRA))`, one dispatch per row chunk of W. */
export function linearOp(ctx: OpContext, p: LinearOpParameters): RecordOp {
  const { weight } = p;
  const label = p.label ?? 'linear';
  if (p.x.stride % 4 !== 0 || p.x.offset % 4 !== 0) {
    throw new EngineShapeUnsupportedError(label, `its input starts at column ${p.x.offset} of ${p.x.stride}-element rows; the kernel reads 4 columns at a time`);
  }
  if (p.glu && weight.chunks.length > 1) throw new EngineShapeUnsupportedError(label, 'a projection with a GLU epilogue must fit one storage binding');
  const glu = p.glu !== undefined;
  const bindings: BindingKind[] = ['uniform', 'uniform', 'read', 'read', 'storage', 'read'];
  if (p.lora) bindings.push('read', 'read', 'read', 'read');
  const outputs = glu ? p.glu!.width : Math.max(...weight.chunks.map((c) => c.rowCount));
  const q4dot = (t: LinearTile) => weight.dtype === 'q4_0' && ctx.xshuf === true && t.tpo === 1 && !t.tiled && t.rows <= Q4DOT_MAX_ROWS && ctx.q4Dot !== false;
  // ...with x quantized to Q8_0 blocks by a pass before it (quantX.ts), the norm done there.
  const q8x = (t: LinearTile) => q4dot(t) && ctx.q4Q8x === true && (p.norm !== undefined || ctx.q8xUnnormed === true);
  // ...or a norm projection's batch tile on CPU adapters with each row's 1 / rms from a pass before it (normStats.ts).
  const statsTile = (t: LinearTile) => p.norm !== undefined && ctx.normStats === true && ctx.xshuf === true && t.tpo === 1 && !t.tiled && t.rows >= TILED_MIN_ROWS && !q8x(t);
  const tiles = linearTiles(ctx, glu)
    .map((t) => (q4dot(t) && t.rows === 1 ? { ...t, opl: Math.max(t.opl, ctx.q4Opl ?? Q4DOT_OPL) } : t))
    .map((t) => fitWorkgroup(t, outputs, glu, ctx.minGroups));
  // Q4_0 in groups of 4 rows whose decode tile's weight rows are whole groups (gate and up each of them).
  const q4Vec = (t: LinearTile) => weight.rowGroups === true && q4dot(t) && (glu ? t.opl / 2 : t.opl) % 4 === 0 && (!glu || (p.glu!.gate % 4 === 0 && p.glu!.up % 4 === 0));
  const defines = (t: LinearTile) => ({
    ...matrixDefines(weight),
    // ...whose Q4_0 decode tiles load each chunk of 4 weight rows as one vec4 (shaders/linear_q4dot.wgsl).
    Q4R4V: q4Vec(t),
    ...(q4Vec(t) ? { Q4G: t.opl / 4 } : {}),
    NORM: p.norm !== undefined && !q8x(t),
    BIAS: p.biasAt !== undefined,
    GLU: glu,
    GELU_TANH: p.glu?.act === 'gelu_tanh',
    LORA: p.lora !== undefined,
    LORA_F16: p.lora?.f16 === true,
    LORA_B8: p.lora?.f16 === true && p.lora.b8 === true,
    LORA_PAGES: p.lora?.tableAt !== undefined,
    LORA_PER_WEIGHT_ROW: ctx.loraRowDeltas === false,
    SOFTCAP: (p.softcap ?? 0) > 0,
    SUBGROUPS: ctx.subgroups && t.tpo > 1,
    XSHUF: ctx.xshuf === true && t.tpo === 1,
    // The plain broadcast kernel norms x per subgroup, without a barrier (see shaders/linear.wgsl),
    // for one row: each subgroup reads every row of x once more, so more rows cost more than the barrier.
    SGNORM: p.norm !== undefined && !q8x(t) && ctx.sgNorm === true && ctx.xshuf === true && t.tpo === 1 && !t.tiled && t.rows === 1,
    // Q4_0 weights in the plain broadcast kernel's decode tiles: by blocks, nibbles masked in place (see shaders/linear.wgsl).
    Q4DOT: q4dot(t),
    // ...with each weight row's scales loaded once per 2 blocks (the layout pairs them: quantLayout.ts).
    Q4PAIR: q4dot(t) && ctx.q4PairScales !== false,
    Q8X: q8x(t),
    NORM_STATS: statsTile(t),
    ...(statsTile(t) ? { STATS_AT: bindings.length } : {}),
    // ...as integer dot products where WGSL offers dot4I8Packed.
    Q8DOT: q8x(t) && ctx.packedDot === true,
    REDUCE_WG: !ctx.subgroups && t.tpo > 1,
    TILED: t.tiled,
    ROWS: t.rows,
    TPO: t.tpo,
    WG: t.workgroup,
    OPL: t.opl,
    ACC: t.rows * t.opl,
    RC: Math.min(t.rows * t.opl, 4),
    ...(t.kt ? { KT: t.kt } : {}),
    // Rows whose squares are reduced per round: each invocation below NR finishes one row.
    ...(p.norm ? { NR: Math.min(t.rows, t.workgroup, Math.floor(NORM_PARTIAL_BYTES / 4 / t.workgroup)) } : {}),
  });
  const kernels = tiles.map((t) => ctx.pipelines.kernel('linear.wgsl', statsTile(t) ? [...bindings, 'read'] : bindings, defines(t)));
  // Outputs per workgroup of each tile's variant.
  const opw = tiles.map((t) => (t.workgroup / t.tpo) * (glu ? t.opl / 2 : t.opl));
  const vecs = p.vecs ?? emptyStorage(ctx.device);
  const q8Tiles = tiles.filter(q8x);
  const quant = q8Tiles.length > 0 ? quantXOp(ctx, { x: p.x, k: weight.stride, rows: Math.max(...q8Tiles.map((t) => t.rows)), norm: p.norm, vecs, useOutRows: p.useOutRows, label }) : undefined;
  const statsAt = tiles.findIndex(statsTile);
  const stats = statsAt === -1 ? undefined : normStatsOp(ctx, { x: p.x, norm: p.norm!, useOutRows: p.useOutRows, label });
  const lora = p.lora;
  const parts = weight.chunks.map((chunk) => {
    const n = glu ? p.glu!.width : chunk.rowCount;
    const cols = lora ? [...lora.columns.slice(1), Infinity, Infinity].slice(0, 2).map((c) => Math.min(c, 0xffffffff)) : [0, 0];
    const ranks = lora ? [0, 1, 2].map((i) => lora.rankWords[Math.min(i, lora.rankWords.length - 1)]) : [0, 0, 0];
    const params = createUniform(
      ctx.device,
      `${label}.params`,
      u32f32([
        n,
        weight.stride,
        p.x.stride,
        p.y.stride,
        p.y.offset + (glu ? 0 : chunk.rowStart),
        p.useOutRows ? 1 : 0,
        p.x.offset,
        { f32: p.softcap ?? 0 },
        p.accumulate ? 1 : 0,
        chunk.rowCount,
        chunk.rowStart,
        p.norm?.width ?? 0,
        { f32: p.norm?.eps ?? 0 },
        p.norm?.at ?? 0,
        p.biasAt ?? 0,
        p.glu?.gate ?? 0,
        p.glu?.up ?? 0,
        lora?.infoStride ?? 0,
        ...ranks,
        ...cols,
        lora?.vStride ?? 0,
        lora?.vMember ?? 0,
        lora ? lora.vMember * weight.rows : 0,
        lora?.tableAt ?? 0,
        0,
      ]),
    );
    const extra = lora ? [lora.rowInfo, lora.info, lora.v, lora.b] : [];
    const group = bindBuffers(ctx.device, kernels[0], [ctx.stepBuffer, params, chunk.buffer, p.x.buffer, p.y.buffer, vecs, ...extra], label);
    const q8Group = quant && bindBuffers(ctx.device, kernels[0], [ctx.stepBuffer, params, chunk.buffer, quant.buffer, p.y.buffer, vecs, ...extra], label);
    const statsGroup = stats && bindBuffers(ctx.device, kernels[statsAt], [ctx.stepBuffer, params, chunk.buffer, p.x.buffer, p.y.buffer, vecs, ...extra, stats.buffer], label);
    return { group, q8Group, statsGroup, n };
  });
  return (rec, rows) => {
    const t = tiles.findIndex((tile) => tile.rows >= rows);
    const tile = t === -1 ? tiles.length - 1 : t;
    const groupsY = Math.ceil(rows / tiles[tile].rows);
    const quantized = quant !== undefined && q8x(tiles[tile]);
    if (quantized) quant.record(rec, rows);
    const normed = stats !== undefined && statsTile(tiles[tile]);
    if (normed) stats.record(rec, rows);
    for (const part of parts) rec.dispatch(kernels[tile], quantized ? part.q8Group! : normed ? part.statsGroup! : part.group, Math.ceil(part.n / opw[tile]), groupsY);
  };
}

/** Parameters of {@link rmsnormOp}. */
export interface RmsnormOpParameters {
  x: GpuAct; // [rows, h] f32
  weight: GPUBuffer; // [h] f32
  y: GpuAct; // [rows, h] f32
  eps: number;
  /** Added to the gain (Gemma's `1 + w`); default 0. */
  weightOffset?: number;
  /** Add into `y` instead of writing it. */
  add?: boolean;
  /** Normalize only the rows named by this `[outRows, OUT_ROW_WORDS] u32` table (srcRow first). */
  gather?: GPUBuffer;
}

/** RMSNorm of each row (or each gathered row). */
export function rmsnormOp(ctx: OpContext, p: RmsnormOpParameters): RecordOp {
  const bindings: BindingKind[] = ['uniform', 'uniform', 'read', 'read', 'storage'];
  if (p.gather) bindings.push('read');
  const kernel = ctx.pipelines.kernel('rmsnorm.wgsl', bindings, { GATHER: p.gather !== undefined, ADD: p.add === true, ...(p.gather ? { OUT_ROW_WORDS } : {}) });
  const params = createUniform(ctx.device, 'rmsnorm.params', u32f32([p.x.width, { f32: p.eps }, p.x.stride, p.x.offset, p.y.stride, p.y.offset, { f32: p.weightOffset ?? 0 }, 0]));
  const group = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.x.buffer, p.weight, p.y.buffer, ...(p.gather ? [p.gather] : [])]);
  return (rec, rows) => rec.dispatch(kernel, group, rows);
}

/** Parameters of {@link embedOp}. */
export interface EmbedOpParameters {
  table: GpuMatrix; // [vocab, h]
  rowInfo: GPUBuffer; // [rows] RowInfo
  x: GpuAct; // [rows, h] f32
  /** Row multiplier (Gemma's sqrt(hidden)); default 1. */
  scale?: number;
}

/** Defines that select a matrix's storage format in shaders/matrix.wgsl. */
export function matrixDefines(m: Pick<GpuMatrix, 'dtype' | 'rowGroups'>): Record<string, boolean> {
  const { dtype } = m;
  const quant = dtype === 'q8_0' || dtype === 'q4_0' || dtype === 'q4_k' || dtype === 'q6_k';
  const half = dtype === 'f16' || dtype === 'bf16';
  const groups = m.rowGroups === true;
  return { HALF: half, BF16: dtype === 'bf16', QUANT: quant, Q4R4: groups && dtype === 'q4_0', HR4: groups && half, ...(quant ? { [dtype.toUpperCase()]: true } : {}) };
}

/** Embedding rows of the step's tokens, one dispatch per table chunk. */
export function embedOp(ctx: OpContext, p: EmbedOpParameters): RecordOp {
  const kernel = ctx.pipelines.kernel('embed.wgsl', ['uniform', 'uniform', 'read', 'read', 'storage'], matrixDefines(p.table));
  const groups = p.table.chunks.map((chunk) => {
    const params = createUniform(ctx.device, 'embed.params', u32f32([p.table.cols, chunk.rowStart, chunk.rowCount, p.table.stride, p.x.stride, { f32: p.scale ?? 1 }, 0, 0]));
    return bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, chunk.buffer, p.rowInfo, p.x.buffer]);
  });
  return (rec, rows) => {
    for (const g of groups) rec.dispatch(kernel, g, rows);
  };
}

/** Elements per (position, head) in the KV cache: headDim rounded up to 4 (the attention kernel's vec4 loads). */
export function kvHeadStride(headDim: number): number {
  return Math.ceil(headDim / 4) * 4;
}

/** Parameters of {@link ropeKvOp}. */
export interface RopeKvOpParameters {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Leading elements of each head that rotate. */
  rotaryDim: number;
  /** Positions in `ropeTable`. */
  maxPos: number;
  rowInfo: GPUBuffer;
  blockTables: GPUBuffer;
  ropeTable: GPUBuffer; // [maxPos, rotaryDim / 2] vec2<f32> (cos, sin)
  q: GpuAct; // [rows, numHeads · headDim] f32, rotated in place
  k: GpuAct; // [rows, numKvHeads · headDim] f32
  v: GpuAct;
  kCache: GPUBuffer; // [numBlocks, numKvHeads, 16, kvHeadStride] f32
  vCache: GPUBuffer;
}

/** RoPE on q and k and the store of k and v into the paged cache. */
export function ropeKvOp(ctx: OpContext, p: RopeKvOpParameters): RecordOp {
  // k and v in q's buffer (Phi-3's qkv) are read through q's read-write binding: WebGPU forbids one
  // buffer bound writable and read-only in the same dispatch.
  const qkv = p.k.buffer === p.q.buffer && p.v.buffer === p.q.buffer;
  if (!qkv && (p.k.buffer === p.q.buffer || p.v.buffer === p.q.buffer)) throw new EngineShapeUnsupportedError('rope', 'k or v shares q\'s buffer but not both');
  const bindings: BindingKind[] = ['uniform', 'uniform', 'read', 'read', 'read', 'storage', 'storage', 'storage', ...(qkv ? [] : (['read', 'read'] as const))];
  const kernel = ctx.pipelines.kernel('rope_kv.wgsl', bindings, { BLOCK: KV_BLOCK_SIZE, QKV: qkv });
  const params = createUniform(
    ctx.device,
    'rope.params',
    u32f32([p.numHeads, p.numKvHeads, p.headDim, p.maxPos, p.rotaryDim, kvHeadStride(p.headDim), p.q.stride, p.q.offset, p.k.stride, p.k.offset, p.v.stride, p.v.offset]),
  );
  const group = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.rowInfo, p.blockTables, p.ropeTable, p.q.buffer, p.kCache, p.vCache, ...(qkv ? [] : [p.k.buffer, p.v.buffer])]);
  return (rec, rows) => rec.dispatch(kernel, group, rows);
}

/** Parameters of {@link attentionOp}. */
export interface AttentionOpParameters {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Multiplier of q·k. */
  scale: number;
  /** Positions attended, the row's own included; 0 = all. */
  window: number;
  /** Score soft-cap; 0 = off. */
  softcap: number;
  rowInfo: GPUBuffer;
  blockTables: GPUBuffer;
  q: GpuAct; // [rows, numHeads · headDim] f32
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  out: GpuAct; // [rows, numHeads · headDim] f32
  /**
   * RoPE and the KV store in the same dispatch (no {@link ropeKvOp} before it), for passes where
   * every sequence has one row: k and v are columns of q's buffer, rotated and stored by the
   * attention kernel itself (see shaders/attention.wgsl).
   */
  fused?: { k: GpuAct; v: GpuAct; rotaryDim: number; ropeTable: GPUBuffer };
}

/** Causal GQA attention over the paged cache, one workgroup per (row, head), or per (row, heads of a kv group) on CPU adapters' decode passes; with `fused`, RoPE and the KV store too. */
export function attentionOp(ctx: OpContext, p: AttentionOpParameters): RecordOp {
  const { fused } = p;
  if (fused && (fused.k.buffer !== p.q.buffer || fused.v.buffer !== p.q.buffer)) throw new EngineShapeUnsupportedError('attention', 'the fused kernel reads k and v from q\'s buffer');
  const wg = ctx.attentionWorkgroup ?? 32;
  // One 8-wide subgroup per workgroup (lavapipe): loads shared through broadcasts, merged without barriers (see shaders/attention.wgsl).
  const sgb = ctx.attentionBroadcast === true && wg === 8;
  // Query heads per workgroup: there (decode passes), the heads of a kv group together, so each
  // cached k and v a lane loads serves all of them (at most `attentionHeads`: registers per head).
  const group = p.numHeads / p.numKvHeads;
  let gq = 1;
  if (sgb && fused) for (gq = Math.max(1, Math.min(group, ctx.attentionHeads ?? ATTENTION_MAX_HEADS)); group % gq !== 0; gq--);
  const common = {
    HD4: kvHeadStride(p.headDim) / 4,
    WG: wg,
    BLOCK: KV_BLOCK_SIZE,
    SOFTCAP: p.softcap > 0,
    FUSED: fused !== undefined,
    GQ: gq,
    ...(fused ? { HD: p.headDim, HDP: kvHeadStride(p.headDim), ROT_HALF: fused.rotaryDim / 2 } : {}),
  };
  const defines = { ...common, SGBCAST: sgb, SGBFLY: sgb && ctx.attentionButterfly !== false, ...(sgb && fused ? { HD8: Math.ceil(p.headDim / 8), RH8: Math.ceil(fused.rotaryDim / 16) } : {}) };
  const bindings: BindingKind[] = ['uniform', 'uniform', 'read', 'read', 'read', fused ? 'storage' : 'read', fused ? 'storage' : 'read', 'storage', ...(fused ? (['read'] as const) : [])];
  // Decode passes there: the lanes split the dimensions instead (see shaders/attention_dims.wgsl), where the shapes allow.
  const dims = sgb && fused !== undefined && ctx.attentionDims !== false && p.headDim % 32 === 0 && fused.rotaryDim > 0 && fused.rotaryDim % 64 === 0;
  const kernel = dims ? ctx.pipelines.kernel('attention_dims.wgsl', bindings, { ...common, LANE_VEC4: p.headDim / 32, ROT_VEC4: fused.rotaryDim / 64 }) : ctx.pipelines.kernel('attention.wgsl', bindings, defines);
  const params = createUniform(
    ctx.device,
    'attention.params',
    u32f32([
      p.numHeads,
      p.numKvHeads,
      p.headDim,
      { f32: p.scale },
      p.window,
      { f32: p.softcap },
      p.q.stride,
      p.q.offset,
      p.out.stride,
      p.out.offset,
      fused?.k.offset ?? 0,
      fused?.v.offset ?? 0,
      fused?.rotaryDim ?? 0,
      0,
    ]),
  );
  const bindGroup = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.rowInfo, p.blockTables, p.q.buffer, p.kCache, p.vCache, p.out.buffer, ...(fused ? [fused.ropeTable] : [])]);
  return (rec, rows) => rec.dispatch(kernel, bindGroup, rows, p.numHeads / gq);
}

/** Parameters of {@link gluOp}. */
export interface GluOpParameters {
  gate: GpuAct; // [rows, width] f32, overwritten with act(gate) * up
  up: GpuAct; // [rows, width] f32
  act: Activation;
}

/** The gated MLP activation `act(gate) * up`, in place in `gate`. */
export function gluOp(ctx: OpContext, p: GluOpParameters): RecordOp {
  const shared = p.gate.buffer === p.up.buffer; // one binding (see glu.wgsl)
  const kernel = ctx.pipelines.kernel('glu.wgsl', ['uniform', 'uniform', 'storage', ...(shared ? [] : (['read'] as const))], { GELU_TANH: p.act === 'gelu_tanh', SHARED: shared });
  const width = p.gate.width;
  const params = createUniform(ctx.device, 'glu.params', u32f32([width, p.gate.stride, p.gate.offset, p.up.stride, p.up.offset, 0, 0, 0]));
  const group = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.gate.buffer, ...(shared ? [] : [p.up.buffer])]);
  return (rec, rows) => {
    const groups = Math.ceil((rows * width) / 256);
    const x = Math.min(groups, MAX_GROUPS);
    rec.dispatch(kernel, group, x, Math.ceil(groups / x));
  };
}

/** Parameters of {@link sampleOp}. */
export interface SampleOpParameters {
  vocab: number;
  outRows: GPUBuffer; // [outRows, OUT_ROW_WORDS] u32
  logits: GPUBuffer; // [outRows, vocab] f32, adjusted in place
  result: GPUBuffer; // [outRows, 2] u32 (token, logprob f32 bits)
  masks: GPUBuffer; // [mask rows, ceil(vocab / 32)] u32
  adjust: GPUBuffer; // [entries, 4] u32 (token, delta f32 bits, raw logit written back, 0)
  top: GPUBuffer; // [outRows, 20, 2] u32 (token, logprob f32 bits)
}

/** Token choice and log-probabilities per output row (see shaders/sample.wgsl). */
export function sampleOp(ctx: OpContext, p: SampleOpParameters): RecordOp {
  const kernel: Kernel = ctx.pipelines.kernel('sample.wgsl', ['uniform', 'uniform', 'read', 'storage', 'storage', 'read', 'storage', 'storage'], { OUT_ROW_WORDS });
  const params = createUniform(ctx.device, 'sample.params', u32f32([p.vocab, Math.ceil(p.vocab / 32), 0, 0]));
  const group = bindBuffers(ctx.device, kernel, [ctx.stepBuffer, params, p.outRows, p.logits, p.result, p.masks, p.adjust, p.top]);
  return (rec, outRows) => rec.dispatch(kernel, group, outRows);
}
