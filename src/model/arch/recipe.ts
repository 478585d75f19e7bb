/**
 * A model as data: the activation buffers of a step, a flat list of ops per layer, the embedding
 * and the head. Architecture modules (`llama.ts`, `gemma2.ts`, ...) build it from shared
 * builders (`build.ts`); each backend interprets the same ops with its own kernels (the CPU
 * reference in `src/engine/reference/forward.ts`, WebGPU in `src/engine/webgpu/forward.ts`), so
 * a new architecture is one file. The tensor list is derived from the recipe
 * ({@link recipeTensors}): the loader, its validation and both backends read that one list.
 *
 * Every activation is f32 `[rows, width]`; an {@link ActRef} names columns of one buffer, so a
 * fused projection (Phi-3's qkv_proj) writes one buffer that later ops read as q, k and v.
 */
import type { Activation, LinearModule } from '../config.ts';

/** A tensor of the checkpoint: its name and the shape config.json implies (PyTorch `[out, in]`). */
export interface TensorSpec {
  name: string;
  shape: number[];
  /** Decoder layer it belongs to (progress reporting), or undefined for embedding/head. */
  layer?: number;
}

/** Columns `[offset, offset + width)` of every row of activation buffer `buffer`. */
export interface ActRef {
  buffer: string;
  offset: number;
  width: number;
}

/** `out (+)= rmsnorm(x) · (weightOffset + w)` per row (`add`: into the residual stream). */
export interface NormOp {
  op: 'rmsnorm';
  weight: TensorSpec; // [width]
  x: ActRef;
  out: ActRef;
  /** Adds the result to `out` instead of writing it (Gemma 2's post-norms before the residual add). */
  add: boolean;
  /** 1 for Gemma's `(1 + w)` gain, else 0. */
  weightOffset: number;
  eps: number;
}

/** `out (+)= x W^T (+ b)`, then the LoRA delta of `(layer, module)` for rows with an adapter. */
export interface LinearOp {
  op: 'linear';
  layer: number;
  module: LinearModule;
  weight: TensorSpec; // [module.out, module.in]
  bias?: TensorSpec; // [module.out]
  x: ActRef;
  out: ActRef;
  /** Adds into `out` (residual projections) instead of writing it. */
  accumulate: boolean;
}

/**
 * Self-attention core: RoPE on `q` (in place) and `k` at each row's position, `k`/`v` stored in the
 * layer's paged KV cache, then causal grouped-query attention of each row over its sequence's
 * positions (only the last `window` ones when `window > 0`): `out = softmax(cap(q·k · scale)) v`.
 */
export interface AttentionOp {
  op: 'attention';
  layer: number;
  q: ActRef; // [rows, numHeads · headDim]
  k: ActRef; // [rows, numKvHeads · headDim]
  v: ActRef; // [rows, numKvHeads · headDim]
  out: ActRef; // [rows, numHeads · headDim]
  /** Positions attended, the row's own included; 0 = every earlier position. */
  window: number;
  /** `s -> cap · tanh(s / cap)`; 0 = off. */
  softcap: number;
  scale: number;
}

/** Gated MLP activation in place: `gate = act(gate) · up`. */
export interface GluOp {
  op: 'glu';
  act: Activation;
  gate: ActRef;
  up: ActRef;
}

/** One op of a decoder layer. */
export type LayerOp = NormOp | LinearOp | AttentionOp | GluOp;

/** The whole model as the backends run it. */
export interface ModelRecipe {
  /** Activation buffers by name, width in f32 elements per row; `x` is the residual stream. */
  acts: Record<string, number>;
  /** `x = E[token] · scale`. */
  embed: { weight: TensorSpec; scale: number }; // [vocab, hidden]
  /** Ops of each layer, in order. */
  layers: LayerOp[][];
  /** Final norm of the rows that get logits (`x` → their hidden state). */
  finalNorm: { weight: TensorSpec; weightOffset: number; eps: number };
  /** `logits = cap(h W^T)`; the same tensor as `embed.weight` when embeddings are tied. */
  lmHead: { weight: TensorSpec; softcap: number }; // [vocab, hidden]
}

/**
 * Every tensor the recipe reads, once each, in checkpoint order (embedding, layers, final norm,
 * lm_head): the model's tensor list.
 */
export function recipeTensors(recipe: ModelRecipe): TensorSpec[] {
  const seen = new Map<string, TensorSpec>();
  const add = (t: TensorSpec | undefined) => {
    if (t && !seen.has(t.name)) seen.set(t.name, t);
  };
  add(recipe.embed.weight);
  for (const ops of recipe.layers) {
    for (const op of ops) {
      if (op.op === 'rmsnorm') add(op.weight);
      else if (op.op === 'linear') {
        add(op.weight);
        add(op.bias);
      }
    }
  }
  add(recipe.finalNorm.weight);
  add(recipe.lmHead.weight);
  return [...seen.values()];
}

/** True when the tensor is a matrix (rows × cols), else a vector (norm gain, bias). */
export function isMatrix(t: TensorSpec): boolean {
  return t.shape.length === 2;
}
