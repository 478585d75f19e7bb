/**
 * The CPU backend's forward pass over one batch of rows (every sequence's rows of a step, as on
 * WebGPU): the architecture's recipe interpreted op by op with the WebAssembly kernels, activations
 * `[rows, width]` f32 in shared memory. Consecutive projections reading the same input (q/k/v,
 * gate/up) run as one matmul job, then their LoRA shrinks as one job and expands as another, each
 * over the rows of every slot's segment (SGMV); attention is one job over rows × heads.
 */
import type { ModelConfig } from '../../model/config.ts';
import type { ActRef, LayerOp, LinearOp } from '../../model/arch/recipe.ts';
import { KV_BLOCK_SIZE } from '../backend.ts';
import type { KernelExports } from './kernels.ts';
import type { CpuLoraFactors, CpuWasmLoraPool } from './lora.ts';
import type { CpuMemory } from './memory.ts';
import { JOB_HEADER, MAX_TASKS, TASK_BYTES, matmulJobWriter, runMatmulJob, type Task } from './matmulJob.ts';
import { stopwatch, type CpuStepProfile } from './stepProfile.ts';
import { JOB, type ThreadPool } from './threads.ts';
import { KIND, type CpuMatrix, type CpuWeights } from './weights.ts';

/** Largest group of projections sharing an input (q, k, v). */
const MAX_GROUP = 4;

/** Buffers of a forward pass, allocated once for `maxRows` rows. */
export interface CpuPassBuffers {
  maxRows: number;
  /** Activation buffers by recipe name: pointer, width. */
  acts: Map<string, { ptr: number; width: number }>;
  /** x pre-scaled for f16 weights / quantized to Q8_0 for Q8_0 and Q4_0 weights. */
  xs: number;
  xq: number;
  xd: number;
  /** Rotated queries and keys. */
  qr: number;
  kr: number;
  /** (cos, sin) per row and rotary pair. */
  cs: number;
  tokens: number;
  pos: number;
  btOff: number;
  tables: number;
  maxTables: number;
  /** LoRA shrink outputs: `[rows, MAX_GROUP · maxRank]`. */
  loraV: number;
  matmulJob: number;
  attentionJob: number;
  attScratch: number;
  attScratchBytes: number;
  /** Final-normed rows that get logits, and their logits. */
  hidden: number;
  logits: number;
  maxLogitRows: number;
}

/** Parameters of {@link allocPassBuffers}. */
export interface AllocPassBuffersParameters {
  mem: CpuMemory;
  config: ModelConfig;
  acts: Record<string, number>;
  maxRows: number;
  maxLogitRows: number;
  maxRank: number;
  threads: number;
  /** Positions a sequence may hold (attention scores per thread). */
  maxContext: number;
  numKvBlocks: number;
}

/** Allocates the buffers of a pass. */
export function allocPassBuffers(p: AllocPassBuffersParameters): CpuPassBuffers {
  const { mem, config: c, maxRows } = p;
  const maxIn = Math.max(c.hiddenSize, ...c.modules.map((m) => m.in));
  const f32 = (n: number) => mem.alloc(n * 4);
  const acts = new Map(Object.entries(p.acts).map(([name, width]) => [name, { ptr: f32(maxRows * width), width }]));
  const half = c.rotaryDim / 2;
  const maxTables = Math.max(p.numKvBlocks, Math.ceil(p.maxContext / KV_BLOCK_SIZE)) * 4 + maxRows;
  const attScratchBytes = Math.ceil((p.maxContext * 4) / 64) * 64;
  return {
    maxRows,
    acts,
    xs: f32(maxRows * maxIn),
    xq: mem.alloc(maxRows * maxIn),
    xd: f32(maxRows * Math.ceil(maxIn / 32) * 2),
    qr: f32(maxRows * c.numHeads * c.headDim),
    kr: f32(maxRows * c.numKvHeads * c.headDim),
    cs: f32(maxRows * half * 2),
    tokens: f32(maxRows),
    pos: f32(maxRows),
    btOff: f32(maxRows),
    tables: f32(maxTables),
    maxTables,
    loraV: f32(maxRows * MAX_GROUP * Math.max(1, p.maxRank)),
    matmulJob: mem.alloc(JOB_HEADER + MAX_TASKS * TASK_BYTES),
    attentionJob: mem.alloc(128),
    attScratch: mem.alloc(attScratchBytes * p.threads),
    attScratchBytes,
    hidden: f32(p.maxLogitRows * c.hiddenSize),
    logits: f32(p.maxLogitRows * c.vocabSize),
    maxLogitRows: p.maxLogitRows,
  };
}

