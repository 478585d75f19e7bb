/**
 * The CPU reference ops: plain float32 TypeScript, one function per kernel, llama2.c-style.
 *
 * Every WebGPU kernel is tested against the function of the same name here. Conventions:
 * - Matrices are row-major `Float32Array`s; weights are PyTorch `[out, in]`.
 * - Each op writes into `out` when given (and returns it), else allocates the result.
 * - Reductions accumulate in float64 (JS numbers) and store float32: the reference is at least as
 *   accurate as any kernel, so kernel tolerances measure the kernel's error.
 */
import type { Activation } from '../../model/config.ts';
import { KV_BLOCK_SIZE } from '../backend.ts';

/** Parameters of {@link matmul}. */
export interface MatmulParameters {
  /** Input rows. `// [rows, inFeatures] f32` */
  x: Float32Array;
  /** Weight in PyTorch layout. `// [outFeatures, inFeatures] f32` */
  w: Float32Array;
  /** Optional bias (Qwen2 q/k/v). `// [outFeatures] f32` */
  bias?: Float32Array;
  rows: number;
  inFeatures: number;
  outFeatures: number;
  /** Destination. `// [rows, outFeatures] f32` */
  out?: Float32Array;
}

/** `y = x W^T (+ b)`: each row of `x` times each row of `W`. Returns `// [rows, outFeatures] f32`. */
export function matmul(p: MatmulParameters): Float32Array {
  const { x, w, bias, rows, inFeatures: n, outFeatures: m } = p;
  const y = p.out ?? new Float32Array(rows * m);
  for (let r = 0; r < rows; r++) {
    const xo = r * n;
    for (let o = 0; o < m; o++) {
      const wo = o * n;
      let s = 0;
      for (let i = 0; i < n; i++) s += w[wo + i] * x[xo + i];
      y[r * m + o] = bias ? s + bias[o] : s;
    }
  }
  return y;
}

/** Parameters of {@link matvec}: {@link matmul} with one row. */
export type MatvecParameters = Omit<MatmulParameters, 'rows'>;

/** `y = W x (+ b)` for a single vector. Returns `// [outFeatures] f32`. */
export function matvec(p: MatvecParameters): Float32Array {
  return matmul({ ...p, rows: 1 });
}

/** Parameters of {@link rmsnorm}. */
export interface RmsnormParameters {
  /** `// [rows, size] f32` */
  x: Float32Array;
  /** Per-channel gain. `// [size] f32` */
  weight: Float32Array;
  rows: number;
  size: number;
  /** `rms_norm_eps` from config.json. */
  eps: number;
  /** Added to the gain: 1 for Gemma's `(1 + w)`; default 0. */
  weightOffset?: number;
  /** Add the result into `out` instead of writing it; default false. */
  add?: boolean;
  /** `// [rows, size] f32`; may alias `x`. */
  out?: Float32Array;
}

/** RMSNorm per row: `y (+)= x / sqrt(mean(x^2) + eps) * (weightOffset + weight)` (HF LlamaRMSNorm / GemmaRMSNorm). */
export function rmsnorm(p: RmsnormParameters): Float32Array {
  const { x, weight, rows, size, eps } = p;
  const offset = p.weightOffset ?? 0;
  const y = p.out ?? new Float32Array(rows * size);
  for (let r = 0; r < rows; r++) {
    const o = r * size;
    let ss = 0;
    for (let i = 0; i < size; i++) ss += x[o + i] * x[o + i];
    const inv = 1 / Math.sqrt(ss / size + eps);
    for (let i = 0; i < size; i++) {
      const v = x[o + i] * inv * (offset + weight[i]);
      y[o + i] = p.add ? y[o + i] + v : v;
    }
  }
  return y;
}

/** `cap · tanh(v / cap)` (Gemma 2 soft-capping); `cap` 0 returns `v`. */
export function softcap(v: number, cap: number): number {
  return cap > 0 ? cap * Math.tanh(v / cap) : v;
}

