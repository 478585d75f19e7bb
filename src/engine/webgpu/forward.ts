/**
 * The forward pass over one step's rows: the architecture's recipe (`src/model/arch/`), fused
 * (`fuse.ts`: q|k|v and gate|up projections, norms in projection prologues, GLU in epilogues),
 * as prepared ops recorded into one command encoder. A Llama layer is five dispatches: q|k|v
 * (norm prologue), attention (RoPE and the KV store included), o (residual add), gate|up (norm
 * prologue, GLU epilogue), down (residual add); with adapters, one LoRA shrink before each
 * projection (the expands are the projections' epilogues). Activations are f32 `[rows, matrixStride(width)]`
 * buffers (rows padded as weight rows are, so the linear kernel's padded k reads zero columns); the paged KV cache is f32, one K and one V buffer per layer
 * (`[numBlocks, numKvHeads, 16, kvHeadStride(headDim)]`, `kvCache.ts`).
 */
import type { ModelConfig } from '../../model/config.ts';
import type { ActRef } from '../../model/arch/recipe.ts';
import type { FusedOp } from '../../model/arch/fuse.ts';
import { ropeTable } from '../../model/arch/rope.ts';
import { MAX_TOP_LOGPROBS } from '../backend.ts';
import { OUT_ROW_WORDS } from './passPlan.ts';
import { attentionOp, embedOp, gluOp, linearOp, rmsnormOp, ropeKvOp, sampleOp, wholeAct, type GpuAct, type OpContext, type RecordOp } from './ops.ts';
import type { GpuKvCache } from './kvCache.ts';
import type { GpuLora } from './lora/runner.ts';
import { ROW_INFO_WORDS } from './passPlan.ts';
import type { Recorder } from './recorder.ts';
import { createDataBuffer, matrixStride, type GpuWeights } from './weights.ts';

/** Parameters of {@link createForward}. */
export interface CreateForwardParameters {
  ctx: OpContext;
  config: ModelConfig;
  weights: GpuWeights;
  /** The paged KV cache (the backend owns it: in unified memory the LoRA page pool writes adapters into it too). */
  kv: GpuKvCache;
  /** Rows (tokens) one pass runs at most. */
  maxRows: number;
  /** Rows that get logits in one pass at most. */
  maxOutRows: number;
  /** Positions a sequence may reach (size of the RoPE table). */
  maxContext: number;
  /** Entries of the flattened block tables of one pass at most. */
  maxBlockEntries: number;
  /** LoRA kernels: a shrink before every projection, the expand in its epilogue (the caller sets the rows' slots per pass). */
  lora?: GpuLora;
  /** Fuse RoPE and the KV store into attention in passes where every sequence has one row (default true). */
  fusedAttention?: boolean;
}

/** Device buffers the caller writes per pass, and the recorded pass itself. */
export interface Forward {
  /** `Step` uniform: rows, outRows. */
  stepBuffer: GPUBuffer;
  rowInfo: GPUBuffer; // [maxRows, ROW_INFO_WORDS] u32 (passPlan.ts)
  blockTables: GPUBuffer; // [maxBlockEntries] u32
  outRows: GPUBuffer; // [maxOutRows, OUT_ROW_WORDS] u32
  logits: GPUBuffer; // [maxOutRows, vocab] f32
  result: GPUBuffer; // [maxOutRows, 2] u32
  masks: GPUBuffer; // [maxOutRows, ceil(vocab / 32)] u32
  top: GPUBuffer; // [maxOutRows, MAX_TOP_LOGPROBS, 2] u32
  /** Entries the adjustment buffer holds; {@link Forward.growAdjust} makes room for more. */
  readonly adjustCapacity: number;
  /** The adjustment buffer ([entries, 4] u32). */
  readonly adjust: GPUBuffer;
  /** Replaces the adjustment buffer with one of at least `entries` entries (rebinding the sample op). */
  growAdjust(entries: number): void;
  /**
   * Records the whole pass: embeddings, layers, final norm, lm_head, sampling. `oneRowEach`: every
   * sequence has one row in the pass (decode), so attention can store the KV cache itself.
   */
  record(rec: Recorder, rows: number, outRows: number, oneRowEach: boolean): void;
  /** Dispatches such a pass records, in the layers and in all (with the current LoRA rows). */
  dispatches(rows: number, outRows: number, oneRowEach: boolean): { layers: number; total: number };
  /** Bytes of KV cache on the device. */
  kvBytes: number;
  destroy(): void;
}

