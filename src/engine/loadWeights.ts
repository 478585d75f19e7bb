import { PROJECTIONS, projectionShape, type ModelConfig, type Projection } from '../model/config.ts';
import { projectionTensorName } from '../model/tensorNames.ts';
import type { LoadProgress } from './backend.ts';

/** One decoder layer, in whatever form a backend holds matrices `M` and vectors `V`. */
export interface LayerWeights<M, V> {
  inputNorm: V; // [hidden]
  postNorm: V; // [hidden]
  /** Projection weights, PyTorch `[out, in]`. */
  proj: Record<Projection, M>;
  /** Biases: q/k/v only, when `config.attentionBias` (Qwen2). `// [out]` */
  bias: Partial<Record<Projection, V>>;
}

/** Every weight of a Llama-family model. */
export interface ModelWeights<M, V> {
  embed: M; // [vocab, hidden]
  layers: LayerWeights<M, V>[];
  finalNorm: V; // [hidden]
  /** lm_head; the same object as `embed` when embeddings are tied. */
  lmHead: M; // [vocab, hidden]
}

/**
 * Walks the model's tensors in file order (embedding, layers, final norm, lm_head) and builds each
 * with the backend's own `matrix` (`[rows, cols]`) and `vector` readers, reporting progress per
 * layer. The one place that knows which tensors a Llama-family decoder has.
 */
export async function loadModelWeights<M, V>(p: {
  config: ModelConfig;
  matrix: (name: string, rows: number, cols: number) => Promise<M>;
  vector: (name: string) => Promise<V>;
  onProgress?: LoadProgress;
}): Promise<ModelWeights<M, V>> {
  const { config, matrix, vector } = p;
  const embed = await matrix('model.embed_tokens.weight', config.vocabSize, config.hiddenSize);
  const layers: LayerWeights<M, V>[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const proj = {} as Record<Projection, M>;
    const bias: LayerWeights<M, V>['bias'] = {};
    for (const name of PROJECTIONS) {
      const [out, inFeatures] = projectionShape(config, name);
      proj[name] = await matrix(projectionTensorName(i, name), out, inFeatures);
      if (config.attentionBias && (name === 'q_proj' || name === 'k_proj' || name === 'v_proj')) bias[name] = await vector(projectionTensorName(i, name, 'bias'));
    }
    layers.push({ inputNorm: await vector(`model.layers.${i}.input_layernorm.weight`), postNorm: await vector(`model.layers.${i}.post_attention_layernorm.weight`), proj, bias });
    p.onProgress?.(i + 1, config.numLayers);
  }
  const finalNorm = await vector('model.norm.weight');
  const lmHead = config.tieWordEmbeddings ? embed : await matrix('lm_head.weight', config.vocabSize, config.hiddenSize);
  return { embed, layers, finalNorm, lmHead };
}
