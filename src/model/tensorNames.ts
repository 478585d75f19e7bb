/**
 * The Hugging Face tensor names a Llama-family model has and the shape config.json implies for each
 * (PyTorch layout: linear weights are `[out, in]` row-major).
 */
import { PROJECTIONS, projectionShape, type ModelConfig, type Projection } from './config.ts';

/** One expected tensor. */
export interface ExpectedTensor {
  name: string;
  shape: number[];
}

/** `model.layers.{layer}.self_attn.q_proj.weight` etc. for a projection (`.bias` with `suffix`). */
export function projectionTensorName(layer: number, projection: Projection, suffix: 'weight' | 'bias' = 'weight'): string {
  const block = projection === 'gate_proj' || projection === 'up_proj' || projection === 'down_proj' ? 'mlp' : 'self_attn';
  return `model.layers.${layer}.${block}.${projection}.${suffix}`;
}

/** Every tensor the model must have, in file order (embeddings, layers, final norm, lm_head). */
export function expectedTensors(config: ModelConfig): ExpectedTensor[] {
  const d = config.hiddenSize;
  const out: ExpectedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [config.vocabSize, d] }];
  for (let i = 0; i < config.numLayers; i++) {
    out.push({ name: `model.layers.${i}.input_layernorm.weight`, shape: [d] });
    for (const proj of PROJECTIONS) {
      out.push({ name: projectionTensorName(i, proj), shape: projectionShape(config, proj) });
      if (config.attentionBias && (proj === 'q_proj' || proj === 'k_proj' || proj === 'v_proj')) {
        out.push({ name: projectionTensorName(i, proj, 'bias'), shape: [projectionShape(config, proj)[0]] });
      }
    }
    out.push({ name: `model.layers.${i}.post_attention_layernorm.weight`, shape: [d] });
  }
  out.push({ name: 'model.norm.weight', shape: [d] });
  if (!config.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [config.vocabSize, d] });
  return out;
}
