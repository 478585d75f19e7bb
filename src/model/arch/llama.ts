/**
 * Llama (Llama 2/3, SmolLM2, TinyLlama): pre-norm decoder, RoPE (plain, linear or Llama-3
 * scaling), grouped-query attention over every earlier position, SwiGLU MLP; optional biases
 * (`attention_bias` on q/k/v/o, `mlp_bias`). Hugging Face `modeling_llama.py`.
 */
import type { ModelConfig } from '../config.ts';
import { decoderRecipe, llamaDefaults, llamaActs, llamaModules, readActivation, readDecoder, type Architecture, type LayerBuilder } from './build.ts';
import type { LayerOp } from './recipe.ts';

/**
 * The Llama layer, shared by Mistral and Qwen2 (they differ in config, not in ops):
 * attention and SwiGLU MLP, each pre-normed and added to the residual stream `x`.
 */
export function llamaLayer(b: LayerBuilder): LayerOp[] {
  return [
    b.norm('input_layernorm', 'x', 'h'), //                 h = rmsnorm(x) · w              [rows, hidden]
    b.linear('q_proj', 'h', 'q'), //                          q = h Wq^T (+ bq)               [rows, heads · headDim]
    b.linear('k_proj', 'h', 'k'), //                          k = h Wk^T (+ bk)               [rows, kvHeads · headDim]
    b.linear('v_proj', 'h', 'v'), //                          v = h Wv^T (+ bv)               [rows, kvHeads · headDim]
    b.attention('q', 'k', 'v', 'attn'), //                    attn = softmax(rope(q) rope(k)^T s) v   [rows, heads · headDim]
    b.linear('o_proj', 'attn', 'x', { accumulate: true }), // x += attn Wo^T                 [rows, hidden]
    b.norm('post_attention_layernorm', 'x', 'h'), //        h = rmsnorm(x) · w              [rows, hidden]
    b.linear('gate_proj', 'h', 'gate'), //                    gate = h Wg^T                   [rows, intermediate]
    b.linear('up_proj', 'h', 'up'), //                        up = h Wu^T                     [rows, intermediate]
    b.glu('gate', 'up'), //                                   gate = silu(gate) · up          [rows, intermediate]
    b.linear('down_proj', 'gate', 'x', { accumulate: true }), // x += gate Wd^T              [rows, hidden]
  ];
}

/** The recipe of a model with {@link llamaLayer} layers. */
export function llamaRecipe(config: ModelConfig) {
  return decoderRecipe(config, llamaActs(config), llamaLayer);
}

const NO_WINDOW = 'LlamaAttention attends to every earlier position (transformers ignores the key for Llama)';

export const llama: Architecture = {
  names: ['LlamaForCausalLM'],
  modelTypes: ['llama'],
  ignoredKeys: { sliding_window: NO_WINDOW, use_sliding_window: NO_WINDOW, max_window_layers: NO_WINDOW },
  parse(r, common) {
    const f = readDecoder(r, { rmsNormEps: 1e-6, maxPositionEmbeddings: 2048, tieWordEmbeddings: false });
    const attentionBias = r.bool('attention_bias', false);
    const mlpBias = r.bool('mlp_bias', false);
    return {
      ...common,
      ...f,
      ...llamaDefaults(f),
      hiddenAct: readActivation(r, 'hidden_act', 'silu'),
      attentionBias,
      modules: llamaModules(f, { qkv: attentionBias, o: attentionBias, mlp: mlpBias }),
    };
  },
  recipe: llamaRecipe,
};
