/**
 * The CPU reference forward pass of one sequence's rows (a prefill chunk or one decode token),
 * llama2.c style: embedding, then per layer RMSNorm → q/k/v (+bias, +LoRA) → RoPE → KV write →
 * paged causal attention → o_proj → residual, RMSNorm → SwiGLU MLP → residual; final RMSNorm.
 */
import { projectionShape, type ModelConfig, type Projection } from '../../model/config.ts';
import type { LoraWeights } from '../backend.ts';
import { applyLora } from './lora.ts';
import { add, attention, embedding, kvWrite, matmul, rmsnorm, rope, siluMul, type KvLayout } from './ops.ts';
import type { CpuWeights } from './weights.ts';

/** Parameters of {@link forwardHidden}. */
export interface ForwardHiddenParameters {
  config: ModelConfig;
  weights: CpuWeights;
  /** From `ropeInvFreq`. `// [headDim / 2] f32` */
  invFreq: Float32Array;
  /** The paged KV pool; this sequence's positions get written. */
  cache: Float32Array;
  layout: KvLayout;
  tokens: ArrayLike<number>;
  startPos: number;
  blockTable: ArrayLike<number>;
  adapter: LoraWeights | undefined;
  signal?: AbortSignal;
}

/** Runs the decoder over the rows; returns the final-normed hidden states `// [rows, hidden] f32`. */
export function forwardHidden(p: ForwardHiddenParameters): Float32Array {
  const { config, weights, cache, layout, blockTable, adapter } = p;
  const n = p.tokens.length;
  const d = config.hiddenSize;
  const positions = Array.from({ length: n }, (_, i) => p.startPos + i);
  const x = embedding({ table: weights.embed, tokens: p.tokens, hiddenSize: d }); // [n, d]
  const h = new Float32Array(n * d); // [n, d]
  for (let layer = 0; layer < config.numLayers; layer++) {
    p.signal?.throwIfAborted();
    const w = weights.layers[layer];
    const project = (input: Float32Array, projection: Projection): Float32Array => {
      const [out, inFeatures] = projectionShape(config, projection);
      const bias = projection === 'q_proj' || projection === 'k_proj' || projection === 'v_proj' ? w.bias[projection] : undefined;
      const y = matmul({ x: input, w: w.proj[projection], bias, rows: n, inFeatures, outFeatures: out }); // [n, out]
      applyLora({ y, x: input, rows: n, adapter, layer, projection, config });
      return y;
    };

    // Attention block.
    rmsnorm({ x, weight: w.inputNorm, rows: n, size: d, eps: config.rmsNormEps, out: h });
    const q = project(h, 'q_proj'); // [n, numHeads * headDim]
    const k = project(h, 'k_proj'); // [n, numKvHeads * headDim]
    const v = project(h, 'v_proj'); // [n, numKvHeads * headDim]
    rope({ x: q, positions, rows: n, numHeads: config.numHeads, headDim: config.headDim, invFreq: p.invFreq });
    rope({ x: k, positions, rows: n, numHeads: config.numKvHeads, headDim: config.headDim, invFreq: p.invFreq });
    kvWrite({ cache, layout, blockTable, layer, k, v, positions, rows: n });
    const a = attention({ q, cache, layout, blockTable, layer, positions, rows: n, numHeads: config.numHeads }); // [n, numHeads * headDim]
    add({ x, y: project(a, 'o_proj') });

    // MLP block.
    rmsnorm({ x, weight: w.postNorm, rows: n, size: d, eps: config.rmsNormEps, out: h });
    const gate = project(h, 'gate_proj'); // [n, intermediate]
    const up = project(h, 'up_proj'); // [n, intermediate]
    siluMul({ gate, up, out: gate });
    add({ x, y: project(gate, 'down_proj') });
  }
  return rmsnorm({ x, weight: weights.finalNorm, rows: n, size: d, eps: config.rmsNormEps, out: x });
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

/** Logits of the chosen rows: `hidden · lm_head^T`. Returns `// [rowIndices.length, vocab] f32`. */
export function lmHead(p: LmHeadParameters): Float32Array {
  const d = p.config.hiddenSize;
  const rows = new Float32Array(p.rowIndices.length * d);
  p.rowIndices.forEach((r, i) => rows.set(p.hidden.subarray(r * d, (r + 1) * d), i * d));
  return matmul({ x: rows, w: p.weights.lmHead, rows: p.rowIndices.length, inFeatures: d, outFeatures: p.config.vocabSize });
}
