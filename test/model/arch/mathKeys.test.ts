/**
 * No silent wrong answers from config.json: for every architecture, every key that changes the
 * math in some Hugging Face model (src/model/arch/mathKeys.ts) is implemented (a new value changes
 * the parsed config), refused (an error naming the key), or ignored as that architecture's HF class
 * ignores it (declared with a reason; the parsed config stays the same).
 */
import { describe, expect, it } from 'vitest';
import type { Architecture } from '../../../src/model/arch/build.ts';
import { createConfigReader } from '../../../src/model/arch/configReader.ts';
import { ARCHITECTURES } from '../../../src/model/arch/index.ts';
import { MATH_KEYS } from '../../../src/model/arch/mathKeys.ts';
import { parseModelConfig } from '../../../src/model/parseConfig.ts';
import { presetConfigJson, type ModelPreset } from '../../../src/model/presets.ts';

const PRESET: Record<string, ModelPreset> = {
  LlamaForCausalLM: 'tiny',
  MistralForCausalLM: 'tiny-mistral',
  Qwen2ForCausalLM: 'tiny-qwen2',
  GemmaForCausalLM: 'tiny-gemma',
  Gemma2ForCausalLM: 'tiny-gemma2',
  Phi3ForCausalLM: 'tiny-phi3',
};

/** Values to try per key: at least one differs from each preset's. */
const SAMPLES: Record<string, unknown[]> = {
  hidden_act: ['silu', 'gelu_pytorch_tanh'],
  hidden_activation: ['silu', 'gelu_pytorch_tanh'],
  head_dim: [16, 64],
  num_key_value_heads: [1, 4],
  rms_norm_eps: [1e-3],
  layer_norm_eps: [1e-3],
  rope_theta: [500000],
  rope_scaling: [{ rope_type: 'linear', factor: 2 }, { rope_type: 'yarn', factor: 2 }],
  rope_parameters: [{ rope_type: 'default', rope_theta: 1234 }],
  partial_rotary_factor: [0.5],
  rotary_pct: [0.5],
  rope_local_base_freq: [10000],
  original_max_position_embeddings: [1024],
  sliding_window: [8, 4096],
  use_sliding_window: [true, false],
  max_window_layers: [0, 2],
  layer_types: [
    ['full_attention', 'full_attention'],
    ['sliding_attention', 'sliding_attention'],
  ],
  sliding_window_pattern: [2],
  attention_bias: [true],
  mlp_bias: [true],
  qkv_bias: [true],
  tie_word_embeddings: [true, false],
  final_logit_softcapping: [5],
  attn_logit_softcapping: [5],
  query_pre_attn_scalar: [64],
  use_bidirectional_attention: [true],
  use_qk_norm: [true],
  qk_layernorm: [true],
  use_parallel_residual: [true],
  clip_qkv: [8],
  attention_multiplier: [0.5],
  embedding_multiplier: [12],
  residual_multiplier: [0.2],
  logits_scaling: [8],
  logit_scale: [0.0625],
  num_local_experts: [8],
  num_experts: [8],
  num_experts_per_tok: [2],
  quantization_config: [{ quant_method: 'gptq', bits: 4 }],
};

