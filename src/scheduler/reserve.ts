/**
 * KV blocks for a step under memory pressure. A sequence that needs blocks takes free ones; when
 * the pool runs dry, waiting sequences that hold blocks (paused ones, or choices holding their
 * prompt's) give them back first, the one admission would take last first, and only then is a
 * running sequence that arrived after the taker preempted (recomputed later), the latest arrived
 * first.
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
  /** Negative when the policy admits `a` before `b` (`admission.ts`): waiting sequences give blocks back in reverse of it. */
  admitsBefore(a: Sequence, b: Sequence): number;
  /** Counts memory preemptions (the scheduler's stats). */
  counters: { preemptions: number };
  /** The clock of requests' timings, ms. */
  now(): number;
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

/**
 * The waiting sequences that give their KV blocks back when memory is short, and how many blocks
 * that returns to the pool: the one the policy would admit last goes first (`admitsBefore`; under
 * vtc the payer served most, not the latest arrived), never `except`. Only blocks nobody else holds
 * return: a choice holding its request's shared prompt blocks frees those only with the last of
 * their holders. So a sequence that frees nothing alone goes together with its request's other
 * waiting sequences when together they free blocks, and is passed over when a running sequence (or
 * `except`) holds them too: dropping it would cost a recompute and free nothing. Undefined when no
 * waiting sequence can free a block.
 */
export function waitingVictims(waiting: readonly Sequence[], except: Sequence, admitsBefore: (a: Sequence, b: Sequence) => number, holders: (block: number) => number): { victims: Sequence[]; freed: number } | undefined {
  const candidates = waiting.filter((s) => s !== except && s.blockTable.length > 0).sort((a, b) => admitsBefore(b, a));
  for (const seq of candidates) {
    const alone = freedBy([seq], holders);
    if (alone > 0) return { victims: [seq], freed: alone };
    const together = candidates.filter((s) => s.group === seq.group);
    const freed = freedBy(together, holders);
    if (freed > 0) return { victims: together, freed };
  }
  return undefined;
}

/** Blocks that return to the pool when every sequence of `set` drops its blocks. */
function freedBy(set: readonly Sequence[], holders: (block: number) => number): number {
  const held = new Map<number, number>();
  for (const s of set) for (const b of s.blockTable) held.set(b, (held.get(b) ?? 0) + 1);
  let freed = 0;
  for (const [block, count] of held) if (holders(block) === count) freed++;
  return freed;
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
    goOut(seq, p.now());
    insertByOrder(waiting, seq);
    p.log.debug({ id: seq.id, generated: seq.generated }, 'preempted (recompute)');
  }

  /** Memory short: waiting sequences give their blocks back (`waitingVictims`); the blocks that returned to the pool (0: none could). */
  function releaseWaiting(except: Sequence): number {
    const found = waitingVictims(waiting, except, p.admitsBefore, (block) => p.blocks.holders(block));
    if (!found) return 0;
    for (const victim of found.victims) {
      release(victim);
      victim.preemptions++;
      p.counters.preemptions++;
    }
    p.log.debug({ ids: found.victims.map((v) => v.id), freed: found.freed }, 'waiting sequences gave their KV blocks back (recompute)');
    return found.freed;
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
      if (releaseWaiting(seq) > 0) continue;
      const victim = runningVictim(running, seq, scheduled);
      if (!victim) return false;
      preempt(victim);
    }
  }

  return { release, preempt, reserve };
}
