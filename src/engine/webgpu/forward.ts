/**
 * The forward pass of a Llama-family decoder over one step's rows, as prepared ops recorded into
 * one command encoder. Activations are f32; the paged KV cache is f32, one K and one V buffer per
 * layer (`[numBlocks, numKvHeads, 16, headDim]`).
 */
import type { ModelConfig, Projection } from '../../model/config.ts';
import { ropeInvFreq } from '../reference/ops.ts';
import { EngineShapeUnsupportedError } from '../errors.ts';
import { KV_BLOCK_SIZE } from '../backend.ts';
import { attentionOp, embedOp, linearOp, rmsnormOp, ropeKvOp, sampleOp, siluMulOp, type OpContext, type RecordOp } from './ops.ts';
import type { GpuLora } from './lora/runner.ts';
import type { Recorder } from './recorder.ts';
import { createDataBuffer, type GpuWeights } from './weights.ts';

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
  outRows: GPUBuffer; // [maxOutRows, 8] u32
  logits: GPUBuffer; // [maxOutRows, vocab] f32
  result: GPUBuffer; // [maxOutRows, 2] u32
  /** Records the whole pass: embeddings, layers, final norm, lm_head, sampling. */
  record(rec: Recorder, rows: number, outRows: number): void;
  /** Bytes of KV cache on the device. */
  kvBytes: number;
  destroy(): void;
}

