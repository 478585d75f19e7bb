/**
 * Tokenizer and chat template of a model directory: `tokenizer.json` through
 * `@huggingface/tokenizers`, the chat template from `tokenizer_config.json` through
 * `@huggingface/jinja`.
 */
import { Template } from '@huggingface/jinja';
import * as hfTokenizers from '@huggingface/tokenizers';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelTokenizerInvalidError } from './errors.ts';
import { tokenBytes } from './tokenBytes.ts';

/** Text ↔ token ids for one model. */
export interface ModelTokenizer {
  /** Token ids of `text`; `addSpecialTokens` applies the tokenizer's post-processor (e.g. BOS). Default false. */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /** Text of `ids`; special tokens are skipped unless `skipSpecialTokens` is false. Default true. */
  decode(ids: ArrayLike<number>, options?: { skipSpecialTokens?: boolean }): string;
  /** Id of a token string (e.g. `<|im_end|>`), or undefined. */
  tokenToId(token: string): number | undefined;
  /** Number of entries in the vocabulary, added tokens included. */
  readonly size: number;
  /** Length of the longest vocabulary entry: no token covers more characters of input text (bounds a prompt's tokens before tokenizing it). */
  readonly maxTokenChars: number;
  /** The bytes of every id below `vocabSize` (null: special or undefined), for constrained decoding (`tokenBytes.ts`). */
  tokenBytes(vocabSize: number): ReadonlyArray<Uint8Array | null>;
}

/** One chat message, as Hugging Face chat templates read it. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | (string & {});
  content: string;
  name?: string;
  /** An assistant's calls: `{type: 'function', id, function: {name, arguments}}` with `arguments` an object (templates write it with `tojson`). */
  tool_calls?: ReadonlyArray<{ type: 'function'; id: string; function: { name: string; arguments: unknown } }>;
  /** A tool result's call id. */
  tool_call_id?: string;
}

/** A model's chat template. */
export interface ChatTemplate {
  /** The Jinja source. */
  readonly source: string;
  /** Renders messages to the prompt text; `addGenerationPrompt` opens the assistant turn; `tools` (OpenAI's function objects) for templates that list them. */
  render(parameters: { messages: readonly ChatMessage[]; tools?: readonly unknown[]; addGenerationPrompt?: boolean }): string;
  /** Whether the template renders `tools` and calls in the `<tool_call>` format (Hermes, Qwen). */
  readonly hermesTools: boolean;
}

/** Parameters of {@link createModelTokenizer}. */
export interface CreateModelTokenizerParameters {
  /** Parsed tokenizer.json. */
  tokenizerJson: unknown;
  /** Parsed tokenizer_config.json, or {}. */
  tokenizerConfig: Record<string, unknown>;
  /** Path for error messages. */
  file: string;
}

/**
 * Wraps `@huggingface/tokenizers` behind {@link ModelTokenizer}, decoding as Hugging Face's Rust
 * `tokenizers` does where the JS port differs: a run of byte-fallback tokens (`<0xE4>`) that is not
 * valid UTF-8 gives one U+FFFD per token (HF `ByteFallback::decode_chain`), not one per maximal
 * invalid subsequence; and no `clean_up_tokenization_spaces` pass (transformers skips it for BPE
 * tokenizers, the only kind openlora's models use: it would delete spaces before punctuation).
 */
export function createModelTokenizer(p: CreateModelTokenizerParameters): ModelTokenizer {
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(p.tokenizerJson as object, p.tokenizerConfig);
  } catch (error) {
    throw new ModelTokenizerInvalidError(p.file, 'the tokenizer could not be built', { cause: error, details: (error as Error).message });
  }
  useHfByteFallback(tokenizer);
  const vocab = tokenizer.get_vocab(true);
  let maxTokenChars = 1;
  for (const token of vocab.keys()) if (token.length > maxTokenChars) maxTokenChars = token.length;
  return {
    size: vocab.size,
    maxTokenChars,
    encode: (text, options) => tokenizer.encode(text, { add_special_tokens: options?.addSpecialTokens ?? false }).ids,
    decode: (ids, options) => (ids.length === 0 ? '' : tokenizer.decode(Array.from(ids), { skip_special_tokens: options?.skipSpecialTokens ?? true, clean_up_tokenization_spaces: false })),
    tokenToId: (token) => tokenizer.token_to_id(token),
    tokenBytes: (vocabSize) => tokenBytes(p.tokenizerJson, vocabSize),
  };
}

/** HF's byte-fallback decoding: valid UTF-8 as text, otherwise U+FFFD once per byte token. */
const hfByteRun = {
  decode(bytes: Uint8Array): string {
    try {
      return strictUtf8.decode(bytes);
    } catch {
      return '\uFFFD'.repeat(bytes.length);
    }
  },
};
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decoder classes the package exports at run time (its type declarations leave them out). */
const { ByteFallbackDecoder, SequenceDecoder } = hfTokenizers as unknown as Record<'ByteFallbackDecoder' | 'SequenceDecoder', abstract new (...args: never[]) => unknown>;

/** Points every ByteFallback decoder of the tokenizer (alone or in a Sequence) at {@link hfByteRun}. */
function useHfByteFallback(tokenizer: Tokenizer): void {
  const visit = (decoder: unknown): void => {
    if (decoder instanceof ByteFallbackDecoder) (decoder as unknown as { text_decoder: typeof hfByteRun }).text_decoder = hfByteRun;
    else if (decoder instanceof SequenceDecoder) for (const d of (decoder as unknown as { decoders: unknown[] }).decoders) visit(d);
  };
  visit((tokenizer as unknown as { decoder: unknown }).decoder);
}

/** Parameters of {@link createChatTemplate}. */
export interface CreateChatTemplateParameters {
  /** Parsed tokenizer_config.json. */
  tokenizerConfig: Record<string, unknown>;
  file: string;
}

/** The chat template of tokenizer_config.json (the `default` one when a list is given), or undefined. */
export function createChatTemplate(p: CreateChatTemplateParameters): ChatTemplate | undefined {
  const raw = p.tokenizerConfig.chat_template;
  let source: string | undefined;
  if (typeof raw === 'string') source = raw;
  else if (Array.isArray(raw)) {
    const named = raw as { name?: unknown; template?: unknown }[];
    const entry = named.find((t) => t.name === 'default') ?? named[0];
    if (entry && typeof entry.template === 'string') source = entry.template;
  }
  if (source === undefined) return undefined;
  let template: Template;
  try {
    template = new Template(source);
  } catch (error) {
    throw new ModelTokenizerInvalidError(p.file, 'chat_template does not parse as Jinja', { cause: error, details: (error as Error).message });
  }
  const context = {
    bos_token: tokenString(p.tokenizerConfig.bos_token),
    eos_token: tokenString(p.tokenizerConfig.eos_token),
    pad_token: tokenString(p.tokenizerConfig.pad_token),
    unk_token: tokenString(p.tokenizerConfig.unk_token),
  };
  const templateSource = source;
  return {
    source: templateSource,
    hermesTools: /\btools\b/.test(templateSource) && templateSource.includes('<tool_call>'),
    render: ({ messages, tools, addGenerationPrompt }) => {
      try {
        return template.render({ ...context, messages: messages.map((m) => ({ ...m })), ...(tools ? { tools: [...tools] } : {}), add_generation_prompt: addGenerationPrompt ?? false });
      } catch (error) {
        throw new ModelTokenizerInvalidError(p.file, 'chat_template failed to render', { cause: error, details: (error as Error).message });
      }
    },
  };
}

/** `bos_token` etc. are a string or an AddedToken object `{ content }`. */
function tokenString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return '';
}
