/**
 * Receipt seqs that survive a lost disk (docs/protocol.md "Receipt seq").
 *
 * `seq = epoch * 2^11 + counter`: an epoch is a wall-clock millisecond at which the node opened a
 * block of 2,048 seqs, never ahead of the clock (the allocator waits instead) and always above every
 * epoch this ledger opened before (a durable high-water mark in `meta`). A node that lost its disk,
 * or restored an older backup, starts above every epoch any earlier process could have opened:
 * those epochs were taken at or before that process's death, which came before this process
 * started. seqs rise strictly per node key, with gaps. 2^11 keeps every seq a safe JS integer
 * (and an SQLite INTEGER) until the year 2109: `epochMs < 2^53 / 2^11`.
 */
import type { DatabaseSync } from 'node:sqlite';
import { LedgerClockBehindError } from './errors.ts';

/** Bits of a seq below its epoch. */
export const SEQ_COUNTER_BITS = 11;
/** Seqs per epoch. */
export const SEQS_PER_EPOCH = 2 ** SEQ_COUNTER_BITS;
/** How far the clock may be behind the ledger's last epoch before the node refuses to start, ms. */
export const MAX_CLOCK_LAG_MS = 10_000;

/** The epoch (unix ms) a seq was allocated in; 0 for the small seqs of ledgers before epochs. */
export function seqEpoch(seq: bigint): number {
  return Number(seq >> BigInt(SEQ_COUNTER_BITS));
}

/** Hands out seqs; `next()` waits only when a new epoch must wait for the clock. */
export interface SeqAllocator {
  next(): Promise<bigint>;
  /** The highest epoch this ledger opened (unix ms), 0 when none. */
  readonly highWater: number;
}

/** Parameters of {@link createSeqAllocator}. */
export interface CreateSeqAllocatorParameters {
  db: DatabaseSync;
  /** Largest seq stored in the ledger (every new seq is above it). */
  maxStoredSeq: bigint;
  /** Clock, unix ms. Default `Date.now`. */
  now?: () => number;
  /** Refuse to start when the clock is this far behind the high-water mark, ms. Default {@link MAX_CLOCK_LAG_MS}. */
  maxClockLagMs?: number;
}

const EPOCH_KEY = 'seq_epoch';
/** Written by ledgers before seq epochs: the last seq reserved. */
const LEGACY_RESERVED_KEY = 'seq_reserved';

/** Creates the seq allocator over the ledger's `meta` table; throws {@link LedgerClockBehindError} when the clock went back. */
export function createSeqAllocator(p: CreateSeqAllocatorParameters): SeqAllocator {
  const now = p.now ?? Date.now;
  const read = p.db.prepare('SELECT value FROM meta WHERE key = ?');
  const write = p.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  const legacy = BigInt((read.get(LEGACY_RESERVED_KEY) as { value: string } | undefined)?.value ?? '0');
  const stored = Number((read.get(EPOCH_KEY) as { value: string } | undefined)?.value ?? '0');
  const above = (seq: bigint) => seqEpoch(seq); // an epoch above this one holds only larger seqs
  let highWater = Math.max(stored, above(p.maxStoredSeq), above(legacy));
  const startedAt = now();
  if (highWater - startedAt > (p.maxClockLagMs ?? MAX_CLOCK_LAG_MS)) throw new LedgerClockBehindError(highWater, startedAt);
  // Any process that used this key before this one started opened its epochs before `startedAt`.
  let floor = Math.max(highWater, startedAt);
  let epoch = -1;
  let counter = SEQS_PER_EPOCH;
  let opening: Promise<void> | undefined;

  async function open(): Promise<void> {
    const next = floor + 1;
    for (let wait = next - now(); wait > 0; wait = next - now()) await new Promise((r) => setTimeout(r, wait));
    write.run(EPOCH_KEY, String(next)); // autocommit, synchronous = FULL: durable before any seq of it is used
    highWater = floor = epoch = next;
    counter = 0;
  }

  return {
    get highWater() {
      return highWater;
    },
    async next() {
      while (counter >= SEQS_PER_EPOCH) {
        opening ??= open().finally(() => (opening = undefined));
        await opening;
      }
      return BigInt(epoch) * BigInt(SEQS_PER_EPOCH) + BigInt(counter++);
    },
  };
}
