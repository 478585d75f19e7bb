import type { StepSequence } from '../engine/backend.ts';
import type { EventStream } from './stream.ts';
import type { FinishReason, GenerationEvent, GenerationRequest, RequestSampling, TokenConstraint } from './types.ts';

/**
 * One request in the scheduler: its stream and its sequences. A request with `n` choices has one
 * sequence per choice and, when its prompt spans whole KV blocks, a `prefix` sequence that
 * computes those blocks once; the choices then start from them (each holding a reference) and
 * compute only the prompt's last partial block and their own tokens.
 */
export interface Group {
  readonly request: GenerationRequest;
  readonly stream: EventStream<GenerationEvent>;
  readonly payer: string;
  /** The choices, in order. */
  readonly choices: Sequence[];
  /** Computes the shared prompt blocks; undefined when there is none, or once it handed them over. */
  prefix: Sequence | undefined;
  /** Choices not finished yet. */
  open: number;
}

/** A sequence's state inside the scheduler. */
export interface Sequence {
  readonly id: string;
  readonly group: Group;
  /** `prefix`: the shared prompt blocks of a group (no token drawn). */
  readonly kind: 'generate' | 'score' | 'prefix';
  /** Which choice (0 for a prefix and for scoring). */
  readonly choice: number;
  /** Arrival order: lower runs first and is preempted last. */
  readonly order: number;
  readonly promptLength: number;
  /** The choice's sampling (its own seed). */
  readonly sampling: RequestSampling;
  /** The choice's grammar, if the request constrains its output. */
  readonly constraint: TokenConstraint | undefined;
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
  /** How often each token was generated (penalties). */
  counts: Map<number, number>;
  scores?: Float32Array;
  /** `blocked`: a choice waiting for its group's prefix. */
  state: 'blocked' | 'waiting' | 'running' | 'finished';
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

/** Ends a choice: its `done` event; the stream closes after the group's last choice. */
export function finish(seq: Sequence, reason: FinishReason, now: number): void {
  seq.state = 'finished';
  if (seq.kind === 'prefix') return;
  const { group } = seq;
  group.stream.push({
    type: 'done',
    choice: seq.choice,
    finishReason: reason,
    usage: { promptTokens: seq.promptLength, completionTokens: seq.generated },
    scores: seq.scores,
    timings: {
      queuedMs: (seq.startedAt ?? now) - seq.arrivedAt,
      firstTokenMs: seq.firstTokenAt === null ? null : seq.firstTokenAt - seq.arrivedAt,
      totalMs: now - seq.arrivedAt,
    },
    preemptions: seq.preemptions,
    ...(seq.constraint?.forced ? { forced: true } : {}),
  });
  if (--group.open === 0) group.stream.close();
}
