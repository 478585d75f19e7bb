import { zeroHash } from 'viem';
import { createGrammarService, type GrammarService } from '../grammar/service.ts';
import type { LoadedModel } from '../model/load.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { FinishReason, RequestSampling, TokenConstraint, Usage } from '../scheduler/types.ts';
import { renderChat, type ChatTool, type ChatTurn } from './chatPrompt.ts';
import { IncrementalDetokenizer } from './detokenizer.ts';
import { ServingContextExceededError, ServingInputError, ServingModelNotFoundError } from './errors.ts';

/** What a request's `model` field resolved to. */
export interface ResolvedModel {
  /** Name shown to clients (base model name or adapter name). */
  name: string;
  /** Adapter content id (bytes32 hex), or null for the base model: what the engine loads. */
  adapterId: `0x${string}` | null;
  /** The payment lane's adapter id: the on-chain AdapterRegistry id (zero bytes32 for the base model). */
  laneId: `0x${string}`;
}

/** Looks adapters up by name or 0x id (the adapter store implements it). */
export interface AdapterCatalog {
  resolve(nameOrId: string): { id: `0x${string}`; name: string; laneId: `0x${string}` } | undefined;
  /** Names of the adapters served, for error hints. */
  names(): string[];
}

export interface InferenceParameters {
  promptIds: readonly number[];
  model: ResolvedModel;
  /** New tokens at most, per choice. */
  maxTokens: number;
  sampling: RequestSampling;
  /** Choices (OpenAI `n`); default 1. */
  n?: number;
  /** A fresh constraint per choice (`grammar.constraint(...)`). */
  constraint?: () => TokenConstraint;
  /** Who pays (the scheduler is fair between payers). */
  payer?: string;
  /** A choice ends before any of these strings; the string is not returned. */
  stop?: readonly string[];
  signal?: AbortSignal;
  requestId?: string;
}

/** A generated token with its text piece (and the most likely alternatives when asked). */
export interface GeneratedToken {
  id: number;
  logprob: number;
  text: string;
  top?: Array<{ id: number; logprob: number }>;
}

export type InferenceEvent =
  | { type: 'delta'; choice: number; text: string; tokens: GeneratedToken[] }
  | {
      type: 'done';
      choice: number;
      finishReason: FinishReason;
      /** This choice's tokens (the prompt counted in each; a request pays for it once). */
      usage: Usage;
      timings: { queuedMs: number; firstTokenMs: number | null; totalMs: number };
      /** Its grammar closed the output early because `max_tokens` ran low. */
      forced: boolean;
    };

/** Text in, text out over the scheduler: chat templates, tokenization, stop strings, detokenization. */
export interface InferenceService {
  readonly baseModelName: string;
  readonly contextLength: number;
  /** Logit rows (token ids are below it). */
  readonly vocabSize: number;
  readonly hasTokenizer: boolean;
  /** Constrained decoding for this model (absent without a tokenizer: grammars match token bytes). */
  readonly grammar: GrammarService | undefined;
  resolve(model: string): ResolvedModel;
  /**
   * Refuses, before it is rendered or tokenized, a prompt of `chars` characters that cannot fit the
   * context whatever its tokens (no token covers more than the vocabulary's longest entry): the
   * tokenizer's work per request stays bounded.
   */
  checkPromptSize(chars: number): void;
  /** Prompt token ids for a completion prompt (text or ids) or chat turns (with tools). */
  promptIds(input: { prompt?: string | readonly number[]; messages?: readonly ChatTurn[]; tools?: readonly ChatTool[] }): number[];
  /** A token's text and bytes (top logprobs list alternatives by it). */
  tokenPiece(id: number): { text: string; bytes: number[] };
  generate(parameters: InferenceParameters): AsyncIterable<InferenceEvent>;
}