/** Parameters of {@link rope}. */
export interface RopeParameters {
  /** Queries or keys, rotated in place. `// [rows, numHeads, headDim] f32` */
  x: Float32Array;
  /** Absolute position of each row. `// [rows]` */
  positions: ArrayLike<number>;
  rows: number;
  numHeads: number;
  headDim: number;
  /** From `ropeInvFreq` (src/model/arch/rope.ts). `// [rotaryDim / 2] f32` */
  invFreq: Float32Array;
}

/**
 * Rotary embedding in place, HF "rotate_half" convention over the first `rotaryDim = 2 ·
 * invFreq.length` elements of each head (the rest pass through): element `i` pairs with
 * `i + rotaryDim/2`. `angle = f32(pos * invFreq[i])`; `x[i] = x1 cos - x2 sin`,
 * `x[i + half] = x2 cos + x1 sin`.
 */
export function rope(p: RopeParameters): Float32Array {
  const { x, positions, rows, numHeads, headDim, invFreq } = p;
  const half = invFreq.length;
  for (let r = 0; r < rows; r++) {
    const pos = positions[r];
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * invFreq[i]);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      for (let h = 0; h < numHeads; h++) {
        const o = (r * numHeads + h) * headDim;
        const x1 = x[o + i];
        const x2 = x[o + i + half];
        x[o + i] = x1 * c - x2 * s;
        x[o + i + half] = x2 * c + x1 * s;
      }
    }
  }
  return x;
}

/**
 * Layout of the paged KV pool, one `Float32Array` indexed by block id:
 * `// [numBlocks, numLayers, 2 (k, v), blockSize, numKvHeads, headDim] f32`.
 */
export interface KvLayout {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  /** Positions per block; {@link KV_BLOCK_SIZE}. */
  blockSize: number;
}

/** Floats in one block (all layers, k and v). */
export function kvBlockFloats(layout: KvLayout): number {
  return layout.numLayers * 2 * layout.blockSize * layout.numKvHeads * layout.headDim;
}

/** Parameters of {@link kvOffset}. */
export interface KvOffsetParameters {
  layout: KvLayout;
  /** Block table of the sequence. */
  blockTable: ArrayLike<number>;
  layer: number;
  /** 0 = keys, 1 = values. */
  kv: 0 | 1;
  /** Position in the sequence. */
  pos: number;
}

/** Offset of `// [numKvHeads, headDim]` for one position, layer and k/v in the paged pool. */
export function kvOffset(p: KvOffsetParameters): number {
  const { layout, blockTable, layer, kv, pos } = p;
  const rowFloats = layout.numKvHeads * layout.headDim;
  const block = blockTable[Math.floor(pos / layout.blockSize)];
  if (block === undefined) throw new RangeError(`position ${pos} is not covered by the block table (${blockTable.length} blocks)`);
  const slot = pos % layout.blockSize;
  return block * kvBlockFloats(layout) + ((layer * 2 + kv) * layout.blockSize + slot) * rowFloats;
}

/** Parameters of {@link kvWrite}. */
export interface KvWriteParameters {
  /** The pool. `// [numBlocks, numLayers, 2, blockSize, numKvHeads, headDim] f32` */
  cache: Float32Array;
  layout: KvLayout;
  blockTable: ArrayLike<number>;
  layer: number;
  /** Keys after RoPE. `// [rows, numKvHeads, headDim] f32` */
  k: Float32Array;
  /** `// [rows, numKvHeads, headDim] f32` */
  v: Float32Array;
  /** `// [rows]` */
  positions: ArrayLike<number>;
  rows: number;
}

/** Stores each row's keys and values at its position in the paged pool. */
export function kvWrite(p: KvWriteParameters): void {
  const rowFloats = p.layout.numKvHeads * p.layout.headDim;
  for (let r = 0; r < p.rows; r++) {
    const base = { layout: p.layout, blockTable: p.blockTable, layer: p.layer, pos: p.positions[r] };
    p.cache.set(p.k.subarray(r * rowFloats, (r + 1) * rowFloats), kvOffset({ ...base, kv: 0 }));
    p.cache.set(p.v.subarray(r * rowFloats, (r + 1) * rowFloats), kvOffset({ ...base, kv: 1 }));
  }
}

