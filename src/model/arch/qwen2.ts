/**
 * Qwen2 / Qwen2.5: the Llama layer with biases on q/k/v (always), and sliding-window attention
 * only when `use_sliding_window` is true, on layers `>= max_window_layers` (or as `layer_types`
 * says). Hugging Face `modeling_qwen2.py` / `configuration_qwen2.py`.
 */
import { llamaDefaults, llamaModules, optionalInt, readActivation, readDecoder, readLayerTypes, windows, type Architecture } from './build.ts';
import { llamaRecipe } from './llama.ts';

export const qwen2: Architecture = {
  names: ['Qwen2ForCausalLM'],
  modelTypes: ['qwen2'],
  ignoredKeys: { attention_bias: 'Qwen2Attention always has q/k/v biases and none on o_proj', mlp_bias: 'Qwen2MLP has no biases' },
  parse(r, common) {
    const f = readDecoder(r, { rmsNormEps: 1e-6, maxPositionEmbeddings: 32768, tieWordEmbeddings: false });
    const useWindow = r.bool('use_sliding_window', false);
    const window = optionalInt(r, 'sliding_window', 4096);
    const maxWindowLayers = r.has('max_window_layers') ? r.int('max_window_layers') : 28;
    const types = readLayerTypes(r, f.numLayers);
    return {
      ...common,
      ...f,
      ...llamaDefaults(f),
      hiddenAct: readActivation(r, 'hidden_act', 'silu'),
      attentionBias: true,
      modules: llamaModules(f, { qkv: true, o: false, mlp: false }),
      slidingWindows: windows(f.numLayers, useWindow ? window : undefined, (l) => (types ? types[l] : l >= maxWindowLayers)),
    };
  },
  recipe: llamaRecipe,
};
