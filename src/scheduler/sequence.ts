import type { StepSequence } from '../engine/backend.ts';
import type { EventStream } from './stream.ts';
import type { FinishReason, GenerationEvent, GenerationRequest } from './types.ts';

/** A request's state inside the scheduler. */
export interface Sequence {
  readonly id: string;
  readonly request: GenerationRequest;
  readonly kind: 'generate' | 'score';
  /** Arrival order: lower runs first and is preempted last. */
  readonly order: number;
  readonly stream: EventStream<GenerationEvent>;
  readonly promptLength: number;
  /** Prompt then generated tokens. */
  tokens: number[];
  /** Positions whose K/V are in the cache. */
  computed: number;
  blockTable: number[];
  /** Adapter slot while running (-1: base model). */
  slot: number;
  /** Whether an adapter pin is held. */
  pinned: boolean;
  generated: number;
  scores?: Float32Array;
  state: 'waiting' | 'running' | 'finished';
  cancelRequested: boolean;
  preemptions: number;
  arrivedAt: number;
  startedAt: number | null;
  firstTokenAt: number | null;
}

/** One sequence's rows planned for a step. */
export interface PlannedRows {
  seq: Sequence;
  /** Rows run: tokens[computed, computed + count). */
  count: number;
  step: StepSequence;
}

/** Ends a sequence's stream with its usage and timings. */
export function finish(seq: Sequence, reason: FinishReason, now: number): void {
  seq.state = 'finished';
  seq.stream.push({
    type: 'done',
    finishReason: reason,
    usage: { promptTokens: seq.promptLength, completionTokens: seq.generated },
    scores: seq.scores,
    timings: {
      queuedMs: (seq.startedAt ?? now) - seq.arrivedAt,
      firstTokenMs: seq.firstTokenAt === null ? null : seq.firstTokenAt - seq.arrivedAt,
      totalMs: now - seq.arrivedAt,
    },
    preemptions: seq.preemptions,
  });
  seq.stream.close();
}
