/**
 * Hugging Face tensor names ↔ llama.cpp's GGUF names (`gguf-py/gguf/tensor_mapping.py`), per
 * architecture, and the row permutation llama.cpp's converter applies to Llama's q/k projections
 * (`LlamaModel.permute`: llama.cpp rotates interleaved pairs, transformers rotates halves).
 */
import type { ModelConfig } from '../config.ts';

/** llama.cpp's architecture name (`general.architecture`) of each Hugging Face class. Mistral converts as Llama. */
export const GGUF_ARCH: Readonly<Record<string, string>> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  GemmaForCausalLM: 'gemma',
  Gemma2ForCausalLM: 'gemma2',
  Phi3ForCausalLM: 'phi3',
};

const GLOBAL: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};

/** Layer module paths → GGUF block tensor names. */
function layerNames(arch: string): Record<string, string> {
  return {
    input_layernorm: 'attn_norm',
    'self_attn.q_proj': 'attn_q',
    'self_attn.k_proj': 'attn_k',
    'self_attn.v_proj': 'attn_v',
    'self_attn.o_proj': 'attn_output',
    'self_attn.qkv_proj': 'attn_qkv',
    post_attention_layernorm: arch === 'Gemma2ForCausalLM' ? 'post_attention_norm' : 'ffn_norm',
    pre_feedforward_layernorm: 'ffn_norm',
    post_feedforward_layernorm: 'post_ffw_norm',
    'mlp.gate_proj': 'ffn_gate',
    'mlp.up_proj': 'ffn_up',
    'mlp.down_proj': 'ffn_down',
    'mlp.gate_up_proj': 'ffn_up',
  };
}

/** The GGUF name of a Hugging Face tensor of `architecture`, or undefined when llama.cpp has none. */
export function ggufTensorName(architecture: string, hfName: string): string | undefined {
  if (GLOBAL[hfName]) return GLOBAL[hfName];
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  if (!m) return undefined;
  const name = layerNames(architecture)[m[2]];
  return name === undefined ? undefined : `blk.${m[1]}.${name}.${m[3]}`;
}

/**
 * Heads of the rows to permute when writing `hfName` for llama.cpp (q: attention heads, k: KV
 * heads; weights and biases), or undefined when the tensor is stored as is.
 */
export function permutedHeads(config: ModelConfig, hfName: string): number | undefined {
  if (GGUF_ARCH[config.architecture] !== 'llama') return undefined;
  if (/\.self_attn\.q_proj\.(weight|bias)$/.test(hfName)) return config.numHeads;
  if (/\.self_attn\.k_proj\.(weight|bias)$/.test(hfName)) return config.numKvHeads;
  return undefined;
}

/** Parameters of {@link permuteRows}. */
export interface PermuteRowsParameters {
  /** Rows laid end to end, `rowBytes` each. */
  data: Uint8Array;
  rowBytes: number;
  heads: number;
  /** `toGguf`: halves → interleaved pairs (the converter's `permute`); else its inverse. */
  toGguf: boolean;
}

/**
 * llama.cpp's q/k row order: within each head of `2h` rows, HF row `half·h + i` becomes row
 * `2i + half`. Rows are whole blocks of any dtype, so this works on quantized rows too.
 */
export function permuteRows(p: PermuteRowsParameters): Uint8Array {
  const { data, rowBytes, heads } = p;
  const rows = data.byteLength / rowBytes;
  const perHead = rows / heads;
  const half = perHead / 2;
  const out = new Uint8Array(data.byteLength);
  for (let h = 0; h < heads; h++) {
    for (let s = 0; s < 2; s++) {
      for (let i = 0; i < half; i++) {
        const hf = h * perHead + s * half + i;
        const gg = h * perHead + 2 * i + s;
        const [from, to] = p.toGguf ? [hf, gg] : [gg, hf];
        out.set(data.subarray(from * rowBytes, (from + 1) * rowBytes), to * rowBytes);
      }
    }
  }
  return out;
}

/** True for RMSNorm gains stored by llama.cpp as `1 + w` (Gemma, Gemma 2: the converter adds 1). */
export function storesUnitOffsetNorm(architecture: string, hfName: string): boolean {
  return (architecture === 'GemmaForCausalLM' || architecture === 'Gemma2ForCausalLM') && /(layernorm|norm)\.weight$/.test(hfName);
}