/** The config.json keys each architecture reads (besides torch_dtype, bos/eos ids, read for all). */
const READS: Record<string, string[]> = {
  LlamaForCausalLM: ['attention_bias', 'head_dim', 'hidden_act', 'hidden_size', 'intermediate_size', 'max_position_embeddings', 'mlp_bias', 'num_attention_heads', 'num_hidden_layers', 'num_key_value_heads', 'partial_rotary_factor', 'rms_norm_eps', 'rope_parameters', 'rope_scaling', 'rope_theta', 'tie_word_embeddings', 'vocab_size'],
  MistralForCausalLM: ['head_dim', 'hidden_act', 'hidden_size', 'intermediate_size', 'max_position_embeddings', 'num_attention_heads', 'num_hidden_layers', 'num_key_value_heads', 'partial_rotary_factor', 'rms_norm_eps', 'rope_parameters', 'rope_scaling', 'rope_theta', 'sliding_window', 'tie_word_embeddings', 'vocab_size'],
  Qwen2ForCausalLM: ['head_dim', 'hidden_act', 'hidden_size', 'intermediate_size', 'layer_types', 'max_position_embeddings', 'max_window_layers', 'num_attention_heads', 'num_hidden_layers', 'num_key_value_heads', 'partial_rotary_factor', 'rms_norm_eps', 'rope_parameters', 'rope_scaling', 'rope_theta', 'sliding_window', 'tie_word_embeddings', 'use_sliding_window', 'vocab_size'],
  GemmaForCausalLM: ['attention_bias', 'head_dim', 'hidden_act', 'hidden_activation', 'hidden_size', 'intermediate_size', 'max_position_embeddings', 'num_attention_heads', 'num_hidden_layers', 'num_key_value_heads', 'partial_rotary_factor', 'rms_norm_eps', 'rope_parameters', 'rope_scaling', 'rope_theta', 'tie_word_embeddings', 'use_bidirectional_attention', 'vocab_size'],
  Gemma2ForCausalLM: ['attention_bias', 'attn_logit_softcapping', 'final_logit_softcapping', 'head_dim', 'hidden_activation', 'hidden_size', 'intermediate_size', 'layer_types', 'max_position_embeddings', 'num_attention_heads', 'num_hidden_layers', 'num_key_value_heads', 'partial_rotary_factor', 'query_pre_attn_scalar', 'rms_norm_eps', 'rope_parameters', 'rope_scaling', 'rope_theta', 'sliding_window', 'tie_word_embeddings', 'use_bidirectional_attention', 'vocab_size'],
  Phi3ForCausalLM: ['head_dim', 'hidden_act', 'hidden_size', 'intermediate_size', 'max_position_embeddings', 'num_attention_heads', 'num_hidden_layers', 'num_key_value_heads', 'partial_rotary_factor', 'rms_norm_eps', 'rope_parameters', 'rope_scaling', 'rope_theta', 'sliding_window', 'tie_word_embeddings', 'vocab_size'],
};

const COMMON = { architecture: 'x', torchDtype: 'float32' as const, eosTokenIds: [], bosTokenId: undefined };

function keysRead(arch: Architecture): string[] {
  const r = createConfigReader('config.json', presetConfigJson(PRESET[arch.names[0]]));
  arch.parse(r, { ...COMMON, architecture: arch.names[0] });
  return [...r.read].sort();
}

describe('config.json keys per architecture', () => {
  it('every math-changing key has samples', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(Object.keys(MATH_KEYS).sort());
  });

  for (const arch of ARCHITECTURES) {
    const name = arch.names[0];
    it(`${name}: lists the keys it reads`, () => {
      expect(keysRead(arch)).toEqual(READS[name]);
    });

    it(`${name}: every math-changing key is implemented, refused by name, or ignored as its HF class ignores it`, () => {
      const base = presetConfigJson(PRESET[name]);
      const baseConfig = parseModelConfig({ json: base, file: 'config.json' });
      const read = new Set(keysRead(arch));
      for (const key of Object.keys(MATH_KEYS)) {
        const outcomes: Array<'changed' | 'same' | 'refused'> = [];
        for (const value of SAMPLES[key]) {
          try {
            const c = parseModelConfig({ json: { ...base, [key]: value }, file: 'config.json' });
            outcomes.push(JSON.stringify(c) === JSON.stringify(baseConfig) ? 'same' : 'changed');
          } catch (error) {
            const e = error as { code?: string; message: string };
            expect(e.code, `${name} ${key}=${JSON.stringify(value)}: ${e.message}`).toMatch(/^OPENLORA_MODEL_CONFIG_(UNSUPPORTED|INVALID)$/);
            expect(e.message, `${name} ${key}`).toContain(key);
            outcomes.push('refused');
          }
        }
        if (key in arch.ignoredKeys) {
          expect(outcomes.every((o) => o === 'same'), `${name} declares ${key} ignored, yet it changed the config or was refused`).toBe(true);
          expect(read.has(key), `${name} reads ${key} although it declares it ignored`).toBe(false);
        } else {
          expect(outcomes.some((o) => o !== 'same'), `${name} silently ignores ${key} (${MATH_KEYS[key]})`).toBe(true);
        }
      }
    });
  }

  it('the refusal names the field and the architecture', () => {
    expect(() => parseModelConfig({ json: { ...presetConfigJson('tiny'), final_logit_softcapping: 30 }, file: 'config.json' })).toThrow(/"final_logit_softcapping": 30 is not supported: LlamaForCausalLM does not implement tanh soft-capping of the logits/);
    expect(() => parseModelConfig({ json: { ...presetConfigJson('tiny'), hidden_act: 'relu' }, file: 'config.json' })).toThrow(/"hidden_act": "relu" is not supported: activation "relu" is not implemented/);
    expect(() => parseModelConfig({ json: { ...presetConfigJson('tiny-phi3'), rope_scaling: { type: 'longrope', short_factor: [1], long_factor: [2] } }, file: 'config.json' })).toThrow(/"rope_scaling".*rope type "longrope" is not implemented/);
  });
});