/** One sequence's rows in a pass. */
export interface PassSegment {
  tokens: ArrayLike<number>;
  startPos: number;
  blockTable: ArrayLike<number>;
  adapterSlot: number;
}

/** What a forward pass needs. */
export interface CpuForwardContext {
  config: ModelConfig;
  weights: CpuWeights;
  kernels: KernelExports;
  mem: CpuMemory;
  pool: ThreadPool;
  lora: CpuWasmLoraPool;
  buffers: CpuPassBuffers;
  /** The KV pool. */
  cache: number;
  /** f32 from one KV block to the next (one page in unified memory; at least `layers · 2 · 16 · kvHeads · headDim`). */
  blockFloats: number;
  invFreq: Float32Array;
  /** When set, each pass adds the milliseconds its phases took (`bench:batch`). */
  profile?: CpuStepProfile;
}

/** The pass's matmul job buffer and threads. */
const jobOf = (ctx: CpuForwardContext) => ({ mem: ctx.mem, pool: ctx.pool, job: ctx.buffers.matmulJob });

/** Parameters of {@link matmulInput}. */
interface MatmulInputParameters {
  ctx: CpuForwardContext;
  /** f32 rows. */
  x: number;
  xStride: number;
  rows: number;
  in: number;
  kinds: ReadonlySet<number>;
}

/** The input forms the weight kinds need: f32 as is, pre-scaled for f16, Q8_0 for quantized. */
function matmulInput(p: MatmulInputParameters): (kind: number) => Pick<Task, 'x' | 'xStride' | 'xd'> {
  const { ctx, x, xStride, rows } = p;
  const b = ctx.buffers;
  if (p.kinds.has(KIND.f16)) ctx.kernels.prescale(x, xStride, rows, p.in, b.xs);
  if (p.kinds.has(KIND.q8_0) || p.kinds.has(KIND.q4_0)) ctx.kernels.quantizeRows(x, xStride, rows, p.in, b.xq, b.xd);
  return (kind) => {
    if (kind === KIND.f16) return { x: b.xs, xStride: p.in, xd: 0 };
    if (kind === KIND.f32) return { x, xStride, xd: 0 };
    return { x: b.xq, xStride: p.in, xd: b.xd };
  };
}

/** Parameters of {@link forwardPass}. */
export interface ForwardPassParameters {
  ctx: CpuForwardContext;
  segments: readonly PassSegment[];
  /** Row indices (into the pass's rows) that get logits, at most `maxLogitRows`... any count: chunked. */
  logitRows: readonly number[];
  /** Called with each chunk of logit rows: `logits` holds `rows.length` rows of `vocab`. */
  onLogits(rows: readonly number[], logits: Float32Array): void;
  signal?: AbortSignal;
}

