/**
 * Admission planning: which waiting sequences enter a step. The queue is sorted in the policy's
 * admission order (payer fairness, `fairness.ts`, then arrival, then choice). While every slot is
 * taken, payers below their share of the slots take one (`fairSlots.ts`): the running sequence
 * that gives it up is paused, keeping its KV blocks and adapter pin. Then waiting requests are
 * admitted in that order while the step's token budget, the slots and memory last: a request goes
 * in when what it needs fits (the KV blocks of its whole prompt, though a step computes only a
 * chunk of it, and, with unified memory, its adapter's pages when not resident, from free pages and
 * idle adapters no request ahead of it needs) beside what the running sequences are owed (the rest
 * of each one's prompt, at least one block for its next token: `committedBlocks`), so an admission
 * never forces a preemption of what runs, a long prompt's later chunks included, and what requests
 * ahead whose adapter is loading still need (their KV blocks, and their adapter's pages while its
 * load waits for room) is left to them. The first that does not fit stops admission (no request
 * overtakes it for memory, so it is not starved).
 */
import { KV_BLOCK_SIZE } from '../engine/backend.ts';
import type { Logger } from '../log.ts';
import { blocksFor, type BlockAllocator } from './blocks.ts';
import { SchedulerAdapterUnavailableError } from './errors.ts';
import type { PayerLedger } from './fairness.ts';
import { fairSlotVictims } from './fairSlots.ts';
import type { PagePool } from './memory.ts';
import type { Queues, Reservation } from './reserve.ts';
import { backIn, goOut, insertByOrder, remove, type Sequence } from './sequence.ts';
import type { AdapterResidency } from './types.ts';

/** The step being planned: its token budget left, the sequences with rows in it, and how rows are added. */
export interface StepRows {
  readonly budget: number;
  readonly scheduled: ReadonlySet<Sequence>;
  /** Adds `count` rows of `seq` (from its computed position), taking them from the budget. */
  add(seq: Sequence, count: number): void;
}

export interface AdmissionParts {
  queues: Queues;
  blocks: BlockAllocator;
  payers: PayerLedger;
  reservation: Reservation;
  adapters?: AdapterResidency;
  /** Unified memory: the page budget KV blocks share with adapters. */
  pages?: PagePool;
  maxRunning: number;
  /** Whether payers below their share of the slots take one (`fairSlots.ts`). */
  fairSlots: boolean;
  /** Counts pauses (the scheduler's stats). */
  counters: { pauses: number };
  /** Fails a request whose adapter cannot be had. */
  fail(seq: Sequence, error: unknown): void;
  /** The clock of requests' timings, ms. */
  now(): number;
  log: Logger;
}

export interface Admission {
  /** Negative when the policy admits `a` before `b`. */
  compare(a: Sequence, b: Sequence): number;
  /** Sorts the queue in admission order and tells the adapter tier where each queued adapter is first needed. */
  order(): void;
  /** Every slot taken: pauses the running sequences whose slots payers below their share take now; they are not readmitted in this step. */
  pauseForFairSlots(): ReadonlySet<Sequence>;
  /** Admits waiting sequences (not `heldBack`) into `step`, in admission order, while budget, slots and memory last. */
  admitWaiting(step: StepRows, heldBack: ReadonlySet<Sequence>): void;
}

/** KV blocks `seq` takes to run `rows` more rows (default: every token it has, the rest of its prompt). */
export function blocksAhead(seq: Sequence, rows = seq.tokens.length): number {
  return Math.max(0, blocksFor(Math.min(seq.tokens.length, seq.computed + rows), KV_BLOCK_SIZE) - seq.blockTable.length);
}

/** KV blocks a sequence is owed once admitted: the rest of its prompt, at least one block for its next token. */
export const blocksOwed = (seq: Sequence): number => Math.max(1, blocksAhead(seq));

/**
 * KV blocks the running sequences are owed, kept free when another is admitted (and from
 * prefetch): the rest of each one's prompt, at least one block each for its next token. So an
 * admission never leaves a prefill that is still in chunks, or a decode, short of blocks.
 */
export function committedBlocks(running: readonly Sequence[]): number {
  let owed = 0;
  for (const seq of running) owed += blocksOwed(seq);
  return owed;
}

