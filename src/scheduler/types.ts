import type { SamplingParams, TokenMask } from '../engine/backend.ts';

/**
 * What a sequence may generate next (a grammar, `src/grammar/`): asked for a mask before each
 * draw of the sequence and told the token drawn.
 */
export interface TokenConstraint {
  /** The tokens allowed with `remaining` tokens left (this one included); undefined: any token. */
  mask(remaining: number): TokenMask | undefined;
  /** Moves past the drawn token. */
  accept(token: number): void;
  /** Whether running out of `max_tokens` narrowed a draw (the output was closed early). */
  readonly forced: boolean;
}

/** A request's sampling: the draw's parameters and what adjusts the logits before it. */
export interface RequestSampling extends SamplingParams {
  /** OpenAI `logit_bias`: token id → bias (-100..100) added to its logit. */
  logitBias?: ReadonlyMap<number, number>;
  /** OpenAI `presence_penalty` (-2..2): subtracted once from the logit of every token this choice generated. */
  presencePenalty?: number;
  /** OpenAI `frequency_penalty` (-2..2): subtracted per time this choice generated the token. */
  frequencyPenalty?: number;
  /** Also return this many most likely tokens per generated token (0..20). */
  topLogprobs?: number;
}

/** A generation or scoring request as the scheduler takes it. */
export interface GenerationRequest {
  /** Caller's id, echoed in logs; one is made up when absent. */
  id?: string;
  /** Prompt token ids (after the chat template). */
  promptIds: readonly number[];
  /** `generate`: sample up to `maxTokens` new tokens. `score`: teacher-forced log p of each prompt token after the first, no sampling. */
  kind?: 'generate' | 'score';
  /** New tokens at most (generate), per choice. */
  maxTokens: number;
  sampling: RequestSampling;
  /**
   * Choices drawn from the one prompt (OpenAI `n`, default 1): choice `i` draws with seed
   * `sampling.seed + i`. The prompt's KV blocks are computed once and shared by every choice.
   */
  n?: number;
  /** A fresh constraint per choice (a grammar: `response_format`, tools). */
  constraint?: () => TokenConstraint;
  /** Who pays: the scheduler shares the engine fairly between payers. Default `anonymous`. */
  payer?: string;
  /** Adapter to run with (content id), or null/undefined for the base model. */
  adapterId?: string | null;
  /** Generation ends after any of these (counted, not emitted as a token event). */
  stopTokenIds?: readonly number[];
  /** Aborting cancels the request: its KV blocks and adapter pin are released at once. */
  signal?: AbortSignal;
}

/** Why a request ended. */
export type FinishReason = 'stop' | 'length' | 'cancelled';

/** Token counts of one request (what metering charges). */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

/** The most likely tokens at one position, most likely first (`StepOutput.top`). */
export interface TopLogprobs {
  ids: Uint32Array;
  logprobs: Float32Array;
}

/** What a request's stream yields; with `n` choices, each choice's tokens and its own `done`, the stream closing after the last. */
export type GenerationEvent =
  | {
      type: 'token';
      /** Which choice (0 .. n-1). */
      choice: number;
      /** Sampled id. */
      token: number;
      /** log p under the model (temperature 1). */
      logprob: number;
      /** 0-based index among the choice's generated tokens. */
      index: number;
      /** When `sampling.topLogprobs` > 0. */
      top?: TopLogprobs;
    }
  | {
      type: 'done';
      choice: number;
      finishReason: FinishReason;
      /** The choice's tokens: the prompt (counted once per request by whoever meters) and what this choice generated. */
      usage: Usage;
      /** `score` requests: log p(prompt[i+1] | prompt[..i]) for every i, f32. */
      scores?: Float32Array;
      /** Milliseconds: waiting before the first step, to the first token, in total, and waiting again after the first step (paused or preempted). */
      timings: { queuedMs: number; firstTokenMs: number | null; totalMs: number; outMs: number };
      /** Times the choice was preempted (recomputed). */
      preemptions: number;
      /** Times the choice was paused for a payer below its share of the slots (its KV kept). */
      pauses: number;
      /** The constraint closed the output early because `max_tokens` ran low. */
      forced?: boolean;
    };

/**
 * Where adapters live on the device. The scheduler pins an adapter while a request using it is
 * running and asks for loads of queued requests' adapters ahead of time.
 */
export interface AdapterResidency {
  /** Pins `adapterId` and returns its slot if resident; else starts loading it and returns a pending or failed state. */
  acquire(adapterId: string): { slot: number } | { pending: true } | { error: unknown };
  /** The slot `adapterId` is loaded in now (`acquire` would pin it), without starting a load; undefined when not resident. */
  slotOf?(adapterId: string): number | undefined;
  /**
   * Starts loading without pinning (queued requests). With unified memory `room` is how many pages
   * it may take now (free ones and those of idle adapters no queued request needs, less what must
   * stay free: `src/scheduler/prefetch.ts`); it never waits, and without room it reads the adapter
   * into host memory only. Split memory loads into a free slot.
   */
  prefetch(adapterId: string, room?: number): void;
  /** Unpins one use. */
  release(adapterId: string): void;
  /** Registers a callback for when a load finishes, or a prefetch's read into host memory (so the scheduler can admit waiters, or prefetch). */
  onLoaded(listener: () => void): void;
  /**
   * The adapters queued requests need (each step, before admission), each with the position in
   * admission order of the first request needing it: when memory or slots are short, idle adapters
   * nobody queued needs go first, then those needed furthest back, and a load or a request never
   * evicts an adapter needed ahead of it. Nothing is loaded for it.
   */
  queued?(firstNeeded: ReadonlyMap<string, number>): void;
  /**
   * Unified memory: the pages `adapterId` takes in the budget at its own rank, and whether it holds
   * them already (resident, or loading into its reserved slot; not while its load waits for room).
   * Undefined without a page budget or for an unknown adapter.
   */
  footprint?(adapterId: string): { pages: number; held: boolean } | undefined;
}

/** Live counters for metrics and node announcements. */
export interface SchedulerStats {
  waiting: number;
  running: number;
  kvBlocksTotal: number;
  kvBlocksFree: number;
  steps: number;
  tokensGenerated: number;
  tokensPrefilled: number;
  preemptions: number;
  /** Running sequences paused (KV kept) for a payer below its share of the slots. */
  pauses: number;
  /** Prompt tokens choices did not compute because they share another's KV blocks (`n` > 1). */
  tokensShared: number;
  /** Seconds the engine sat with requests queued and none it could run (waiting for an adapter load or for memory). */
  stalledSeconds: number;
  /** Unified memory: the page budget and who holds it. */
  memory?: { pageBytes: number; totalPages: number; kvPages: number; adapterPages: number; freePages: number; wantedPages: number };
}