/** Runs the decoder over the segments' rows (writing their KV), then lm_head on `logitRows`. */
export function forwardPass(p: ForwardPassParameters): void {
  const { ctx, segments } = p;
  const { config: c, weights, kernels: k, buffers: b } = ctx;
  const recipe = weights.recipe;
  const R = segments.reduce((n, s) => n + s.tokens.length, 0);
  const i32 = ctx.mem.i32();
  const f32 = ctx.mem.f32();
  const lap = stopwatch(ctx.profile);

  // Row tables: token, position, offset of the sequence's block table.
  let row = 0;
  let tableAt = 0;
  const slots: { start: number; count: number; slot: number }[] = [];
  for (const s of segments) {
    for (let i = 0; i < s.blockTable.length; i++) i32[b.tables / 4 + tableAt + i] = s.blockTable[i];
    for (let i = 0; i < s.tokens.length; i++) {
      i32[b.tokens / 4 + row + i] = s.tokens[i];
      i32[b.pos / 4 + row + i] = s.startPos + i;
      i32[b.btOff / 4 + row + i] = tableAt;
    }
    const last = slots[slots.length - 1];
    if (s.adapterSlot >= 0 && ctx.lora.adapter(s.adapterSlot) && last && last.slot === s.adapterSlot && last.start + last.count === row) last.count += s.tokens.length;
    else if (s.adapterSlot >= 0 && ctx.lora.adapter(s.adapterSlot)) slots.push({ start: row, count: s.tokens.length, slot: s.adapterSlot });
    tableAt += s.blockTable.length;
    row += s.tokens.length;
  }
  // RoPE (cos, sin) per row, computed as the reference does: angle = f32(pos · invFreq[i]).
  const half = ctx.invFreq.length;
  for (let r = 0; r < R; r++) {
    const pos = i32[b.pos / 4 + r];
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * ctx.invFreq[i]);
      f32[b.cs / 4 + (r * half + i) * 2] = Math.cos(angle);
      f32[b.cs / 4 + (r * half + i) * 2 + 1] = Math.sin(angle);
    }
  }

  const act = (ref: ActRef) => {
    const a = b.acts.get(ref.buffer)!;
    return { ptr: a.ptr + ref.offset * 4, stride: a.width };
  };
  const embed = weights.matrix(recipe.embed.weight.name);
  const x = act({ buffer: 'x', offset: 0, width: c.hiddenSize });
  k.embed(embed.ptr, embed.kind, c.hiddenSize, embed.rows, b.tokens, R, x.ptr, x.stride, recipe.embed.scale);
  lap('other');

  for (const ops of recipe.layers) {
    p.signal?.throwIfAborted();
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (op.op === 'rmsnorm') {
        const xi = act(op.x);
        const out = act(op.out);
        k.rmsnorm(xi.ptr, xi.stride, weights.vector(op.weight.name), out.ptr, out.stride, R, op.x.width, op.eps, op.weightOffset, op.add ? 1 : 0);
        lap('other');
      } else if (op.op === 'linear') {
        const group: LinearOp[] = [op];
        while (group.length < MAX_GROUP && sameInput(ops[i + group.length], op)) group.push(ops[i + group.length] as LinearOp);
        linearGroup(ctx, group, R, slots, lap);
        i += group.length - 1;
      } else if (op.op === 'attention') {
        attention(ctx, op, R, act);
        lap('attention');
      } else if (op.op === 'glu') {
        const g = act(op.gate);
        const u = act(op.up);
        k.glu(g.ptr, g.stride, u.ptr, u.stride, R, op.gate.width, op.act === 'silu' ? 0 : 1);
        lap('other');
      }
    }
  }

  // Final norm of the logit rows and lm_head, in chunks.
  const head = weights.matrix(recipe.lmHead.weight.name);
  const fn = recipe.finalNorm;
  for (let start = 0; start < p.logitRows.length; start += b.maxLogitRows) {
    const rows = p.logitRows.slice(start, start + b.maxLogitRows);
    rows.forEach((r, j) => k.rmsnorm(x.ptr + r * x.stride * 4, x.stride, weights.vector(fn.weight.name), b.hidden + j * c.hiddenSize * 4, c.hiddenSize, 1, c.hiddenSize, fn.eps, fn.weightOffset, 0));
    lap('other');
    const input = matmulInput({ ctx, x: b.hidden, xStride: c.hiddenSize, rows: rows.length, in: c.hiddenSize, kinds: new Set([head.kind]) });
    runMatmulJob(jobOf(ctx), [{ kind: head.kind, ...input(head.kind), w: head.ptr, y: b.logits, yStride: c.vocabSize, rows: rows.length, in: c.hiddenSize, out: c.vocabSize, bias: 0, acc: false, scale: 1, cap: recipe.lmHead.softcap }]);
    lap('matmul');
    p.onLogits(rows, new Float32Array(ctx.mem.memory.buffer, b.logits, rows.length * c.vocabSize));
    lap('logits');
  }
}

/** True when `next` is a projection of the same input as `op` (and does not write it). */
function sameInput(next: LayerOp | undefined, op: LinearOp): boolean {
  return next?.op === 'linear' && next.x.buffer === op.x.buffer && next.x.offset === op.x.offset && next.x.width === op.x.width && next.out.buffer !== op.x.buffer;
}