/** Orders waiting sequences as the policy admits them: payer fairness, then arrival, then choice. */
export function admissionOrder(payers: PayerLedger): (a: Sequence, b: Sequence) => number {
  return (a, b) => payers.compare({ payer: a.group.payer, order: a.order }, { payer: b.group.payer, order: b.order }) || a.choice - b.choice;
}

export function createAdmission(p: AdmissionParts): Admission {
  const { waiting, running } = p.queues;
  const { adapters, blocks, payers } = p;
  const compare = admissionOrder(payers);

  function order(): void {
    waiting.sort(compare);
    if (!adapters?.queued) return;
    const firstNeeded = new Map<string, number>();
    for (const [position, seq] of waiting.entries()) {
      const id = seq.group.request.adapterId;
      if (id && !firstNeeded.has(id)) firstNeeded.set(id, position);
    }
    adapters.queued(firstNeeded);
  }

  /** Gives `seq`'s slot to a payer below its share: it waits again, keeping its KV blocks and adapter pin, and resumes where it stopped. */
  function pause(seq: Sequence): void {
    remove(running, seq);
    seq.state = 'waiting';
    seq.pauses++;
    p.counters.pauses++;
    goOut(seq, p.now());
    insertByOrder(waiting, seq);
    p.log.debug({ id: seq.id, payer: seq.group.payer }, 'paused for a payer below its share of the slots');
  }

  /** Pins `seq`'s adapter (a paused sequence kept its pin) and moves it to the running set; false when its adapter is not resident yet or failed (its request fails). */
  function admit(seq: Sequence): boolean {
    const adapterId = seq.group.request.adapterId;
    if (adapterId && !seq.pinned) {
      if (!adapters) {
        p.fail(seq, new SchedulerAdapterUnavailableError(adapterId, new Error('this scheduler has no adapter residency manager')));
        return false;
      }
      const state = adapters.acquire(adapterId);
      if ('error' in state) {
        p.fail(seq, new SchedulerAdapterUnavailableError(adapterId, state.error));
        return false;
      }
      if ('pending' in state) return false;
      seq.slot = state.slot;
      seq.pinned = true;
    }
    remove(waiting, seq);
    running.push(seq);
    running.sort((a, b) => a.order - b.order || a.choice - b.choice);
    seq.state = 'running';
    const now = p.now();
    seq.startedAt ??= now;
    backIn(seq, now);
    return true;
  }

  /** Pages of the unified budget `seq`'s adapter still needs to become resident (0 when it holds them, resident or loading into its slot, or without a budget). */
  function adapterPagesNeeded(seq: Sequence): number {
    const id = seq.group.request.adapterId;
    const footprint = id && p.pages ? adapters?.footprint?.(id) : undefined;
    return footprint && !footprint.held ? footprint.pages : 0;
  }

  function pauseForFairSlots(): ReadonlySet<Sequence> {
    if (!p.fairSlots || running.length < p.maxRunning || waiting.length === 0) return new Set();
    const victims = fairSlotVictims({
      running,
      waiting,
      maxRunning: p.maxRunning,
      servedMore: (a, b) => payers.compare({ payer: a, order: 0 }, { payer: b, order: 0 }) > 0,
      ready: (seq) => !seq.group.request.adapterId || adapters?.slotOf?.(seq.group.request.adapterId) !== undefined,
    });
    for (const victim of victims) pause(victim);
    if (victims.length > 0) order();
    return new Set(victims);
  }

  function admitWaiting(step: StepRows, heldBack: ReadonlySet<Sequence>): void {
    let promised = 0; // pages requests ahead waiting for their adapter's load still need
    for (const [position, seq] of waiting.slice().entries()) { // slice: admission edits `waiting`
      if (step.budget <= 0 || running.length >= p.maxRunning) break;
      if (heldBack.has(seq)) continue;
      const count = Math.min(seq.tokens.length - seq.computed, step.budget);
      const kv = blocksOwed(seq); // its whole prompt, not only this step's chunk
      if (blocks.available(position) - promised - committedBlocks(running) - kv - adapterPagesNeeded(seq) < 0) break;
      if (!admit(seq)) {
        if (seq.state === 'waiting') promised += kv + adapterPagesNeeded(seq);
        continue;
      }
      if (!p.reservation.reserve(seq, seq.computed + count, step.scheduled, position)) {
        p.reservation.preempt(seq);
        break;
      }
      step.add(seq, count);
    }
  }

  return { compare, order, pauseForFairSlots, admitWaiting };
}
