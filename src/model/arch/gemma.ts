/**
 * Gemma: the Llama layer with GeGLU (GELU, tanh approximation), RMSNorm gains `1 + w`, embeddings
 * scaled by sqrt(hidden) rounded to the checkpoint's dtype (as transformers does, following the
 * original), tied lm_head and head_dim 256 unless config.json says otherwise. Hugging Face
 * `modeling_gemma.py`; `hidden_act: "gelu"` means the tanh approximation (transformers rewrites it).
 */
import type { ModelConfig } from '../config.ts';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../dtype.ts';
import { decoderRecipe, llamaDefaults, llamaActs, llamaModules, readActivation, readDecoder, refuseUnless, type Architecture } from './build.ts';
import type { ConfigReader } from './configReader.ts';
import { llamaLayer } from './llama.ts';

/** sqrt(hidden) as Gemma multiplies embeddings by it: rounded to the checkpoint's dtype. */
export function gemmaEmbedScale(hidden: number, torchDtype: ModelConfig['torchDtype']): number {
  const s = Math.sqrt(hidden);
  if (torchDtype === 'bfloat16') return bf16BitsToF32(f32ToBf16Bits(s));
  if (torchDtype === 'float16') return f16BitsToF32(f32ToF16Bits(s));
  return Math.fround(s);
}

/** Gemma's `use_bidirectional_attention` (embedding variants): refused, openlora runs causal decoders. */
export function refuseBidirectional(r: ConfigReader): void {
  refuseUnless(r, 'use_bidirectional_attention', [false], 'openlora runs causal decoders');
}

const NO_WINDOW = 'GemmaAttention attends to every earlier position';

export const gemma: Architecture = {
  names: ['GemmaForCausalLM'],
  modelTypes: ['gemma'],
  ignoredKeys: {
    sliding_window: NO_WINDOW,
    use_sliding_window: NO_WINDOW,
    max_window_layers: NO_WINDOW,
  },
  parse(r, common) {
    const f = readDecoder(r, { rmsNormEps: 1e-6, maxPositionEmbeddings: 8192, tieWordEmbeddings: true, headDim: 256 });
    // transformers v5 reads hidden_act, older versions hidden_activation: released Gemma configs
    // give the tanh GELU in both; a config where they disagree is refused.
    const hiddenAct = readActivation(r, 'hidden_act', 'gelu_pytorch_tanh', { gelu: 'gelu_tanh' });
    if (r.has('hidden_activation') && readActivation(r, 'hidden_activation', 'gelu_pytorch_tanh', { gelu: 'gelu_tanh' }) !== hiddenAct) {
      r.refuse('hidden_activation', `it disagrees with hidden_act, and transformers versions differ in which one Gemma uses`);
    }
    refuseBidirectional(r);
    const attentionBias = r.bool('attention_bias', false);
    return {
      ...common,
      ...f,
      ...llamaDefaults(f),
      hiddenAct,
      attentionBias,
      modules: llamaModules(f, { qkv: attentionBias, o: attentionBias, mlp: false }),
      embedScale: gemmaEmbedScale(f.hiddenSize, common.torchDtype),
    };
  },
  recipe: (config) => decoderRecipe(config, llamaActs(config), llamaLayer, 1),
};