/** Projections sharing one input as one job, then their LoRA deltas per slot segment. */
function linearGroup(ctx: CpuForwardContext, group: readonly LinearOp[], R: number, slots: readonly { start: number; count: number; slot: number }[], lap: ReturnType<typeof stopwatch>): void {
  const { buffers: b, weights } = ctx;
  const xa = b.acts.get(group[0].x.buffer)!;
  const xPtr = xa.ptr + group[0].x.offset * 4;
  const mats = group.map((op) => weights.matrix(op.weight.name));
  const input = matmulInput({ ctx, x: xPtr, xStride: xa.width, rows: R, in: group[0].x.width, kinds: new Set(mats.map((m) => m.kind)) });
  const outOf = (op: LinearOp) => {
    const a = b.acts.get(op.out.buffer)!;
    return { ptr: a.ptr + op.out.offset * 4, stride: a.width };
  };
  runMatmulJob(
    jobOf(ctx),
    group.map((op, i) => {
      const y = outOf(op);
      const m: CpuMatrix = mats[i];
      return { kind: m.kind, ...input(m.kind), w: m.ptr, y: y.ptr, yStride: y.stride, rows: R, in: op.module.in, out: op.module.out, bias: op.bias ? weights.vector(op.bias.name) : 0, acc: op.accumulate, scale: 1, cap: 0 };
    }),
  );
  lap('matmul');
  if (slots.length === 0) return;
  const vStride = MAX_GROUP * ctx.lora.maxRank;
  // Each (member, segment) with its factors, looked up once for both jobs.
  const parts: { gi: number; seg: (typeof slots)[number]; f: CpuLoraFactors; y: { ptr: number; stride: number }; in: number }[] = [];
  group.forEach((op, gi) => {
    const y = outOf(op);
    for (const seg of slots) {
      const f = ctx.lora.factors(seg.slot, op.layer, op.module.name);
      if (f) parts.push({ gi, seg, f, y, in: op.module.in });
    }
  });
  if (parts.length === 0) {
    lap('lora');
    return;
  }
  // One task per run of factor rows (the whole factor in a padded slot; in unified memory a
  // factor may lie in several pages): A's rows are shrink outputs, B's rows output features. Every
  // shrink finishes before an expand reads its output.
  const writer = matmulJobWriter(jobOf(ctx));
  const vOf = (p: (typeof parts)[number]) => b.loraV + (p.seg.start * vStride + p.gi * ctx.lora.maxRank) * 4;
  for (const p of parts) {
    const x = xPtr + p.seg.start * xa.width * 4;
    const v = vOf(p);
    for (const run of p.f.a) writer.push(KIND.f32, x, xa.width, run.ptr, v + run.firstRow * 4, vStride, p.seg.count, p.in, run.rows, 0, false, 1, 0, 0);
  }
  writer.run();
  for (const p of parts) {
    const { rank, scale } = ctx.lora.adapter(p.seg.slot)!;
    const v = vOf(p);
    for (const run of p.f.b) writer.push(KIND.f32, v, vStride, run.ptr, p.y.ptr + (p.seg.start * p.y.stride + run.firstRow) * 4, p.y.stride, p.seg.count, rank, run.rows, 0, true, scale, 0, 0);
  }
  writer.run();
  lap('lora');
}

/** RoPE into scratch, K/V into the paged cache, then the attention job. */
function attention(ctx: CpuForwardContext, op: Extract<LayerOp, { op: 'attention' }>, R: number, act: (ref: ActRef) => { ptr: number; stride: number }): void {
  const { config: c, kernels: k, buffers: b } = ctx;
  const hd = c.headDim;
  const half = ctx.invFreq.length;
  const q = act(op.q);
  const kk = act(op.k);
  const v = act(op.v);
  const kvW = c.numKvHeads * hd;
  k.rope(q.ptr, q.stride, b.qr, c.numHeads * hd, R, c.numHeads, hd, half, b.cs);
  k.rope(kk.ptr, kk.stride, b.kr, kvW, R, c.numKvHeads, hd, half, b.cs);
  k.kvStore(b.kr, kvW, ctx.cache, ctx.blockFloats, op.layer, 0, kvW, R, b.pos, b.btOff, b.tables);
  k.kvStore(v.ptr, v.stride, ctx.cache, ctx.blockFloats, op.layer, 1, kvW, R, b.pos, b.btOff, b.tables);
  const out = act(op.out);
  const i32 = ctx.mem.i32();
  const f32 = ctx.mem.f32();
  const j = b.attentionJob / 4;
  i32[j] = b.qr;
  i32[j + 1] = out.ptr;
  i32[j + 2] = out.stride;
  i32[j + 3] = ctx.cache;
  i32[j + 4] = R;
  i32[j + 5] = c.numHeads;
  i32[j + 6] = c.numKvHeads;
  i32[j + 7] = hd;
  i32[j + 8] = op.layer;
  i32[j + 9] = ctx.blockFloats;
  i32[j + 10] = b.pos;
  i32[j + 11] = b.btOff;
  i32[j + 12] = b.tables;
  i32[j + 13] = op.window;
  f32[j + 14] = op.scale;
  f32[j + 15] = op.softcap;
  i32[j + 16] = b.attScratch;
  i32[j + 17] = b.attScratchBytes;
  ctx.pool.run(JOB.attention, b.attentionJob);
}
