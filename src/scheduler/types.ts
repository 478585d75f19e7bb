import type { SamplingParams } from '../engine/backend.ts';

/** A generation or scoring request as the scheduler takes it. */
export interface GenerationRequest {
  /** Caller's id, echoed in logs; one is made up when absent. */
  id?: string;
  /** Prompt token ids (after the chat template). */
  promptIds: readonly number[];
  /** `generate`: sample up to `maxTokens` new tokens. `score`: teacher-forced log p of each prompt token after the first, no sampling. */
  kind?: 'generate' | 'score';
  /** New tokens at most (generate). */
  maxTokens: number;
  sampling: SamplingParams;
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

/** What a request's stream yields. */
export type GenerationEvent =
  | { type: 'token'; /** Sampled id. */ token: number; /** log p under the model (temperature 1). */ logprob: number; /** 0-based index among generated tokens. */ index: number }
  | {
      type: 'done';
      finishReason: FinishReason;
      usage: Usage;
      /** `score` requests: log p(prompt[i+1] | prompt[..i]) for every i, f32. */
      scores?: Float32Array;
      /** Milliseconds: waiting before the first step, to the first token, in total. */
      timings: { queuedMs: number; firstTokenMs: number | null; totalMs: number };
      /** Times the request was preempted (recomputed). */
      preemptions: number;
    };

/**
 * Where adapters live on the device. The scheduler pins an adapter while a request using it is
 * running and asks for loads of queued requests' adapters ahead of time.
 */
export interface AdapterResidency {
  /** Pins `adapterId` and returns its slot if resident; else starts loading it and returns a pending or failed state. */
  acquire(adapterId: string): { slot: number } | { pending: true } | { error: unknown };
  /** Starts loading without pinning (queued requests). */
  prefetch(adapterId: string): void;
  /** Unpins one use. */
  release(adapterId: string): void;
  /** Registers a callback for when a load finishes (so the scheduler can admit waiters). */
  onLoaded(listener: () => void): void;
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
}
