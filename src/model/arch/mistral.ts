/**
 * Mistral: the Llama layer with sliding-window attention on every layer (`sliding_window`,
 * 4096 when config.json omits it as transformers' MistralConfig does; null turns it off, as in
 * Mistral-7B v0.2+) and no biases. Hugging Face `modeling_mistral.py`.
 */
import { llamaDefaults, llamaModules, optionalInt, readActivation, readDecoder, windows, type Architecture } from './build.ts';
import { llamaRecipe } from './llama.ts';

const NO_BIAS = 'MistralAttention and MistralMLP have no biases';

export const mistral: Architecture = {
  names: ['MistralForCausalLM'],
  modelTypes: ['mistral'],
  ignoredKeys: {
    attention_bias: NO_BIAS,
    mlp_bias: NO_BIAS,
    use_sliding_window: 'Mistral uses sliding_window alone',
    max_window_layers: 'every Mistral layer uses sliding_window',
    layer_types: 'MistralForCausalLM ignores it (transformers warns and points to Ministral)',
  },
  parse(r, common) {
    const f = readDecoder(r, { rmsNormEps: 1e-6, maxPositionEmbeddings: 4096 * 32, tieWordEmbeddings: false });
    return {
      ...common,
      ...f,
      ...llamaDefaults(f),
      hiddenAct: readActivation(r, 'hidden_act', 'silu'),
      attentionBias: false,
      modules: llamaModules(f, { qkv: false, o: false, mlp: false }),
      slidingWindows: windows(f.numLayers, optionalInt(r, 'sliding_window', 4096)),
    };
  },
  recipe: llamaRecipe,
};
