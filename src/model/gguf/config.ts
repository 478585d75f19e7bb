/**
 * A model's config.json ↔ GGUF metadata. Written with llama.cpp's keys (`{arch}.block_count`,
 * `{arch}.attention.head_count`, ...) so llama.cpp runs the file, plus `openlora.hf_config` (the
 * config.json text) so openlora reads back exactly what was written, including what llama.cpp
 * has no key for (Qwen2's window layers, Gemma 2's `query_pre_attn_scalar`). GGUF files from
 * elsewhere are read from llama.cpp's keys into a config.json the architecture modules parse.
 */
import type { ModelConfig } from '../config.ts';
import { GgufInvalidError, ModelArchitectureUnsupportedError } from '../errors.ts';
import { SUPPORTED_ARCHITECTURES } from '../arch/index.ts';
import type { GgufMetadata, GgufValue } from './format.ts';
import { GGUF_ARCH } from './names.ts';
import { metaNumber, metaString, type GgufTensorInfo } from './read.ts';

/** Metadata key holding the config.json openlora wrote the file from. */
export const HF_CONFIG_KEY = 'openlora.hf_config';

const u32 = (value: number): GgufValue => ({ type: 'u32', value });
const f32 = (value: number): GgufValue => ({ type: 'f32', value });

/** llama.cpp's `general.file_type` (`enum llama_ftype`) of a model whose matrices are mostly `type`. */
export const FILE_TYPE: Readonly<Record<string, number>> = { F32: 0, F16: 1, q4_0: 2, q8_0: 7, q4_k: 15, q6_k: 18, BF16: 32 };

/** Parameters of {@link configMetadata}. */
export interface ConfigMetadataParameters {
  config: ModelConfig;
  /** The config.json object the model was parsed from. */
  configJson: Record<string, unknown>;
  name: string;
  /** Type of most matrices (for `general.file_type`). */
  mainType: string;
}

/** The metadata entries that describe the model (not its tokenizer). */
export function configMetadata(p: ConfigMetadataParameters): GgufMetadata {
  const { config: c } = p;
  const arch = GGUF_ARCH[c.architecture];
  const m: GgufMetadata = new Map();
  m.set('general.architecture', { type: 'string', value: arch });
  m.set('general.name', { type: 'string', value: p.name });
  m.set('general.file_type', u32(FILE_TYPE[p.mainType]));
  m.set(`${arch}.vocab_size`, u32(c.vocabSize));
  m.set(`${arch}.context_length`, u32(c.maxPositionEmbeddings));
  m.set(`${arch}.embedding_length`, u32(c.hiddenSize));
  m.set(`${arch}.block_count`, u32(c.numLayers));
  m.set(`${arch}.feed_forward_length`, u32(c.intermediateSize));
  m.set(`${arch}.attention.head_count`, u32(c.numHeads));
  m.set(`${arch}.attention.head_count_kv`, u32(c.numKvHeads));
  m.set(`${arch}.attention.key_length`, u32(c.headDim));
  m.set(`${arch}.attention.value_length`, u32(c.headDim));
  m.set(`${arch}.attention.layer_norm_rms_epsilon`, f32(c.rmsNormEps));
  m.set(`${arch}.rope.freq_base`, f32(c.ropeTheta));
  m.set(`${arch}.rope.dimension_count`, u32(c.rotaryDim));
  if (c.ropeScaling?.type === 'linear') {
    m.set(`${arch}.rope.scaling.type`, { type: 'string', value: 'linear' });
    m.set(`${arch}.rope.scaling.factor`, f32(c.ropeScaling.factor));
  }
  const window = c.slidingWindows.find((w) => w > 0);
  if (window) m.set(`${arch}.attention.sliding_window`, u32(window));
  if (c.attnSoftcap) m.set(`${arch}.attn_logit_softcapping`, f32(c.attnSoftcap));
  if (c.finalSoftcap) m.set(`${arch}.final_logit_softcapping`, f32(c.finalSoftcap));
  m.set(HF_CONFIG_KEY, { type: 'string', value: JSON.stringify(p.configJson) });
  return m;
}

const HF_NAME: Record<string, { name: string; modelType: string }> = {
  llama: { name: 'LlamaForCausalLM', modelType: 'llama' },
  qwen2: { name: 'Qwen2ForCausalLM', modelType: 'qwen2' },
  gemma: { name: 'GemmaForCausalLM', modelType: 'gemma' },
  gemma2: { name: 'Gemma2ForCausalLM', modelType: 'gemma2' },
  phi3: { name: 'Phi3ForCausalLM', modelType: 'phi3' },
};

/** Parameters of {@link configJsonFromGguf}. */
export interface ConfigJsonFromGgufParameters {
  file: string;
  metadata: GgufMetadata;
  tensors: ReadonlyMap<string, GgufTensorInfo>;
}

