/**
 * The CPU reference's copy of the model weights, all float32. When the model's dtype is f16,
 * matrices are rounded through f16 first so the CPU computes with exactly the values the GPU holds
 * (norms and biases stay f32 on both).
 */
import { PROJECTIONS, projectionShape, type ModelConfig, type Projection } from '../../model/config.ts';
import { f16Table32 } from '../../model/dtype.ts';
import type { LoadProgress } from '../backend.ts';
import type { LoadedModel } from '../../model/load.ts';
import { projectionTensorName } from '../../model/tensorNames.ts';

/** One decoder layer's weights. */
export interface CpuLayerWeights {
  /** `// [hidden] f32` */
  inputNorm: Float32Array;
  /** `// [hidden] f32` */
  postNorm: Float32Array;
  /** Projection weights, PyTorch `[out, in]` (see `projectionShape`). */
  proj: Record<Projection, Float32Array>;
  /** q/k/v biases when `config.attentionBias`. `// [out] f32` */
  bias: Partial<Record<'q_proj' | 'k_proj' | 'v_proj', Float32Array>>;
}

/** All weights of the model. */
export interface CpuWeights {
  /** `// [vocab, hidden] f32` */
  embed: Float32Array;
  layers: CpuLayerWeights[];
  /** `// [hidden] f32` */
  finalNorm: Float32Array;
  /** The embedding matrix when tied. `// [vocab, hidden] f32` */
  lmHead: Float32Array;
}

/** Parameters of {@link loadCpuWeights}. */
export interface LoadCpuWeightsParameters {
  model: LoadedModel;
  onProgress?: LoadProgress;
  signal?: AbortSignal;
}

/** Reads every tensor into float32 (f16-rounded matrices when `model.dtype` is f16). */
export async function loadCpuWeights(p: LoadCpuWeightsParameters): Promise<CpuWeights> {
  const { model, signal } = p;
  const config: ModelConfig = model.config;
  const table = model.dtype === 'f16' ? f16Table32() : undefined;
  const matrix = async (name: string): Promise<Float32Array> => {
    if (!table) return model.weights.f32(name, signal);
    const bits = await model.weights.f16(name, signal);
    const out = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
    return out;
  };
  const vector = (name: string) => model.weights.f32(name, signal);
  const embed = await matrix('model.embed_tokens.weight');
  const layers: CpuLayerWeights[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const proj = {} as Record<Projection, Float32Array>;
    const bias: CpuLayerWeights['bias'] = {};
    for (const name of PROJECTIONS) {
      proj[name] = await matrix(projectionTensorName(i, name));
      const [out, inFeatures] = projectionShape(config, name);
      if (proj[name].length !== out * inFeatures) throw new RangeError(`${projectionTensorName(i, name)} has ${proj[name].length} values, expected ${out * inFeatures}`);
      if (config.attentionBias && (name === 'q_proj' || name === 'k_proj' || name === 'v_proj')) bias[name] = await vector(projectionTensorName(i, name, 'bias'));
    }
    layers.push({
      inputNorm: await vector(`model.layers.${i}.input_layernorm.weight`),
      postNorm: await vector(`model.layers.${i}.post_attention_layernorm.weight`),
      proj,
      bias,
    });
    p.onProgress?.(i + 1, config.numLayers);
  }
  const finalNorm = await vector('model.norm.weight');
  const lmHead = config.tieWordEmbeddings ? embed : await matrix('lm_head.weight');
  return { embed, layers, finalNorm, lmHead };
}