/** `[maxContext, headDim / 2]` (cos, sin) in f32, from the reference's inverse frequencies. */
export function ropeTable(config: ModelConfig, maxContext: number): Float32Array {
  const inv = ropeInvFreq({ headDim: config.headDim, theta: config.ropeTheta, scaling: config.ropeScaling });
  const half = config.headDim / 2;
  const table = new Float32Array(maxContext * half * 2);
  for (let pos = 0; pos < maxContext; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * inv[i]);
      table[(pos * half + i) * 2] = Math.cos(angle);
      table[(pos * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return table;
}

/** Allocates the pass's buffers and prepares every op of the forward pass. */
export function createForward(p: CreateForwardParameters): Forward {
  const { ctx, config, weights, maxRows, maxOutRows } = p;
  const { device } = ctx;
  const owned: GPUBuffer[] = [];
  const buffer = (label: string, bytes: number, usage = GPUBufferUsage.STORAGE) => {
    const b = device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: usage | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    owned.push(b);
    return b;
  };
  const h = config.hiddenSize;
  const qDim = config.numHeads * config.headDim;
  const kvDim = config.numKvHeads * config.headDim;
  const inter = config.intermediateSize;
  const vocab = config.vocabSize;
  if (config.headDim % 2 !== 0) throw new EngineShapeUnsupportedError('head_dim', `${config.headDim} is odd`);

  const stepBuffer = ctx.stepBuffer;
  const rowInfo = buffer('rowInfo', maxRows * 16);
  const blockTables = buffer('blockTables', p.maxBlockEntries * 4);
  const outRowsBuf = buffer('outRows', maxOutRows * 32);
  const x = buffer('x', maxRows * h * 4); // [rows, hidden] residual stream
  const xn = buffer('xn', maxRows * h * 4); // [rows, hidden] normed
  const q = buffer('q', maxRows * qDim * 4);
  const k = buffer('k', maxRows * kvDim * 4);
  const v = buffer('v', maxRows * kvDim * 4);
  const attn = buffer('attn', maxRows * qDim * 4);
  const gate = buffer('gate', maxRows * inter * 4);
  const up = buffer('up', maxRows * inter * 4);
  const xo = buffer('xo', maxOutRows * h * 4); // [outRows, hidden] final-normed gathered rows
  const logits = buffer('logits', maxOutRows * vocab * 4);
  const result = buffer('result', maxOutRows * 8);
  const rope = createDataBuffer(device, 'ropeTable', ropeTable(config, p.maxContext));
  owned.push(rope);

  const kvLayerBytes = p.numKvBlocks * kvDim * KV_BLOCK_SIZE * 4;
  if (kvLayerBytes > p.maxBindingBytes) {
    throw new EngineShapeUnsupportedError('kv cache', `${p.numKvBlocks} blocks need ${kvLayerBytes} bytes per layer, over the ${p.maxBindingBytes}-byte binding limit`);
  }

  const ops: RecordOp[] = [];
  const outOps: RecordOp[] = [];
  ops.push(embedOp(ctx, { table: weights.embed, rowInfo, x }));
  const strides: Record<Projection, [input: number, output: number]> = {
    q_proj: [h, qDim],
    k_proj: [h, kvDim],
    v_proj: [h, kvDim],
    o_proj: [qDim, h],
    gate_proj: [h, inter],
    up_proj: [h, inter],
    down_proj: [inter, h],
  };
  const linear = (layer: number, projection: Projection, input: GPUBuffer, output: GPUBuffer, accumulate = false): RecordOp => {
    // One call site per projection: the base dispatch, then LoRA's shrink/expand adding
    // scale · B (A x) into the same output rows (rows without an adapter do no LoRA work).
    const base = linearOp(ctx, {
      weight: weights.layers[layer].proj[projection],
      bias: weights.layers[layer].bias[projection],
      x: input,
      y: output,
      accumulate,
      label: `layers.${layer}.${projection}`,
    });
    const { lora } = p;
    if (!lora) return base;
    const [xStride, yStride] = strides[projection];
    return (rec, rows) => {
      base(rec, rows);
      lora.encode({ pass: rec, layer, projection, x: { buffer: input, stride: xStride }, y: { buffer: output, stride: yStride } });
    };
  };
  for (let l = 0; l < config.numLayers; l++) {
    const lw = weights.layers[l];
    const kCache = buffer(`kCache.${l}`, kvLayerBytes);
    const vCache = buffer(`vCache.${l}`, kvLayerBytes);
    ops.push(rmsnormOp(ctx, { x, weight: lw.inputNorm, y: xn, h, eps: config.rmsNormEps }));
    ops.push(linear(l, 'q_proj', xn, q), linear(l, 'k_proj', xn, k), linear(l, 'v_proj', xn, v));
    const heads = { numHeads: config.numHeads, numKvHeads: config.numKvHeads, headDim: config.headDim };
    ops.push(ropeKvOp(ctx, { ...heads, maxPos: p.maxContext, rowInfo, blockTables, ropeTable: rope, q, k, v, kCache, vCache }));
    ops.push(attentionOp(ctx, { ...heads, rowInfo, blockTables, q, kCache, vCache, out: attn }));
    ops.push(linear(l, 'o_proj', attn, x, true));
    ops.push(rmsnormOp(ctx, { x, weight: lw.postNorm, y: xn, h, eps: config.rmsNormEps }));
    ops.push(linear(l, 'gate_proj', xn, gate), linear(l, 'up_proj', xn, up));
    ops.push(siluMulOp(ctx, { gate, up, width: inter }));
    ops.push(linear(l, 'down_proj', gate, x, true));
  }
  outOps.push(rmsnormOp(ctx, { x, weight: weights.finalNorm, y: xo, h, eps: config.rmsNormEps, gather: outRowsBuf }));
  outOps.push(linearOp(ctx, { weight: weights.lmHead, x: xo, y: logits, yStride: vocab, useOutRows: true, label: 'lm_head' }));
  outOps.push(sampleOp(ctx, { vocab, outRows: outRowsBuf, logits, result }));

  return {
    stepBuffer,
    rowInfo,
    blockTables,
    outRows: outRowsBuf,
    logits,
    result,
    kvBytes: kvLayerBytes * 2 * config.numLayers,
    record(rec, rows, outRows) {
      for (const op of ops) op(rec, rows);
      for (const op of outOps) op(rec, outRows);
    },
    destroy() {
      for (const b of owned) b.destroy();
    },
  };
}