/** Parameters of {@link attention}. */
export interface AttentionParameters {
  /** Queries after RoPE. `// [rows, numHeads, headDim] f32` */
  q: Float32Array;
  /** The pool, already holding keys/values for positions 0..positions[r] of this sequence. */
  cache: Float32Array;
  layout: KvLayout;
  blockTable: ArrayLike<number>;
  layer: number;
  /** Position of each row; row `r` attends to positions `0..positions[r]` (causal). */
  positions: ArrayLike<number>;
  rows: number;
  numHeads: number;
  /** Multiplier of q·k; default `1/sqrt(headDim)`. */
  scale?: number;
  /** Positions a row attends to, its own included (sliding window); 0 or absent = all earlier ones. */
  window?: number;
  /** Scores `s -> cap · tanh(s / cap)` before the softmax; 0 or absent = off. */
  softcap?: number;
  /** `// [rows, numHeads, headDim] f32` */
  out?: Float32Array;
}

/**
 * Causal scaled-dot-product attention over the paged KV cache with grouped-query heads:
 * query head `h` reads KV head `floor(h / (numHeads / numKvHeads))`; row `r` at position `p`
 * attends to positions `max(0, p - window + 1) .. p` (HF's sliding-window mask `kv > q - window`);
 * scores scaled, soft-capped, softmax with max subtraction.
 */
export function attention(p: AttentionParameters): Float32Array {
  const { q, cache, layout, blockTable, layer, positions, rows, numHeads } = p;
  const { numKvHeads, headDim } = layout;
  const group = numHeads / numKvHeads;
  const out = p.out ?? new Float32Array(rows * numHeads * headDim);
  const scale = p.scale ?? 1 / Math.sqrt(headDim);
  const cap = p.softcap ?? 0;
  let scores = new Float64Array(0);
  const acc = new Float64Array(headDim);
  for (let r = 0; r < rows; r++) {
    const first = p.window ? Math.max(0, positions[r] + 1 - p.window) : 0;
    const len = positions[r] + 1 - first; // positions first .. positions[r]
    if (scores.length < len) scores = new Float64Array(len);
    const kOff = new Float64Array(len);
    const vOff = new Float64Array(len);
    for (let t = 0; t < len; t++) {
      kOff[t] = kvOffset({ layout, blockTable, layer, kv: 0, pos: first + t });
      vOff[t] = kvOffset({ layout, blockTable, layer, kv: 1, pos: first + t });
    }
    for (let h = 0; h < numHeads; h++) {
      const qo = (r * numHeads + h) * headDim;
      const kvh = Math.floor(h / group) * headDim;
      let max = -Infinity;
      for (let t = 0; t < len; t++) {
        const ko = kOff[t] + kvh;
        let s = 0;
        for (let i = 0; i < headDim; i++) s += q[qo + i] * cache[ko + i];
        s = softcap(s * scale, cap);
        scores[t] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let t = 0; t < len; t++) {
        scores[t] = Math.exp(scores[t] - max);
        sum += scores[t];
      }
      acc.fill(0);
      for (let t = 0; t < len; t++) {
        const w = scores[t] / sum;
        const vo = vOff[t] + kvh;
        for (let i = 0; i < headDim; i++) acc[i] += w * cache[vo + i];
      }
      for (let i = 0; i < headDim; i++) out[qo + i] = acc[i];
    }
  }
  return out;
}

/** Parameters of {@link glu}. */
export interface GluParameters {
  /** `// [n] f32` gate projection output. */
  gate: Float32Array;
  /** `// [n] f32` up projection output. */
  up: Float32Array;
  /** `silu` (SwiGLU) or `gelu_tanh` (GeGLU, HF `gelu_pytorch_tanh`). */
  act: Activation;
  /** `// [n] f32`; may alias `gate`. */
  out?: Float32Array;
}

/** `y = act(gate) * up` with `silu(x) = x / (1 + exp(-x))`, `gelu_tanh(x) = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`. */
export function glu(p: GluParameters): Float32Array {
  const { gate, up } = p;
  const y = p.out ?? new Float32Array(gate.length);
  const f = p.act === 'silu' ? silu : geluTanh;
  for (let i = 0; i < gate.length; i++) y[i] = f(gate[i]) * up[i];
  return y;
}

