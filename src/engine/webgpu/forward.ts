/**
 * The forward pass over one step's rows: the architecture's recipe (`src/model/arch/`) as
 * prepared ops recorded into one command encoder. Activations are f32 `[rows, matrixStride(width)]`
 * buffers (rows padded as weight rows are, so the linear kernel's padded k reads zero columns); the paged KV cache is f32, one K and one V buffer per layer
 * (`[numBlocks, numKvHeads, 16, kvHeadStride(headDim)]`).
 */
import type { ModelConfig } from '../../model/config.ts';
import type { ActRef, LayerOp } from '../../model/arch/recipe.ts';
import { ropeTable } from '../../model/arch/rope.ts';
import { EngineShapeUnsupportedError } from '../errors.ts';
import { KV_BLOCK_SIZE, MAX_TOP_LOGPROBS } from '../backend.ts';
import { OUT_ROW_WORDS } from './passPlan.ts';
import { attentionOp, embedOp, gluOp, kvHeadStride, linearOp, rmsnormOp, ropeKvOp, sampleOp, wholeAct, type GpuAct, type OpContext, type RecordOp } from './ops.ts';
import type { GpuLora } from './lora/runner.ts';
import type { Recorder } from './recorder.ts';
import { createDataBuffer, matrixStride, type GpuWeights } from './weights.ts';

/** Parameters of {@link createForward}. */
export interface CreateForwardParameters {
  ctx: OpContext;
  config: ModelConfig;
  weights: GpuWeights;
  numKvBlocks: number;
  /** Rows (tokens) one pass runs at most. */
  maxRows: number;
  /** Rows that get logits in one pass at most. */
  maxOutRows: number;
  /** Positions a sequence may reach (size of the RoPE table). */
  maxContext: number;
  /** Entries of the flattened block tables of one pass at most. */
  maxBlockEntries: number;
  /** Largest storage binding, bytes. */
  maxBindingBytes: number;
  /** LoRA kernels: shrink + expand after every projection (the caller sets the rows' slots per pass). */
  lora?: GpuLora;
}

/** Device buffers the caller writes per pass, and the recorded pass itself. */
export interface Forward {
  /** `Step` uniform: rows, outRows. */
  stepBuffer: GPUBuffer;
  rowInfo: GPUBuffer; // [maxRows, 4] u32: token, pos, btOffset, 0
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
  /** Records the whole pass: embeddings, layers, final norm, lm_head, sampling. */
  record(rec: Recorder, rows: number, outRows: number): void;
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
  const kvDim = config.numKvHeads * kvHeadStride(config.headDim);
  const vocab = config.vocabSize;

  const stepBuffer = ctx.stepBuffer;
  const rowInfo = buffer('rowInfo', maxRows * 16);
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

  const kvLayerBytes = p.numKvBlocks * kvDim * KV_BLOCK_SIZE * 4;
  if (kvLayerBytes > p.maxBindingBytes) {
    throw new EngineShapeUnsupportedError('kv cache', `${p.numKvBlocks} blocks need ${kvLayerBytes} bytes per layer, over the ${p.maxBindingBytes}-byte binding limit`);
  }
  const kvCaches = recipe.layers.map((_, l) => ({ k: buffer(`kCache.${l}`, kvLayerBytes), v: buffer(`vCache.${l}`, kvLayerBytes) }));

  /** One recipe op as prepared dispatches. */
  const prepare = (op: LayerOp): RecordOp => {
    switch (op.op) {
      case 'rmsnorm':
        return rmsnormOp(ctx, { x: act(op.x), weight: weights.vector(op.weight.name), y: act(op.out), eps: op.eps, weightOffset: op.weightOffset, add: op.add });
      case 'linear': {
        // The base dispatch, then LoRA's shrink/expand adding scale · B (A x) into the same
        // output columns (rows without an adapter do no LoRA work).
        const x = act(op.x);
        const y = act(op.out);
        const base = linearOp(ctx, { weight: weights.matrix(op.weight.name), bias: op.bias && weights.vector(op.bias.name), x, y, accumulate: op.accumulate, label: op.weight.name });
        const { lora } = p;
        if (!lora) return base;
        return (rec, rows) => {
          base(rec, rows);
          lora.encode({ pass: rec, layer: op.layer, projection: op.module.name, x: { buffer: x.buffer, stride: x.stride, offset: x.offset }, y: { buffer: y.buffer, stride: y.stride, offset: y.offset } });
        };
      }
      case 'attention': {
        const heads = { numHeads: config.numHeads, numKvHeads: config.numKvHeads, headDim: config.headDim };
        const cache = kvCaches[op.layer];
        const store = ropeKvOp(ctx, { ...heads, rotaryDim: config.rotaryDim, maxPos: p.maxContext, rowInfo, blockTables, ropeTable: rope, q: act(op.q), k: act(op.k), v: act(op.v), kCache: cache.k, vCache: cache.v });
        const attend = attentionOp(ctx, { ...heads, scale: op.scale, window: op.window, softcap: op.softcap, rowInfo, blockTables, q: act(op.q), kCache: cache.k, vCache: cache.v, out: act(op.out) });
        return (rec, rows) => {
          store(rec, rows);
          attend(rec, rows);
        };
      }
      case 'glu':
        return gluOp(ctx, { gate: act(op.gate), up: act(op.up), act: op.act });
    }
  };

  const ops: RecordOp[] = [embedOp(ctx, { table: weights.matrix(recipe.embed.weight.name), rowInfo, x: whole('x'), scale: recipe.embed.scale })];
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
    kvBytes: kvLayerBytes * 2 * config.numLayers,
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
    record(rec, rows, outRows) {
      for (const op of ops) op(rec, rows);
      for (const op of outOps) op(rec, outRows);
      sample(rec, outRows);
    },
    destroy() {
      for (const b of owned) b.destroy();
      adjust.destroy();
    },
  };
}
