/**
 * Gemma 2: Gemma (GeGLU, `1 + w` norms, scaled embeddings) plus a norm after attention and after
 * the MLP, both before the residual add, a norm before the MLP, soft-capped attention scores and
 * logits (`cap · tanh(s / cap)`), the attention scale `query_pre_attn_scalar^-1/2`, and sliding-window
 * attention on alternate layers (layers 0, 2, 4... unless `layer_types` says otherwise). Hugging
 * Face `modeling_gemma2.py`; absent keys take Gemma2Config's defaults (window 4096, caps 50 / 30).
 */
import type { ModelConfig } from '../config.ts';
import { decoderRecipe, llamaDefaults, llamaActs, llamaModules, optionalInt, optionalNum, readActivation, readDecoder, readLayerTypes, windows, type Architecture, type LayerBuilder } from './build.ts';
import { gemmaEmbedScale, refuseBidirectional } from './gemma.ts';
import type { LayerOp } from './recipe.ts';

/** A Gemma 2 layer: the norms wrap each block on both sides; `o` holds a block's output. */
export function gemma2Layer(b: LayerBuilder): LayerOp[] {
  return [
    b.norm('input_layernorm', 'x', 'h'), //                     h = rmsnorm(x) · (1 + w)          [rows, hidden]
    b.linear('q_proj', 'h', 'q'), //                              q = h Wq^T                        [rows, heads · headDim]
    b.linear('k_proj', 'h', 'k'), //                              k = h Wk^T                        [rows, kvHeads · headDim]
    b.linear('v_proj', 'h', 'v'), //                              v = h Wv^T                        [rows, kvHeads · headDim]
    b.attention('q', 'k', 'v', 'attn'), //                        attn = softmax(cap(rope(q) rope(k)^T s)) v, windowed on local layers
    b.linear('o_proj', 'attn', 'o'), //                           o = attn Wo^T                     [rows, hidden]
    b.norm('post_attention_layernorm', 'o', 'x', { add: true }), // x += rmsnorm(o) · (1 + w)
    b.norm('pre_feedforward_layernorm', 'x', 'h'), //           h = rmsnorm(x) · (1 + w)
    b.linear('gate_proj', 'h', 'gate'), //                        gate = h Wg^T                     [rows, intermediate]
    b.linear('up_proj', 'h', 'up'), //                            up = h Wu^T                       [rows, intermediate]
    b.glu('gate', 'up'), //                                       gate = gelu_tanh(gate) · up
    b.linear('down_proj', 'gate', 'o'), //                        o = gate Wd^T                     [rows, hidden]
    b.norm('post_feedforward_layernorm', 'o', 'x', { add: true }), // x += rmsnorm(o) · (1 + w)
  ];
}

export const gemma2: Architecture = {
  names: ['Gemma2ForCausalLM'],
  modelTypes: ['gemma2'],
  ignoredKeys: {
    hidden_act: 'Gemma2MLP reads hidden_activation',
    use_sliding_window: 'Gemma 2 places windows by layer_types',
    max_window_layers: 'Gemma 2 places windows by layer_types',
  },
  parse(r, common) {
    const f = readDecoder(r, { rmsNormEps: 1e-6, maxPositionEmbeddings: 8192, tieWordEmbeddings: true, headDim: 256 });
    refuseBidirectional(r);
    const attentionBias = r.bool('attention_bias', false);
    const types = readLayerTypes(r, f.numLayers);
    return {
      ...common,
      ...f,
      ...llamaDefaults(f),
      hiddenAct: readActivation(r, 'hidden_activation', 'gelu_pytorch_tanh'),
      attentionBias,
      modules: llamaModules(f, { qkv: attentionBias, o: attentionBias, mlp: false }),
      slidingWindows: windows(f.numLayers, optionalInt(r, 'sliding_window', 4096), (l) => (types ? types[l] : l % 2 === 0)),
      attnScale: 1 / Math.sqrt(r.num('query_pre_attn_scalar', 256)),
      attnSoftcap: optionalNum(r, 'attn_logit_softcapping', 50) ?? 0,
      finalSoftcap: optionalNum(r, 'final_logit_softcapping', 30) ?? 0,
      embedScale: gemmaEmbedScale(f.hiddenSize, common.torchDtype),
    };
  },
  recipe: (config: ModelConfig) => decoderRecipe(config, { ...llamaActs(config), o: config.hiddenSize }, gemma2Layer, 1),
};
