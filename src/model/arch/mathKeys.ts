/**
 * config.json keys that change a decoder's math in some Hugging Face architecture. An
 * architecture module must read each one it meets (implementing or refusing it) or name it in its
 * `ignoredKeys` with the reason its Hugging Face class ignores it too; `parseModelConfig` refuses
 * any other with an error naming the key (test/model/arch/mathKeys.test.ts checks every
 * architecture against every key).
 */
export const MATH_KEYS: Readonly<Record<string, string>> = {
  hidden_act: 'the MLP activation',
  hidden_activation: 'the MLP activation (Gemma)',
  head_dim: 'the per-head size',
  num_key_value_heads: 'grouped-query attention',
  rms_norm_eps: 'the RMSNorm epsilon',
  layer_norm_eps: 'a LayerNorm epsilon (LayerNorm models)',
  rope_theta: 'the RoPE base',
  rope_scaling: 'RoPE frequency scaling',
  rope_parameters: 'RoPE base and scaling (transformers v5 form)',
  partial_rotary_factor: 'the share of each head RoPE rotates',
  rotary_pct: 'the share of each head RoPE rotates (GPT-NeoX form)',
  rope_local_base_freq: 'a second RoPE base for local layers (Gemma 3)',
  original_max_position_embeddings: 'the context length RoPE scaling (LongRoPE) is relative to',
  sliding_window: 'sliding-window attention',
  use_sliding_window: 'turns sliding-window attention on (Qwen2)',
  max_window_layers: 'which layers use the sliding window (Qwen2)',
  layer_types: 'per-layer full or sliding attention',
  sliding_window_pattern: 'every n-th layer global (Gemma 3)',
  attention_bias: 'biases on the attention projections',
  mlp_bias: 'biases on the MLP projections',
  qkv_bias: 'biases on the q/k/v projections',
  tie_word_embeddings: 'lm_head shares the embedding matrix',
  final_logit_softcapping: 'tanh soft-capping of the logits',
  attn_logit_softcapping: 'tanh soft-capping of attention scores',
  query_pre_attn_scalar: 'the attention scale',
  use_bidirectional_attention: 'non-causal attention',
  use_qk_norm: 'RMSNorm on queries and keys',
  qk_layernorm: 'LayerNorm on queries and keys',
  use_parallel_residual: 'attention and MLP in parallel',
  clip_qkv: 'clamping q/k/v',
  attention_multiplier: 'the attention scale (Granite)',
  embedding_multiplier: 'scaling the embeddings (Granite)',
  residual_multiplier: 'scaling the residual branches (Granite)',
  logits_scaling: 'scaling the logits (Granite)',
  logit_scale: 'scaling the logits (Cohere)',
  num_local_experts: 'a mixture of experts',
  num_experts: 'a mixture of experts',
  num_experts_per_tok: 'a mixture of experts',
  quantization_config: 'quantized weights',
};