/** Allocates the pass's buffers and prepares every op of the model's recipe. */
export function createForward(p: CreateForwardParameters): Forward {
  const { ctx, config, weights, maxRows, maxOutRows } = p;
  const { device } = ctx;
  const { recipe } = weights;
  const owned: GPUBuffer[] = [];
  const buffer = (label: string, bytes: number, usage = GPUBufferUsage.STORAGE) => {
    const b = device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: usage | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    owned.push(b);
    return b;
  };
  const h = config.hiddenSize;
  const vocab = config.vocabSize;

  const stepBuffer = ctx.stepBuffer;
  const rowInfo = buffer('rowInfo', maxRows * ROW_INFO_WORDS * 4);
  const blockTables = buffer('blockTables', p.maxBlockEntries * 4);
  const outRowsBuf = buffer('outRows', maxOutRows * OUT_ROW_WORDS * 4);
  // Activation buffers of the recipe, [maxRows, matrixStride(width)] f32 each; x is the residual stream.
  const acts = new Map(Object.entries(recipe.acts).map(([name, width]) => [name, { buffer: buffer(name, maxRows * matrixStride(width) * 4), width }]));
  const act = (ref: ActRef): GpuAct => {
    const a = acts.get(ref.buffer)!;
    return { buffer: a.buffer, stride: matrixStride(a.width), offset: ref.offset, width: ref.width };
  };
  const whole = (name: string): GpuAct => act({ buffer: name, offset: 0, width: recipe.acts[name] });
  const xo = wholeAct(buffer('xo', maxOutRows * matrixStride(h) * 4), h, matrixStride(h)); // [outRows, hidden] final-normed gathered rows
  const logits = buffer('logits', maxOutRows * vocab * 4);
  const result = buffer('result', maxOutRows * 8);
  const masks = buffer('masks', maxOutRows * Math.ceil(vocab / 32) * 4);
  const top = buffer('top', maxOutRows * MAX_TOP_LOGPROBS * 8);
  let adjustCapacity = 4096;
  let adjust = device.createBuffer({ label: 'adjust', size: adjustCapacity * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const rope = createDataBuffer(device, 'ropeTable', ropeTable(config, p.maxContext)); // [maxContext, rotaryDim / 2] (cos, sin)
  owned.push(rope);

  const kvCaches = p.kv.layers;

  let oneRowEach = false; // of the pass being recorded
  /** One op of the fused recipe as prepared dispatches. */
  const prepare = (op: FusedOp): RecordOp => {
    switch (op.op) {
      case 'rmsnorm':
        return rmsnormOp(ctx, { x: act(op.x), weight: weights.vector(op.weight.name), y: act(op.out), eps: op.eps, weightOffset: op.weightOffset, add: op.add });
      case 'linear': {
        const x = act(op.x);
        const vecs = weights.opVectors(op);
        const norm = op.norm && { at: vecs.normAt!, width: op.cols, eps: op.norm.eps };
        const { lora } = p;
        const base = linearOp(ctx, {
          weight: weights.matrix(op.key),
          x,
          y: act(op.out),
          vecs: vecs.buffer,
          norm,
          biasAt: vecs.biasAt,
          glu: op.glu,
          lora: lora?.epilogue(op, rowInfo),
          accumulate: op.accumulate,
          label: op.key,
        });
        if (!lora) return base;
        // v = A x of every member first; the projection's epilogue adds scale · B v.
        const shrink = lora.shrinkOp({ op, x, vecs: vecs.buffer, norm });
        return (rec, rows) => {
          shrink(rec, rows);
          base(rec, rows);
        };
      }
      case 'attention': {
        const heads = { numHeads: config.numHeads, numKvHeads: config.numKvHeads, headDim: config.headDim };
        const cache = kvCaches[op.layer];
        const q = act(op.q);
        const common = { ...heads, scale: op.scale, window: op.window, softcap: op.softcap, rowInfo, blockTables, kCache: cache.k, vCache: cache.v, out: act(op.out) };
        const store = ropeKvOp(ctx, { ...heads, rotaryDim: config.rotaryDim, maxPos: p.maxContext, rowInfo, blockTables, ropeTable: rope, q, k: act(op.k), v: act(op.v), kCache: cache.k, vCache: cache.v });
        const attend = attentionOp(ctx, { ...common, q });
        const split: RecordOp = (rec, rows) => {
          store(rec, rows);
          attend(rec, rows);
        };
        if (op.k.buffer !== op.q.buffer || op.v.buffer !== op.q.buffer || p.fusedAttention === false) return split;
        // Decode passes: one dispatch (the sequence's only new position is the row's own).
        const fused = attentionOp(ctx, { ...common, q, fused: { k: act(op.k), v: act(op.v), rotaryDim: config.rotaryDim, ropeTable: rope } });
        return (rec, rows) => (oneRowEach ? fused(rec, rows) : split(rec, rows));
      }
      case 'glu':
        return gluOp(ctx, { gate: act(op.gate), up: act(op.up), act: op.act });
    }
  };

  const embed = embedOp(ctx, { table: weights.matrix(recipe.embed.weight.name), rowInfo, x: whole('x'), scale: recipe.embed.scale });
  const ops: RecordOp[] = [];
  for (const layer of recipe.layers) for (const op of layer) ops.push(prepare(op));
  const { finalNorm, lmHead } = recipe;
  const outOps: RecordOp[] = [
    rmsnormOp(ctx, { x: whole('x'), weight: weights.vector(finalNorm.weight.name), y: xo, eps: finalNorm.eps, weightOffset: finalNorm.weightOffset, gather: outRowsBuf }),
    linearOp(ctx, { weight: weights.matrix(lmHead.weight.name), x: xo, y: wholeAct(logits, vocab), useOutRows: true, softcap: lmHead.softcap, label: 'lm_head' }),
  ];
  let sample = sampleOp(ctx, { vocab, outRows: outRowsBuf, logits, result, masks, adjust, top });

  return {
    stepBuffer,
    rowInfo,
    blockTables,
    outRows: outRowsBuf,
    logits,
    result,
    kvBytes: p.kv.bytes,
    masks,
    top,
    get adjust() {
      return adjust;
    },
    get adjustCapacity() {
      return adjustCapacity;
    },
    growAdjust(entries) {
      if (entries <= adjustCapacity) return;
      while (adjustCapacity < entries) adjustCapacity *= 2;
      adjust.destroy();
      adjust = device.createBuffer({ label: 'adjust', size: adjustCapacity * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      sample = sampleOp(ctx, { vocab, outRows: outRowsBuf, logits, result, masks, adjust, top });
    },
    record(rec, rows, outRows, single) {
      oneRowEach = single;
      embed(rec, rows);
      for (const op of ops) op(rec, rows);
      for (const op of outOps) op(rec, outRows);
      sample(rec, outRows);
    },
    dispatches(rows, outRows, single) {
      oneRowEach = single;
      let count = 0;
      const counter: Recorder = { dispatch: () => void count++, end() {} };
      for (const op of ops) op(counter, rows);
      const layers = count;
      embed(counter, rows);
      for (const op of outOps) op(counter, outRows);
      sample(counter, outRows);
      return { layers, total: count };
    },
    destroy() {
      for (const b of owned) b.destroy();
      adjust.destroy();
    },
  };
}
