/**
 * Shapes of the models openlora generates for itself (no weights can be downloaded), as the
 * `config.json` they are written with.
 */
import { BYTE_TOKENIZER_SIZE, byteSpecialId } from './byteTokenizer.ts';

/** Preset names of `openlora model create`. */
export const MODEL_PRESETS = ['tiny', 'bench-135m', 'bench-1b'] as const;
export type ModelPreset = (typeof MODEL_PRESETS)[number];

/** True when `name` is a preset. */
export function isModelPreset(name: string): name is ModelPreset {
  return (MODEL_PRESETS as readonly string[]).includes(name);
}

const BOS = byteSpecialId('<|begin_of_text|>');
const EOS = byteSpecialId('<|end_of_text|>');
const IM_END = byteSpecialId('<|im_end|>');

/** HF config.json (without torch_dtype) of a preset. */
export function presetConfigJson(preset: ModelPreset): Record<string, unknown> {
  const common = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    initializer_range: 0.02,
    bos_token_id: BOS,
    eos_token_id: EOS,
  };
  switch (preset) {
    case 'tiny':
      // Test model: byte-level vocabulary, untied lm_head (tied + tiny layers would echo the input).
      return {
        ...common,
        hidden_size: 128,
        intermediate_size: 384,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        vocab_size: BYTE_TOKENIZER_SIZE,
        max_position_embeddings: 2048,
        rms_norm_eps: 1e-5,
        rope_theta: 10000,
        tie_word_embeddings: false,
      };
    case 'bench-135m':
      // HuggingFaceTB/SmolLM2-135M config.json shapes.
      return {
        ...common,
        hidden_size: 576,
        intermediate_size: 1536,
        num_hidden_layers: 30,
        num_attention_heads: 9,
        num_key_value_heads: 3,
        vocab_size: 49152,
        max_position_embeddings: 8192,
        rms_norm_eps: 1e-5,
        rope_theta: 100000,
        tie_word_embeddings: true,
      };
    case 'bench-1b':
      // meta-llama/Llama-3.2-1B config.json shapes.
      return {
        ...common,
        hidden_size: 2048,
        intermediate_size: 8192,
        num_hidden_layers: 16,
        num_attention_heads: 32,
        num_key_value_heads: 8,
        head_dim: 64,
        vocab_size: 128256,
        max_position_embeddings: 131072,
        rms_norm_eps: 1e-5,
        rope_theta: 500000,
        rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
        tie_word_embeddings: true,
      };
  }
}

/** generation_config.json of every preset: ChatML turns end with `<|im_end|>`. */
export function presetGenerationConfig(): Record<string, unknown> {
  return { bos_token_id: BOS, eos_token_id: [EOS, IM_END] };
}
