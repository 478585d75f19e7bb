/**
 * The CPU reference forward pass of one sequence's rows (a prefill chunk or one decode token):
 * the architecture's recipe (`src/model/arch/`) interpreted op by op with the plain f32 ops of
 * `ops.ts`, llama2.c style. Activation buffers are `[rows, width]` arrays; an op reading a view
 * (Phi-3's q/k/v columns of qkv) gets a copy of those columns.
 */
import type { ModelConfig } from '../../model/config.ts';
import type { ActRef, LayerOp } from '../../model/arch/recipe.ts';
import type { LoraWeights } from '../backend.ts';
import { applyLora } from './lora.ts';
import { attention, embedding, glu, kvWrite, matmul, rmsnorm, rope, softcap, type KvLayout } from './ops.ts';
import type { CpuWeights } from './weights.ts';

/** Parameters of {@link forwardHidden}. */
export interface ForwardHiddenParameters {
  config: ModelConfig;
  weights: CpuWeights;
  /** From `modelInvFreq` (src/model/arch/rope.ts). `// [rotaryDim / 2] f32` */
  invFreq: Float32Array;
  /** The paged KV pool; this sequence's positions get written. */
  cache: Float32Array;
  layout: KvLayout;
  tokens: ArrayLike<number>;
  startPos: number;
  blockTable: ArrayLike<number>;
  adapter: LoraWeights | undefined;
  /** Called after each op with the activation buffers (tests and tools, e.g. fitting an adapter). */
  onOp?: (op: LayerOp, acts: ReadonlyMap<string, Float32Array>) => void;
  signal?: AbortSignal;
}

/** Runs the decoder over the rows; returns the final-normed hidden states `// [rows, hidden] f32`. */
export function forwardHidden(p: ForwardHiddenParameters): Float32Array {
  const { config, weights, cache, layout, blockTable, adapter } = p;
  const { recipe } = weights;
  const n = p.tokens.length;
  const d = config.hiddenSize;
  const positions = Array.from({ length: n }, (_, i) => p.startPos + i);
  const acts = new Map(Object.entries(recipe.acts).map(([name, width]) => [name, new Float32Array(n * width)])); // each [n, width]
  const read = (ref: ActRef): Float32Array => {
    const buffer = acts.get(ref.buffer)!;
    const stride = recipe.acts[ref.buffer];
    if (ref.offset === 0 && ref.width === stride) return buffer;
    const out = new Float32Array(n * ref.width); // [n, width] copy of the columns
    for (let r = 0; r < n; r++) out.set(buffer.subarray(r * stride + ref.offset, r * stride + ref.offset + ref.width), r * ref.width);
    return out;
  };
  const write = (ref: ActRef, values: Float32Array, add: boolean): void => {
    const buffer = acts.get(ref.buffer)!;
    const stride = recipe.acts[ref.buffer];
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < ref.width; i++) {
        const j = r * stride + ref.offset + i;
        buffer[j] = add ? buffer[j] + values[r * ref.width + i] : values[r * ref.width + i];
      }
    }
  };

  embedding({ table: weights.matrix(recipe.embed.weight.name), tokens: p.tokens, hiddenSize: d, scale: recipe.embed.scale, out: acts.get('x') }); // x [n, d]
  for (const ops of recipe.layers) {
    p.signal?.throwIfAborted();
    for (const op of ops) {
      switch (op.op) {
        case 'rmsnorm': {
          const y = rmsnorm({ x: read(op.x), weight: weights.vector(op.weight.name), rows: n, size: op.x.width, eps: op.eps, weightOffset: op.weightOffset }); // [n, width]
          write(op.out, y, op.add);
          break;
        }
        case 'linear': {
          const x = read(op.x); // [n, in]
          const bias = op.bias ? weights.vector(op.bias.name) : undefined;
          const y = matmul({ x, w: weights.matrix(op.weight.name), bias, rows: n, inFeatures: op.module.in, outFeatures: op.module.out }); // [n, out]
          applyLora({ y, x, rows: n, adapter, layer: op.layer, module: op.module });
          write(op.out, y, op.accumulate);
          break;
        }
        case 'attention': {
          const q = read(op.q).slice(); // [n, heads · headDim], rotated below
          const k = read(op.k).slice(); // [n, kvHeads · headDim]
          const v = read(op.v); // [n, kvHeads · headDim]
          rope({ x: q, positions, rows: n, numHeads: config.numHeads, headDim: config.headDim, invFreq: p.invFreq });
          rope({ x: k, positions, rows: n, numHeads: config.numKvHeads, headDim: config.headDim, invFreq: p.invFreq });
          kvWrite({ cache, layout, blockTable, layer: op.layer, k, v, positions, rows: n });
          const a = attention({ q, cache, layout, blockTable, layer: op.layer, positions, rows: n, numHeads: config.numHeads, scale: op.scale, window: op.window, softcap: op.softcap });
          write(op.out, a, false);
          break;
        }
        case 'glu': {
          const gate = read(op.gate).slice(); // [n, width]
          write(op.gate, glu({ gate, up: read(op.up), act: op.act, out: gate }), false);
          break;
        }
      }
      p.onOp?.(op, acts);
    }
  }
  const x = acts.get('x')!;
  const { finalNorm } = recipe;
  return rmsnorm({ x, weight: weights.vector(finalNorm.weight.name), rows: n, size: d, eps: finalNorm.eps, weightOffset: finalNorm.weightOffset, out: x });
}

/** Parameters of {@link lmHead}. */
export interface LmHeadParameters {
  config: ModelConfig;
  weights: CpuWeights;
  /** Final hidden states. `// [rows, hidden] f32` */
  hidden: Float32Array;
  /** Which rows to project. */
  rowIndices: readonly number[];
}

/** Logits of the chosen rows: `cap(hidden · lm_head^T)`. Returns `// [rowIndices.length, vocab] f32`. */
export function lmHead(p: LmHeadParameters): Float32Array {
  const d = p.config.hiddenSize;
  const { lmHead: head } = p.weights.recipe;
  const rows = new Float32Array(p.rowIndices.length * d);
  p.rowIndices.forEach((r, i) => rows.set(p.hidden.subarray(r * d, (r + 1) * d), i * d));
  const logits = matmul({ x: rows, w: p.weights.matrix(head.weight.name), rows: p.rowIndices.length, inFeatures: d, outFeatures: p.config.vocabSize });
  if (head.softcap > 0) for (let i = 0; i < logits.length; i++) logits[i] = softcap(logits[i], head.softcap);
  return logits;
}