export interface CreateInferenceServiceParameters {
  model: LoadedModel;
  scheduler: Scheduler;
  /** Name clients use for the base model; default the model directory's base name. */
  baseModelName: string;
  adapters?: AdapterCatalog;
  /** Context length served; default the model's `max_position_embeddings`. */
  contextLength?: number;
  /** Bounds of the grammar caches (config `grammar.*`). */
  grammar?: { grammars?: number; maskCacheBytes?: number };
}

/** Creates the inference service of a node. */
export function createInferenceService(p: CreateInferenceServiceParameters): InferenceService {
  const { model, scheduler, adapters } = p;
  const contextLength = Math.min(p.contextLength ?? Infinity, model.config.maxPositionEmbeddings);
  const vocab = model.config.vocabSize;

  function checkIds(ids: readonly number[]): void {
    const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
    if (bad >= 0) throw new ServingInputError(`Prompt token ${ids[bad]} at index ${bad} is outside the vocabulary [0, ${vocab}).`, 'Send token ids from this model\'s tokenizer.', { index: bad });
  }

  function needTokenizer(what: string) {
    if (!model.tokenizer) throw new ServingInputError(`${what} needs a tokenizer, and this model directory has no tokenizer.json.`, 'Send the prompt as an array of token ids, or add tokenizer files to the model.');
    return model.tokenizer;
  }

  // Twice the bound: a normalizer may merge characters (NFC) before the vocabulary sees them.
  const maxPromptChars = model.tokenizer ? contextLength * model.tokenizer.maxTokenChars * 2 : Infinity;

  const grammar = model.tokenizer
    ? createGrammarService({ vocabSize: vocab, tokenBytes: () => model.tokenizer!.tokenBytes(vocab), eosTokenIds: model.generation.eosTokenIds, grammars: p.grammar?.grammars, maskCacheBytes: p.grammar?.maskCacheBytes })
    : undefined;

  return {
    baseModelName: p.baseModelName,
    vocabSize: vocab,
    grammar,
    contextLength,
    checkPromptSize(chars) {
      if (chars > maxPromptChars) {
        throw new ServingInputError(`The prompt has ${chars} characters: more tokens than this model's context of ${contextLength} can hold (at most ${maxPromptChars} characters).`, 'Shorten the prompt.', { chars, maxPromptChars });
      }
    },
    hasTokenizer: model.tokenizer !== undefined,
    resolve(name) {
      if (name === p.baseModelName) return { name, adapterId: null, laneId: zeroHash };
      const adapter = adapters?.resolve(name);
      if (!adapter) throw new ServingModelNotFoundError(name, [p.baseModelName, ...(adapters?.names() ?? [])]);
      return { name: adapter.name, adapterId: adapter.id, laneId: adapter.laneId };
    },
    promptIds(input) {
      if (input.messages) {
        const tokenizer = needTokenizer('A chat request');
        if (!model.chatTemplate) throw new ServingInputError('This model has no chat template.', 'Use /v1/completions with a plain prompt.');
        return tokenizer.encode(renderChat(model.chatTemplate, input.messages, input.tools));
      }
      if (typeof input.prompt === 'string') return needTokenizer('A text prompt').encode(input.prompt);
      const ids = Array.from(input.prompt ?? []);
      checkIds(ids);
      return ids;
    },
    tokenPiece(id) {
      const bytes = grammar?.vocab.bytesOf(id);
      return { text: model.tokenizer?.decode([id], { skipSpecialTokens: false }) ?? '', bytes: bytes ? [...bytes] : [] };
    },
    async *generate(parameters) {
      const { promptIds, maxTokens } = parameters;
      const n = parameters.n ?? 1;
      if (promptIds.length === 0) throw new ServingInputError('The prompt is empty.', 'Send at least one token or character.');
      if (promptIds.length + maxTokens > contextLength) throw new ServingContextExceededError(promptIds.length, maxTokens, contextLength);
      const controller = new AbortController();
      const onAbort = () => controller.abort(parameters.signal?.reason);
      if (parameters.signal?.aborted) onAbort();
      parameters.signal?.addEventListener('abort', onAbort, { once: true });
      const stops = (parameters.stop ?? []).filter((s) => s.length > 0);
      const startedAt = performance.now();
      const choices = Array.from({ length: n }, () => ({ detok: model.tokenizer ? new IncrementalDetokenizer(model.tokenizer) : undefined, text: '', emitted: 0, pending: [] as GeneratedToken[], produced: 0, firstTokenAt: null as number | null, done: false }));
      const timings = (c: (typeof choices)[number]) => ({ queuedMs: 0, firstTokenMs: c.firstTokenAt === null ? null : c.firstTokenAt - startedAt, totalMs: performance.now() - startedAt });
      try {
        const events = scheduler.submit({
          id: parameters.requestId,
          promptIds,
          maxTokens,
          sampling: parameters.sampling,
          n,
          constraint: parameters.constraint,
          payer: parameters.payer,
          adapterId: parameters.model.adapterId,
          stopTokenIds: model.generation.eosTokenIds,
          signal: controller.signal,
        });
        for await (const event of events) {
          const c = choices[event.choice];
          if (c.done) continue; // a stop string ended it already
          if (event.type === 'token') {
            c.produced++;
            c.firstTokenAt ??= performance.now();
            const piece = c.detok ? c.detok.push(event.token) : '';
            c.text += piece;
            c.pending.push({ id: event.token, logprob: event.logprob, text: piece, ...(event.top ? { top: Array.from(event.top.ids, (id, k) => ({ id, logprob: event.top!.logprobs[k] })) } : {}) });
            const hit = firstStop(c.text, stops, Math.max(0, c.emitted - longest(stops)));
            if (hit >= 0) {
              if (hit > c.emitted) yield { type: 'delta', choice: event.choice, text: c.text.slice(c.emitted, hit), tokens: c.pending };
              c.done = true;
              events.cancel(event.choice);
              yield { type: 'done', choice: event.choice, finishReason: 'stop', usage: { promptTokens: promptIds.length, completionTokens: c.produced }, timings: timings(c), forced: false };
              continue;
            }
            const safe = c.text.length - heldBack(c.text, stops);
            if (safe > c.emitted || !c.detok) {
              yield { type: 'delta', choice: event.choice, text: c.text.slice(c.emitted, safe), tokens: c.pending };
              c.emitted = safe;
              c.pending = [];
            }
          } else {
            // What the detokenizer still holds (an unfinished character) is text the client was charged for.
            const tail = c.detok?.flush() ?? '';
            if (tail && c.pending.length > 0) c.pending[c.pending.length - 1].text += tail;
            c.text += tail;
            const hit = firstStop(c.text, stops, Math.max(0, c.emitted - longest(stops)));
            const end = hit >= 0 ? hit : c.text.length;
            if (end > c.emitted || c.pending.length > 0) yield { type: 'delta', choice: event.choice, text: c.text.slice(c.emitted, end), tokens: c.pending };
            c.done = true;
            yield { type: 'done', choice: event.choice, finishReason: hit >= 0 ? 'stop' : event.finishReason, usage: event.usage, timings: event.timings, forced: event.forced === true };
          }
        }
      } finally {
        parameters.signal?.removeEventListener('abort', onAbort);
        controller.abort(); // a consumer that stops early cancels the generation
      }
    },
  };
}

function longest(stops: readonly string[]): number {
  return stops.reduce((m, s) => Math.max(m, s.length), 0);
}

function firstStop(text: string, stops: readonly string[], from: number): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s, from);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Characters at the end of `text` that could begin a stop string (held back until resolved). */
function heldBack(text: string, stops: readonly string[]): number {
  let hold = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > hold; k--) {
      if (text.endsWith(s.slice(0, k))) {
        hold = k;
        break;
      }
    }
  }
  return hold;
}
