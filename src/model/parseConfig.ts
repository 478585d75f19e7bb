/**
 * Hugging Face `config.json` → {@link ModelConfig} for Llama 2/3, Mistral, Qwen2, SmolLM2 and
 * TinyLlama (all Llama-family decoders).
 */
import type { ModelConfig } from './config.ts';
import { ModelArchitectureUnsupportedError, ModelConfigInvalidError } from './errors.ts';

/** Architectures openlora runs (`config.architectures[0]`). */
export const SUPPORTED_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'] as const;

const MODEL_TYPES: Record<string, string> = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM' };

/** Parameters of {@link parseModelConfig}. */
export interface ParseModelConfigParameters {
  /** The parsed config.json. */
  json: unknown;
  /** Path for error messages. */
  file: string;
  /** Extra EOS ids, e.g. from generation_config.json; merged after config's own. */
  extraEosTokenIds?: readonly number[];
}

/** Validates config.json and normalizes it. Throws {@link ModelConfigInvalidError} / {@link ModelArchitectureUnsupportedError}. */
export function parseModelConfig(p: ParseModelConfigParameters): ModelConfig {
  const { file } = p;
  if (typeof p.json !== 'object' || p.json === null || Array.isArray(p.json)) throw new ModelConfigInvalidError(file, 'it is not a JSON object');
  const c = p.json as Record<string, unknown>;
  const archs = c.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : typeof c.model_type === 'string' ? MODEL_TYPES[c.model_type] : undefined;
  if (architecture === undefined) {
    throw new ModelArchitectureUnsupportedError(file, String((Array.isArray(archs) ? archs[0] : undefined) ?? c.model_type ?? '(none)'));
  }
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(architecture)) throw new ModelArchitectureUnsupportedError(file, architecture);

  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new ModelConfigInvalidError(file, `"${key}" must be a positive integer, got ${JSON.stringify(c[key])}`);
    return v as number;
  };
  const num = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ModelConfigInvalidError(file, `"${key}" must be a positive number, got ${JSON.stringify(c[key])}`);
    return v;
  };

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  const headDim = c.head_dim === undefined || c.head_dim === null ? hiddenSize / numHeads : int('head_dim');
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new ModelConfigInvalidError(file, `head dimension ${headDim} (hidden_size ${hiddenSize} / num_attention_heads ${numHeads}) must be an even integer`);
  }
  if (numHeads % numKvHeads !== 0) {
    throw new ModelConfigInvalidError(file, `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  const torchDtype = c.torch_dtype ?? c.dtype ?? 'float32';
  if (torchDtype !== 'float32' && torchDtype !== 'float16' && torchDtype !== 'bfloat16') {
    throw new ModelConfigInvalidError(file, `"torch_dtype" ${JSON.stringify(torchDtype)} is not float32, float16 or bfloat16`);
  }
  if (architecture !== 'Qwen2ForCausalLM' && c.attention_bias === true) {
    throw new ModelConfigInvalidError(file, '"attention_bias": true (biases on q/k/v/o) is not supported for ' + architecture, {
      hint: 'openlora supports attention biases in the Qwen2 form (q/k/v only).',
    });
  }
  if (c.mlp_bias === true) throw new ModelConfigInvalidError(file, '"mlp_bias": true is not supported');
  const eos = [...idList(file, 'eos_token_id', c.eos_token_id), ...(p.extraEosTokenIds ?? [])];
  const bos = c.bos_token_id;
  return {
    architecture,
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: int('vocab_size'),
    maxPositionEmbeddings: int('max_position_embeddings', 2048),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    ropeScaling: parseRopeScaling(file, c.rope_scaling),
    tieWordEmbeddings: c.tie_word_embeddings === undefined ? false : c.tie_word_embeddings === true,
    attentionBias: architecture === 'Qwen2ForCausalLM',
    bosTokenId: Number.isSafeInteger(bos) ? (bos as number) : undefined,
    eosTokenIds: [...new Set(eos)],
    torchDtype,
  };
}

/** An integer or list of integers (`eos_token_id` may be either); null/undefined → []. */
export function idList(file: string, key: string, value: unknown): number[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  if (!list.every((v) => Number.isSafeInteger(v) && v >= 0)) throw new ModelConfigInvalidError(file, `"${key}" must be a token id or a list of them, got ${JSON.stringify(value)}`);
  return list as number[];
}

function parseRopeScaling(file: string, value: unknown): ModelConfig['ropeScaling'] {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object') throw new ModelConfigInvalidError(file, `"rope_scaling" must be an object, got ${JSON.stringify(value)}`);
  const s = value as Record<string, unknown>;
  const type = s.rope_type ?? s.type;
  if (type === 'default') return undefined;
  if (type !== 'llama3') {
    throw new ModelConfigInvalidError(file, `rope_scaling type ${JSON.stringify(type)} is not supported`, {
      hint: 'openlora supports plain RoPE and Llama-3 scaling (rope_type "llama3").',
    });
  }
  const field = (key: string): number => {
    const v = s[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ModelConfigInvalidError(file, `rope_scaling.${key} must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const scaling = {
    type: 'llama3' as const,
    factor: field('factor'),
    lowFreqFactor: field('low_freq_factor'),
    highFreqFactor: field('high_freq_factor'),
    originalMaxPositionEmbeddings: field('original_max_position_embeddings'),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    throw new ModelConfigInvalidError(file, `rope_scaling.high_freq_factor ${scaling.highFreqFactor} must exceed low_freq_factor ${scaling.lowFreqFactor}`);
  }
  return scaling;
}
