import type { SampleRow, StepSequence } from '../engine/backend.ts';
import { logitAdjustments } from '../engine/sampling.ts';
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
  /** Times it was paused for a payer below its share of the slots (`fairSlots.ts`). */
  pauses: number;
  arrivedAt: number;
  startedAt: number | null;
  firstTokenAt: number | null;
  /** When it last left the running set after its first admission (paused or preempted); null while running or before it first ran. */
  outAt: number | null;
  /** Milliseconds spent waiting again after its first admission (paused or preempted). */
  outMs: number;
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
  backIn(seq, now);
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
      outMs: seq.outMs,
    },
    preemptions: seq.preemptions,
    pauses: seq.pauses,
    ...(seq.constraint?.forced ? { forced: true } : {}),
  });
  if (--group.open === 0) group.stream.close();
}

/** A new waiting sequence of `group`: choice `choice` (its own seed), or its prefix (`kind` 'prefix', the shared prompt blocks in `tokens`). */
export function newSequence(o: { group: Group; id: string; kind: Sequence['kind']; choice: number; order: number; tokens: readonly number[]; arrivedAt: number }): Sequence {
  const { request } = o.group;
  return {
    id: o.id,
    group: o.group,
    kind: o.kind,
    choice: o.choice,
    order: o.order,
    promptLength: o.kind === 'prefix' ? o.tokens.length : request.promptIds.length,
    sampling: { ...request.sampling, seed: (request.sampling.seed + o.choice) % 2 ** 32 },
    constraint: o.kind === 'generate' ? request.constraint?.() : undefined,
    tokens: Array.from(o.tokens),
    computed: 0,
    blockTable: [],
    slot: -1,
    pinned: false,
    generated: 0,
    counts: new Map(),
    state: 'waiting',
    cancelRequested: false,
    preemptions: 0,
    pauses: 0,
    arrivedAt: o.arrivedAt,
    startedAt: null,
    firstTokenAt: null,
    outAt: null,
    outMs: 0,
  };
}

/** `seq` leaves the running set (paused or preempted) at `now`: its time out counts from here. */
export function goOut(seq: Sequence, now: number): void {
  if (seq.startedAt !== null) seq.outAt ??= now;
}

/** `seq` runs again (or ends) at `now`: the time since it went out is counted. */
export function backIn(seq: Sequence, now: number): void {
  if (seq.outAt === null) return;
  seq.outMs += now - seq.outAt;
  seq.outAt = null;
}

/** How the last row of `seq` draws: the choice's sampling, its grammar's mask, its bias and penalties. */
export function sampleRow(seq: Sequence): SampleRow {
  const s = seq.sampling;
  const row: SampleRow = { temperature: s.temperature, topK: s.topK, topP: s.topP, seed: s.seed, step: seq.generated };
  const mask = seq.constraint?.mask(seq.group.request.maxTokens - seq.generated);
  if (mask) row.mask = mask;
  const adjust = logitAdjustments({ logitBias: s.logitBias, presencePenalty: s.presencePenalty, frequencyPenalty: s.frequencyPenalty, counts: seq.counts });
  if (adjust) row.adjust = adjust;
  if (s.topLogprobs) row.topLogprobs = s.topLogprobs;
  return row;
}

/** Removes `item` from `list` if there. */
export function remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

/** Inserts `seq` into `list` (sorted by arrival, then choice) at its place. */
export function insertByOrder(list: Sequence[], seq: Sequence): void {
  const i = list.findIndex((s) => s.order > seq.order || (s.order === seq.order && s.choice > seq.choice));
  if (i < 0) list.push(seq);
  else list.splice(i, 0, seq);
}
