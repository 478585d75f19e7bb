/**
 * Shapes of the models openlora generates for itself (no weights can be downloaded), as the
 * `config.json` they are written with.
 */
import { BYTE_TOKENIZER_SIZE, byteSpecialId } from './byteTokenizer.ts';

/** Preset names of `openlora model create`: `tiny` (Llama) and one tiny model per other architecture, and benchmark shapes. */
export const MODEL_PRESETS = ['tiny', 'tiny-mistral', 'tiny-qwen2', 'tiny-gemma', 'tiny-gemma2', 'tiny-phi3', 'bench-135m', 'bench-1b'] as const;
export type ModelPreset = (typeof MODEL_PRESETS)[number];

/** True for the small test presets (`tiny`, `tiny-*`): f32 on disk by default. */
export function isTinyPreset(name: string): boolean {
  return name === 'tiny' || name.startsWith('tiny-');
}

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
  // Test models: byte-level vocabulary, untied lm_head (tied embeddings over tiny layers decode one
  // token over and over, which makes greedy comparisons weak; the tied path is tested with
  // hand-made configs). Windows of 16 positions so short prompts cross them.
  const tiny = {
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
  const { attention_bias: _a, mlp_bias: _m, ...noBiasKeys } = tiny;
  switch (preset) {
    case 'tiny':
      return tiny;
    case 'tiny-mistral':
      // Mistral-7B-v0.1's form: sliding window on every layer.
      return { ...noBiasKeys, architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 16 };
    case 'tiny-qwen2':
      // Qwen2: q/k/v biases; the window on layers >= max_window_layers when use_sliding_window.
      return { ...noBiasKeys, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', use_sliding_window: true, sliding_window: 16, max_window_layers: 1 };
    case 'tiny-gemma':
      // Gemma-2B's form: multi-query attention, GeGLU, (1 + w) norms, scaled embeddings.
      return { ...noBiasKeys, architectures: ['GemmaForCausalLM'], model_type: 'gemma', hidden_act: 'gelu_pytorch_tanh', head_dim: 32, num_key_value_heads: 1, rms_norm_eps: 1e-6 };
    case 'tiny-gemma2':
      // Gemma 2: local (windowed) and global layers alternating, soft-capped scores and logits,
      // query_pre_attn_scalar apart from head_dim, pre- and post-norms around both blocks.
      return {
        ...noBiasKeys,
        architectures: ['Gemma2ForCausalLM'],
        model_type: 'gemma2',
        hidden_act: 'gelu_pytorch_tanh',
        hidden_activation: 'gelu_pytorch_tanh',
        head_dim: 32,
        query_pre_attn_scalar: 24,
        sliding_window: 16,
        attn_logit_softcapping: 50,
        final_logit_softcapping: 30,
        rms_norm_eps: 1e-6,
      };
    case 'tiny-phi3':
      // Phi-3: fused qkv_proj and gate_up_proj, a sliding window (Phi-3-mini-4k: 2047), partial rotary (Phi-4-mini: 0.75).
      return { ...noBiasKeys, architectures: ['Phi3ForCausalLM'], model_type: 'phi3', sliding_window: 16, partial_rotary_factor: 0.75 };
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
