/**
 * A small generation driver over any {@link Backend}: prefill the whole prompt in one step, then
 * decode one token per step until `maxTokens` or an eos token, streaming each token. One
 * sequence, KV blocks 0.. of the backend's pool (the scheduler does real block allocation).
 */
import { AbortedError } from '../errors.ts';
import { KV_BLOCK_SIZE, type Backend, type SamplingParams } from './backend.ts';
import { EngineContextExceededError, EnginePromptEmptyError, EngineTokenOutOfRangeError } from './errors.ts';
import { validateSamplingParams } from './sampling.ts';

/** Parameters of {@link generate}. */
export interface GenerateParameters {
  backend: Backend;
  /** Prompt token ids (at least one). */
  promptTokens: readonly number[];
  /** Tokens to generate at most. */
  maxTokens: number;
  sampling: SamplingParams;
  /** LoRA slot of the backend's pool to run with (loaded by the caller); default -1, the base model. */
  adapterSlot?: number;
  /** Generation stops after emitting one of these (it is included in `tokens`). */
  eosTokenIds?: readonly number[];
  /** Called for each generated token as soon as it is known. */
  onToken?: (token: number, logprob: number) => void;
  signal?: AbortSignal;
}

/** Timings of one {@link generate} call, milliseconds and tokens per second. */
export interface GenerateTimings {
  /** Prefill step (prompt through the first sampled token). */
  prefillMs: number;
  /** Same as prefillMs: the first token is sampled by the prefill step. */
  timeToFirstTokenMs: number;
  /** All decode steps. */
  decodeMs: number;
  totalMs: number;
  prefillTokensPerSecond: number;
  /** Decode steps per second (one token each). */
  decodeTokensPerSecond: number;
}

/** Result of {@link generate}. */
export interface GenerateReturnType {
  tokens: number[];
  /** log p(token) under the model (temperature 1, before top-k/top-p), per generated token. */
  logprobs: number[];
  promptTokens: number;
  finishReason: 'eos' | 'length';
  timings: GenerateTimings;
}

/** Runs prefill + decode for one prompt. Throws the engine's errors for bad ids or too long a context. */
export async function generate(p: GenerateParameters): Promise<GenerateReturnType> {
  const { backend, promptTokens, sampling } = p;
  const { vocabSize, maxPositionEmbeddings } = backend.config;
  validateSamplingParams(sampling);
  if (promptTokens.length === 0) throw new EnginePromptEmptyError();
  for (const t of promptTokens) if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw new EngineTokenOutOfRangeError(t, vocabSize);
  const maxTokens = Math.max(0, Math.floor(p.maxTokens));
  const length = promptTokens.length + Math.max(0, maxTokens - 1);
  const capacity = Math.min(maxPositionEmbeddings, backend.numKvBlocks * KV_BLOCK_SIZE);
  if (length > capacity) throw new EngineContextExceededError(length, capacity);
  const blockTable = Array.from({ length: Math.ceil(length / KV_BLOCK_SIZE) }, (_, i) => i);
  const eos = new Set(p.eosTokenIds ?? []);
  const tokens: number[] = [];
  const logprobs: number[] = [];
  const t0 = performance.now();
  let prefillMs = 0;
  let finishReason: GenerateReturnType['finishReason'] = 'length';
  let pos = 0;
  let input: readonly number[] = promptTokens;
  while (tokens.length < maxTokens) {
    if (p.signal?.aborted) throw new AbortedError('generation', p.signal.reason);
    const [out] = await backend.step([{ tokens: input, startPos: pos, blockTable, adapterSlot: p.adapterSlot ?? -1, sample: { ...sampling, step: tokens.length } }], p.signal);
    if (tokens.length === 0) prefillMs = performance.now() - t0;
    pos += input.length;
    const token = out.token!;
    tokens.push(token);
    logprobs.push(out.logprob!);
    p.onToken?.(token, out.logprob!);
    if (eos.has(token)) {
      finishReason = 'eos';
      break;
    }
    input = [token];
  }
  const totalMs = performance.now() - t0;
  const decodeMs = totalMs - prefillMs;
  const decodeSteps = Math.max(0, tokens.length - 1);
  return {
    tokens,
    logprobs,
    promptTokens: promptTokens.length,
    finishReason,
    timings: {
      prefillMs,
      timeToFirstTokenMs: prefillMs,
      decodeMs,
      totalMs,
      prefillTokensPerSecond: prefillMs > 0 ? (promptTokens.length / prefillMs) * 1000 : 0,
      decodeTokensPerSecond: decodeMs > 0 ? (decodeSteps / decodeMs) * 1000 : 0,
    },
  };
}
