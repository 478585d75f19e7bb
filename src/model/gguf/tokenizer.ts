/**
 * Tokenizers in GGUF metadata (`tokenizer.ggml.*`). Written from a Hugging Face tokenizer.json so
 * llama.cpp loads the file: byte-level BPE tokenizers as `gpt2` (tokens, types, merges, special
 * ids, chat template); any other as `none` (llama.cpp then runs on token ids). Read back into a
 * tokenizer.json for `gpt2` files whose pre-tokenizer is GPT-2's own (`tokenizer.ggml.pre`
 * `gpt-2` or `default`); other GGUF tokenizers need the model's tokenizer.json beside the file.
 */
import { byteLevelBpeModel } from '../byteTokenizer.ts';
import type { GgufMetadata, GgufValue } from './format.ts';

/** llama.cpp's `llama_token_type`. */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

/** Parameters of {@link tokenizerMetadata}. */
export interface TokenizerMetadataParameters {
  /** tokenizer.json. */
  tokenizerJson: Record<string, unknown>;
  /** tokenizer_config.json (chat template, add_bos_token). */
  tokenizerConfig: Record<string, unknown>;
  /** Rows of the embedding: the token list is padded to it with unused `[PAD{id}]` tokens, as llama.cpp's converter does. */
  vocabSize: number;
  bosTokenId?: number;
  eosTokenIds: number[];
}

/** True when the tokenizer is byte-level BPE (GPT-2 style): what llama.cpp calls `gpt2`. */
function isByteLevelBpe(t: Record<string, unknown>): boolean {
  const model = t.model as { type?: string } | undefined;
  const pre = t.pre_tokenizer as { type?: string; pretokenizers?: { type?: string }[] } | null | undefined;
  const byteLevel = pre?.type === 'ByteLevel' || pre?.pretokenizers?.some((x) => x.type === 'ByteLevel') === true;
  return model?.type === 'BPE' && byteLevel;
}

/** The `tokenizer.*` metadata entries of a Hugging Face tokenizer. */
export function tokenizerMetadata(p: TokenizerMetadataParameters): GgufMetadata {
  const m: GgufMetadata = new Map();
  const t = p.tokenizerJson;
  if (!isByteLevelBpe(t)) {
    m.set('tokenizer.ggml.model', { type: 'string', value: 'none' });
    return m;
  }
  const model = t.model as { vocab: Record<string, number>; merges: (string | [string, string])[] };
  const tokens: (string | undefined)[] = Array.from({ length: p.vocabSize }, () => undefined);
  const types: number[] = Array.from({ length: p.vocabSize }, () => TOKEN_TYPE.unused);
  for (const [token, id] of Object.entries(model.vocab)) {
    if (id < p.vocabSize) {
      tokens[id] = token;
      types[id] = TOKEN_TYPE.normal;
    }
  }
  for (const a of (t.added_tokens as AddedToken[] | undefined) ?? []) {
    if (a.id < p.vocabSize) {
      tokens[a.id] = a.content;
      types[a.id] = a.special ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined;
    }
  }
  const names = tokens.map((t, i) => t ?? `[PAD${i}]`);
  const pre = t.pre_tokenizer as { type?: string; use_regex?: boolean } | null;
  m.set('tokenizer.ggml.model', { type: 'string', value: 'gpt2' });
  m.set('tokenizer.ggml.pre', { type: 'string', value: pre?.type === 'ByteLevel' && pre.use_regex !== false ? 'gpt-2' : 'default' });
  m.set('tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: names });
  m.set('tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', value: types });
  m.set('tokenizer.ggml.merges', { type: 'array', itemType: 'string', value: model.merges.map((x) => (typeof x === 'string' ? x : x.join(' '))) });
  if (p.bosTokenId !== undefined) m.set('tokenizer.ggml.bos_token_id', { type: 'u32', value: p.bosTokenId });
  if (p.eosTokenIds.length) m.set('tokenizer.ggml.eos_token_id', { type: 'u32', value: p.eosTokenIds[0] });
  if (p.eosTokenIds.length > 1) m.set('tokenizer.ggml.eot_token_id', { type: 'u32', value: p.eosTokenIds[1] });
  const addBos = p.tokenizerConfig.add_bos_token ?? JSON.stringify(t.post_processor ?? null).includes('SpecialToken');
  m.set('tokenizer.ggml.add_bos_token', { type: 'bool', value: addBos === true });
  if (typeof p.tokenizerConfig.chat_template === 'string') m.set('tokenizer.chat_template', { type: 'string', value: p.tokenizerConfig.chat_template });
  return m;
}