/** `x / (1 + exp(-x))`. */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** GELU, tanh approximation (HF `gelu_pytorch_tanh`, `gelu_new`). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** Parameters of {@link add}. */
export interface AddParameters {
  /** Accumulator, updated in place. `// [n] f32` */
  x: Float32Array;
  /** `// [n] f32` */
  y: Float32Array;
}

/** Residual add in place: `x += y`. Returns `x`. */
export function add(p: AddParameters): Float32Array {
  for (let i = 0; i < p.x.length; i++) p.x[i] += p.y[i];
  return p.x;
}

/** Parameters of {@link embedding}. */
export interface EmbeddingParameters {
  /** `// [vocabSize, hiddenSize] f32` */
  table: Float32Array;
  tokens: ArrayLike<number>;
  hiddenSize: number;
  /** Rows are multiplied by this (Gemma's sqrt(hidden)); default 1. */
  scale?: number;
  /** `// [tokens.length, hiddenSize] f32` */
  out?: Float32Array;
}

/** Gathers one embedding row per token, times `scale`. Throws RangeError for ids outside the table. */
export function embedding(p: EmbeddingParameters): Float32Array {
  const { table, tokens, hiddenSize: d } = p;
  const vocab = table.length / d;
  const y = p.out ?? new Float32Array(tokens.length * d);
  for (let r = 0; r < tokens.length; r++) {
    const t = tokens[r];
    if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new RangeError(`token id ${t} is outside the vocabulary [0, ${vocab})`);
    const scale = p.scale ?? 1;
    for (let i = 0; i < d; i++) y[r * d + i] = table[t * d + i] * scale;
  }
  return y;
}

/** Parameters of {@link logSoftmax}. */
export interface LogSoftmaxParameters {
  /** `// [n] f32` */
  logits: ArrayLike<number>;
  /** `// [n] f32` */
  out?: Float32Array;
}

/** `log softmax(x)_i = x_i - max - log(sum exp(x - max))`, computed in float64. */
export function logSoftmax(p: LogSoftmaxParameters): Float32Array {
  const x = p.logits;
  const y = p.out ?? new Float32Array(x.length);
  const lse = logSumExp(x);
  for (let i = 0; i < x.length; i++) y[i] = x[i] - lse;
  return y;
}

/** `log(sum_i exp(x_i))`, stable, float64. */
export function logSumExp(x: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.exp(x[i] - max);
  return max + Math.log(sum);
}

/** Parameters of {@link loraShrink}. */
export interface LoraShrinkParameters {
  /** `// [rows, inFeatures] f32` */
  x: Float32Array;
  /** lora_A. `// [rank, inFeatures] f32` */
  a: Float32Array;
  rows: number;
  inFeatures: number;
  rank: number;
  /** `// [rows, rank] f32` */
  out?: Float32Array;
}

/** LoRA shrink: `v = A x` per row. Returns `// [rows, rank] f32`. */
export function loraShrink(p: LoraShrinkParameters): Float32Array {
  return matmul({ x: p.x, w: p.a, rows: p.rows, inFeatures: p.inFeatures, outFeatures: p.rank, out: p.out });
}

/** Parameters of {@link loraExpand}. */
export interface LoraExpandParameters {
  /** Output accumulated in place. `// [rows, outFeatures] f32` */
  y: Float32Array;
  /** From {@link loraShrink}. `// [rows, rank] f32` */
  v: Float32Array;
  /** lora_B. `// [outFeatures, rank] f32` */
  b: Float32Array;
  rows: number;
  rank: number;
  outFeatures: number;
  /** alpha / r (or alpha / sqrt(r) with rslora). */
  scale: number;
}

/** LoRA expand: `y += scale * B v` per row. Returns `y`. */
export function loraExpand(p: LoraExpandParameters): Float32Array {
  const { y, v, b, rows, rank, outFeatures: m, scale } = p;
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < m; o++) {
      let s = 0;
      for (let i = 0; i < rank; i++) s += b[o * rank + i] * v[r * rank + i];
      y[r * m + o] += scale * s;
    }
  }
  return y;
}

export { KV_BLOCK_SIZE };