/**
 * The config.json of a GGUF file: `openlora.hf_config` when present, else rebuilt from llama.cpp's
 * keys and tensor list (dtype from `token_embd`: F32 → float32, BF16 → bfloat16, else float16).
 */
export function configJsonFromGguf(p: ConfigJsonFromGgufParameters): Record<string, unknown> {
  const { file, metadata, tensors } = p;
  const own = metaString(file, metadata, HF_CONFIG_KEY);
  if (own !== undefined) {
    try {
      return JSON.parse(own) as Record<string, unknown>;
    } catch (error) {
      throw new GgufInvalidError(file, `metadata "${HF_CONFIG_KEY}" is not JSON`, { cause: error });
    }
  }
  const arch = metaString(file, metadata, 'general.architecture');
  if (arch === undefined) throw new GgufInvalidError(file, 'it has no general.architecture');
  const hf = HF_NAME[arch];
  if (!hf) throw new ModelArchitectureUnsupportedError(file, `GGUF architecture ${JSON.stringify(arch)}`, SUPPORTED_ARCHITECTURES);
  // f32 values were decimals in config.json: the shortest decimal that rounds to the same f32 (1e-5, not 9.99999974e-6).
  const num = (key: string) => {
    const v = metaNumber(file, metadata, `${arch}.${key}`);
    if (v === undefined || metadata.get(`${arch}.${key}`)?.type !== 'f32') return v;
    for (let digits = 1; digits <= 9; digits++) {
      const d = Number(v.toPrecision(digits));
      if (Math.fround(d) === v) return d;
    }
    return v;
  };
  const required = (key: string) => {
    const v = num(key);
    if (v === undefined) throw new GgufInvalidError(file, `it has no ${arch}.${key}`);
    return v;
  };
  const hidden = required('embedding_length');
  const heads = required('attention.head_count');
  const headDim = num('attention.key_length') ?? hidden / heads;
  const embed = tensors.get('token_embd.weight');
  if (!embed) throw new GgufInvalidError(file, 'it has no token_embd.weight');
  const tokens = metadata.get('tokenizer.ggml.tokens');
  const json: Record<string, unknown> = {
    architectures: [hf.name],
    model_type: hf.modelType,
    hidden_size: hidden,
    intermediate_size: required('feed_forward_length'),
    num_hidden_layers: required('block_count'),
    num_attention_heads: heads,
    num_key_value_heads: num('attention.head_count_kv') ?? heads,
    head_dim: headDim,
    vocab_size: num('vocab_size') ?? embed.ne[1] ?? (tokens?.type === 'array' ? tokens.value.length : undefined),
    max_position_embeddings: required('context_length'),
    rms_norm_eps: required('attention.layer_norm_rms_epsilon'),
    rope_theta: num('rope.freq_base') ?? 10000,
    tie_word_embeddings: !tensors.has('output.weight'),
    torch_dtype: embed.type === 'F32' ? 'float32' : embed.type === 'BF16' ? 'bfloat16' : 'float16',
  };
  const bos = metaNumber(file, metadata, 'tokenizer.ggml.bos_token_id');
  const eos = metaNumber(file, metadata, 'tokenizer.ggml.eos_token_id');
  if (bos !== undefined) json.bos_token_id = bos;
  if (eos !== undefined) json.eos_token_id = eos;
  const scaling = metaString(file, metadata, `${arch}.rope.scaling.type`);
  if (scaling === 'linear') json.rope_scaling = { rope_type: 'linear', factor: num('rope.scaling.factor') };
  else if (scaling !== undefined && scaling !== 'none') json.rope_scaling = { rope_type: scaling };
  if (tensors.has('rope_freqs.weight')) json.rope_scaling = { rope_type: 'rope_freqs.weight (per-frequency factors)' };
  const window = num('attention.sliding_window');
  const rotary = num('rope.dimension_count');
  if (arch === 'llama') {
    json.attention_bias = tensors.has('blk.0.attn_q.bias');
    json.mlp_bias = tensors.has('blk.0.ffn_up.bias');
    if (window) Object.assign(json, { architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: window });
  } else if (arch === 'gemma' || arch === 'gemma2') {
    json.hidden_act = 'gelu_pytorch_tanh';
    if (arch === 'gemma2') {
      // llama.cpp scales queries by head_dim^-1/2, except Gemma 2 27B (46 layers): (hidden / heads)^-1/2.
      json.query_pre_attn_scalar = json.num_hidden_layers === 46 ? hidden / heads : headDim;
      json.sliding_window = window ?? null;
      json.attn_logit_softcapping = num('attn_logit_softcapping') ?? null;
      json.final_logit_softcapping = num('final_logit_softcapping') ?? null;
    }
  } else if (arch === 'phi3') {
    if (rotary !== undefined && rotary !== headDim) json.partial_rotary_factor = rotary / headDim;
    json.sliding_window = window ?? null;
  }
  return json;
}
