/**
 * KV blocks for a step under memory pressure. A sequence that needs blocks takes free ones; when
 * the pool runs dry, a waiting sequence that holds blocks (a paused one, or a choice holding its
 * prompt's) gives them back first, and only then is a running sequence that arrived after the
 * taker preempted (recomputed later), the latest arrived first.
 */
import { KV_BLOCK_SIZE } from '../engine/backend.ts';
import type { Logger } from '../log.ts';
import { blocksFor, type BlockAllocator } from './blocks.ts';
import { goOut, insertByOrder, remove, type Sequence } from './sequence.ts';
import type { AdapterResidency } from './types.ts';

/** The scheduler's two queues, shared by the loop, admission and reservation. */
export interface Queues {
  /** Waiting sequences (admission sorts them fairest first before each step's admission). */
  readonly waiting: Sequence[];
  /** Running sequences, arrival order. */
  readonly running: Sequence[];
}

/** Frees, reserves and preempts KV blocks (and adapter pins) of the scheduler's sequences. */
export interface Reservation {
  /** Drops `seq`'s KV blocks and adapter pin; it recomputes from the start if it runs again. */
  release(seq: Sequence): void;
  /** Moves a running sequence back to the queue without its blocks (recompute later). */
  preempt(seq: Sequence): void;
  /**
   * Ensures `seq` has blocks for `positions` positions, freeing waiting sequences' blocks or
   * preempting later running sequences if needed; `after`: its position in the queue when it is
   * being admitted (-1 running), so it evicts no adapter a request ahead of it needs. False when
   * even that does not free enough.
   */
  reserve(seq: Sequence, positions: number, scheduled: ReadonlySet<Sequence>, after?: number): boolean;
}

export interface ReservationParts {
  queues: Queues;
  blocks: BlockAllocator;
  adapters?: AdapterResidency;
  /** Counts memory preemptions (the scheduler's stats). */
  counters: { preemptions: number };
  log: Logger;
}

/** The running sequence `seq` may preempt for blocks: the latest arrived that arrived after it and has no rows in this step. */
export function runningVictim(running: readonly Sequence[], seq: Sequence, scheduled: ReadonlySet<Sequence>): Sequence | undefined {
  for (let i = running.length - 1; i >= 0; i--) {
    const s = running[i];
    if (s !== seq && !scheduled.has(s) && s.order > seq.order) return s;
  }
  return undefined;
}

/** The waiting sequence that gives its blocks back when memory is short: the latest arrived holding any, not `except`. */
export function waitingVictim(waiting: readonly Sequence[], except: Sequence): Sequence | undefined {
  let victim: Sequence | undefined;
  for (const s of waiting) if (s !== except && s.blockTable.length > 0 && (!victim || s.order > victim.order)) victim = s;
  return victim;
}

export function createReservation(p: ReservationParts): Reservation {
  const { waiting, running } = p.queues;

  function release(seq: Sequence): void {
    p.blocks.free(seq.blockTable);
    seq.blockTable = [];
    seq.computed = 0;
    if (seq.pinned && seq.group.request.adapterId) p.adapters?.release(seq.group.request.adapterId);
    seq.pinned = false;
    seq.slot = -1;
  }

  function preempt(seq: Sequence): void {
    remove(running, seq);
    release(seq);
    seq.state = 'waiting';
    seq.preemptions++;
    p.counters.preemptions++;
    goOut(seq, performance.now());
    insertByOrder(waiting, seq);
    p.log.debug({ id: seq.id, generated: seq.generated }, 'preempted (recompute)');
  }

  /** Memory short: a waiting sequence holding KV blocks gives them back; false when none does. */
  function releaseWaiting(except: Sequence): boolean {
    const victim = waitingVictim(waiting, except);
    if (!victim) return false;
    release(victim);
    victim.preemptions++;
    p.counters.preemptions++;
    p.log.debug({ id: victim.id }, 'waiting sequence gave its KV blocks back (recompute)');
    return true;
  }

  function reserve(seq: Sequence, positions: number, scheduled: ReadonlySet<Sequence>, after = -1): boolean {
    const need = blocksFor(positions, KV_BLOCK_SIZE) - seq.blockTable.length;
    if (need <= 0) return true;
    for (;;) {
      const got = p.blocks.allocate(need, after);
      if (got) {
        seq.blockTable.push(...got);
        return true;
      }
      if (releaseWaiting(seq)) continue;
      const victim = runningVictim(running, seq, scheduled);
      if (!victim) return false;
      preempt(victim);
    }
  }

  return { release, preempt, reserve };
}
