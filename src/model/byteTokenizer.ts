/**
 * The byte-level BPE tokenizer files of generated models: ids 0-255 are the bytes (GPT-2
 * byte-to-unicode alphabet, as in Llama 3 / SmolLM2), then special tokens; no merges, so every
 * byte of the text is one token.
 */

/** Special tokens after the 256 byte tokens, in id order (256, 257, ...). */
export const BYTE_TOKENIZER_SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|im_start|>', '<|im_end|>', '<|pad|>', '<|reserved_0|>', '<|reserved_1|>', '<|reserved_2|>'] as const;

/** Token count of the byte tokenizer: 256 bytes + specials (264). */
export const BYTE_TOKENIZER_SIZE = 256 + BYTE_TOKENIZER_SPECIALS.length;

/** Id of a special token of the byte tokenizer. */
export function byteSpecialId(token: (typeof BYTE_TOKENIZER_SPECIALS)[number]): number {
  return 256 + BYTE_TOKENIZER_SPECIALS.indexOf(token);
}

/** ChatML chat template (as SmolLM2 / Qwen2 use). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** GPT-2 `bytes_to_unicode`: printable bytes map to themselves, the rest to U+0100 onwards. */
export function bytesToUnicode(): string[] {
  const table: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return table;
}

/** tokenizer.json contents for the byte tokenizer (loaded by `@huggingface/tokenizers`). */
export function byteTokenizerJson(): object {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((ch, b) => (vocab[ch] = b));
  const bos = BYTE_TOKENIZER_SPECIALS[0];
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: BYTE_TOKENIZER_SPECIALS.map((content, i) => ({
      id: 256 + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [bos]: { id: bos, ids: [256], tokens: [bos] } },
    },
    decoder: byteLevel,
    model: byteLevelBpeModel(vocab, []),
  };
}

/** tokenizer_config.json contents: special-token strings and the ChatML template. */
export function byteTokenizerConfig(maxLength: number): object {
  const addedTokensDecoder: Record<string, object> = {};
  BYTE_TOKENIZER_SPECIALS.forEach((content, i) => {
    addedTokensDecoder[String(256 + i)] = { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  });
  return {
    added_tokens_decoder: addedTokensDecoder,
    bos_token: '<|begin_of_text|>',
    eos_token: '<|end_of_text|>',
    pad_token: '<|pad|>',
    clean_up_tokenization_spaces: false,
    model_max_length: maxLength,
    tokenizer_class: 'PreTrainedTokenizerFast',
    chat_template: CHATML_TEMPLATE,
  };
}

/** tokenizer.json's `model` of a byte-level BPE tokenizer (GPT-2 style: no unknown token, no byte fallback). */
export function byteLevelBpeModel(vocab: Record<string, number>, merges: string[]): object {
  return { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges };
}
