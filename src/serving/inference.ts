import { zeroHash } from 'viem';
import type { SamplingParams } from '../engine/backend.ts';
import type { LoadedModel } from '../model/load.ts';
import type { ChatMessage } from '../model/tokenizer.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { FinishReason, Usage } from '../scheduler/types.ts';
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
  maxTokens: number;
  sampling: SamplingParams;
  /** Generation ends before any of these strings; the string is not returned. */
  stop?: readonly string[];
  signal?: AbortSignal;
  requestId?: string;
}

/** A generated token with its text piece. */
export interface GeneratedToken {
  id: number;
  logprob: number;
  text: string;
}

export type InferenceEvent =
  | { type: 'delta'; text: string; tokens: GeneratedToken[] }
  | { type: 'done'; finishReason: FinishReason; usage: Usage; timings: { queuedMs: number; firstTokenMs: number | null; totalMs: number } };

/** Text in, text out over the scheduler: chat templates, tokenization, stop strings, detokenization. */
export interface InferenceService {
  readonly baseModelName: string;
  readonly contextLength: number;
  readonly hasTokenizer: boolean;
  resolve(model: string): ResolvedModel;
  /**
   * Refuses, before it is rendered or tokenized, a prompt of `chars` characters that cannot fit the
   * context whatever its tokens (no token covers more than the vocabulary's longest entry): the
   * tokenizer's work per request stays bounded.
   */
  checkPromptSize(chars: number): void;
  /** Prompt token ids for a completion prompt (text or ids) or chat messages. */
  promptIds(input: { prompt?: string | readonly number[]; messages?: readonly ChatMessage[] }): number[];
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

  return {
    baseModelName: p.baseModelName,
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
        const text = model.chatTemplate.render({ messages: input.messages, addGenerationPrompt: true });
        return tokenizer.encode(text);
      }
      if (typeof input.prompt === 'string') return needTokenizer('A text prompt').encode(input.prompt);
      const ids = Array.from(input.prompt ?? []);
      checkIds(ids);
      return ids;
    },
    async *generate(parameters) {
      const { promptIds, maxTokens } = parameters;
      if (promptIds.length === 0) throw new ServingInputError('The prompt is empty.', 'Send at least one token or character.');
      if (promptIds.length + maxTokens > contextLength) throw new ServingContextExceededError(promptIds.length, maxTokens, contextLength);
      const controller = new AbortController();
      const onAbort = () => controller.abort(parameters.signal?.reason);
      if (parameters.signal?.aborted) onAbort();
      parameters.signal?.addEventListener('abort', onAbort, { once: true });
      const stops = (parameters.stop ?? []).filter((s) => s.length > 0);
      const detok = model.tokenizer ? new IncrementalDetokenizer(model.tokenizer) : undefined;
      let text = '';
      let emitted = 0;
      let pendingTokens: GeneratedToken[] = [];
      let produced = 0;
      const startedAt = performance.now();
      let firstTokenAt: number | null = null;
      try {
        const events = scheduler.submit({
          id: parameters.requestId,
          promptIds,
          maxTokens,
          sampling: parameters.sampling,
          adapterId: parameters.model.adapterId,
          stopTokenIds: model.generation.eosTokenIds,
          signal: controller.signal,
        });
        for await (const event of events) {
          if (event.type === 'token') {
            produced++;
            firstTokenAt ??= performance.now();
            const piece = detok ? detok.push(event.token) : '';
            text += piece;
            pendingTokens.push({ id: event.token, logprob: event.logprob, text: piece });
            const hit = firstStop(text, stops, Math.max(0, emitted - longest(stops)));
            if (hit >= 0) {
              if (hit > emitted) yield { type: 'delta', text: text.slice(emitted, hit), tokens: pendingTokens };
              controller.abort();
              yield { type: 'done', finishReason: 'stop', usage: { promptTokens: promptIds.length, completionTokens: produced }, timings: { queuedMs: 0, firstTokenMs: firstTokenAt === null ? null : firstTokenAt - startedAt, totalMs: performance.now() - startedAt } };
              return;
            }
            const safe = text.length - heldBack(text, stops);
            if (safe > emitted || !detok) {
              yield { type: 'delta', text: text.slice(emitted, safe), tokens: pendingTokens };
              emitted = safe;
              pendingTokens = [];
            }
          } else {
            // What the detokenizer still holds (an unfinished character) is text the client was charged for.
            const tail = detok?.flush() ?? '';
            if (tail && pendingTokens.length > 0) pendingTokens[pendingTokens.length - 1].text += tail;
            text += tail;
            const hit = firstStop(text, stops, Math.max(0, emitted - longest(stops)));
            const end = hit >= 0 ? hit : text.length;
            if (end > emitted || pendingTokens.length > 0) yield { type: 'delta', text: text.slice(emitted, end), tokens: pendingTokens };
            yield { type: 'done', finishReason: hit >= 0 ? 'stop' : event.finishReason, usage: event.usage, timings: event.timings };
            return;
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