const str = (m: GgufMetadata, key: string): string | undefined => {
  const v = m.get(key);
  return v?.type === 'string' ? v.value : undefined;
};
const num = (m: GgufMetadata, key: string): number | undefined => {
  const v = m.get(key) as GgufValue | undefined;
  return v && v.type !== 'array' && v.type !== 'string' && v.type !== 'bool' ? v.value : undefined;
};

/** What {@link tokenizerFromMetadata} rebuilds. */
export interface GgufTokenizer {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

/** A tokenizer.json (and tokenizer_config.json) for a `gpt2` GGUF tokenizer with GPT-2's pre-tokenizer; undefined otherwise. */
export function tokenizerFromMetadata(m: GgufMetadata): GgufTokenizer | undefined {
  if (str(m, 'tokenizer.ggml.model') !== 'gpt2') return undefined;
  const pre = str(m, 'tokenizer.ggml.pre') ?? 'default';
  if (pre !== 'gpt-2' && pre !== 'default') return undefined;
  const tokens = m.get('tokenizer.ggml.tokens');
  const types = m.get('tokenizer.ggml.token_type');
  const merges = m.get('tokenizer.ggml.merges');
  if (tokens?.type !== 'array' || tokens.itemType !== 'string') return undefined;
  const typeOf = (i: number) => (types?.type === 'array' && types.itemType !== 'string' && types.itemType !== 'bool' ? types.value[i] : TOKEN_TYPE.normal);
  const vocab: Record<string, number> = {};
  const added: object[] = [];
  tokens.value.forEach((token, id) => {
    const type = typeOf(id);
    if (type === TOKEN_TYPE.control || type === TOKEN_TYPE.userDefined) {
      added.push({ id, content: token, single_word: false, lstrip: false, rstrip: false, normalized: type === TOKEN_TYPE.userDefined, special: type === TOKEN_TYPE.control });
    } else if (type !== TOKEN_TYPE.unused) vocab[token] = id;
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const bos = num(m, 'tokenizer.ggml.bos_token_id');
  const addBos = m.get('tokenizer.ggml.add_bos_token');
  const bosToken = bos === undefined ? undefined : tokens.value[bos];
  const postProcessor =
    addBos?.type === 'bool' && addBos.value && bosToken !== undefined
      ? {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: bosToken, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ SpecialToken: { id: bosToken, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bosToken, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { [bosToken]: { id: bosToken, ids: [bos], tokens: [bosToken] } },
        }
      : null;
  const eos = num(m, 'tokenizer.ggml.eos_token_id');
  const chatTemplate = str(m, 'tokenizer.chat_template');
  return {
    tokenizerJson: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: postProcessor,
      decoder: byteLevel,
      model: byteLevelBpeModel(vocab, merges?.type === 'array' && merges.itemType === 'string' ? merges.value : []),
    },
    tokenizerConfig: {
      ...(bosToken !== undefined ? { bos_token: bosToken } : {}),
      ...(eos !== undefined ? { eos_token: tokens.value[eos] } : {}),
      ...(chatTemplate !== undefined ? { chat_template: chatTemplate } : {}),
      clean_up_tokenization_spaces: false,
    },
  };
}
