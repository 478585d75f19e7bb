import { InternalError } from '../errors.ts';
import type { PagePool } from './memory.ts';

/**
 * KV-cache block ids: a free list with reference counts (vLLM's block manager). A block shared by
 * several sequences (the prompt of a request with `n` choices) returns to the pool when the last
 * of them frees it. With a {@link PagePool} (unified memory) the ids are the pool's page ids (one
 * id space with the adapters' pages, one free list: the pool's), so `numFree` is what the budget
 * allows. Blocks are handed out in a reproducible order (ascending ids at the start).
 */
export class BlockAllocator {
  readonly capacity: number;
  readonly #pool: PagePool | undefined;
  /** Free ids (split memory; with a pool, the pool holds them). */
  readonly #free: number[];
  readonly #refs: Uint32Array;

  constructor(capacity: number, pool?: PagePool) {
    if (pool && pool.totalPages > capacity) throw new InternalError(`a page budget of ${pool.totalPages} pages over a KV pool of ${capacity} blocks: page ids must index the KV pool`);
    this.capacity = capacity;
    this.#pool = pool;
    this.#refs = new Uint32Array(capacity);
    this.#free = pool ? [] : Array.from({ length: capacity }, (_, i) => capacity - 1 - i); // pop() yields 0, 1, 2, ...
  }

  /** Blocks that can be taken now (pages in the budget, idle adapters' no queued request needs included). */
  get numFree(): number {
    return this.available();
  }

  /** Blocks a taker at queue position `after` could have now (unified memory: with the idle adapters it may evict, see `PagePool.reclaimable`). */
  available(after = Number.POSITIVE_INFINITY): number {
    return this.#pool ? this.#pool.free + this.#pool.reclaimable(after) : this.#free.length;
  }

  /** Blocks held by at least one sequence. */
  get numUsed(): number {
    return this.#pool ? this.#pool.used('kv') : this.capacity - this.#free.length;
  }

  /**
   * Takes `count` blocks (reference 1 each) for a taker at queue position `after` (default -1: a
   * running sequence), or returns undefined (taking none) when they cannot be had.
   */
  allocate(count: number, after = -1): number[] | undefined {
    if (count === 0) return [];
    const out = this.#pool ? this.#pool.take('kv', count, after) : count > this.#free.length ? undefined : this.#free.splice(this.#free.length - count).reverse();
    for (const b of out ?? []) this.#refs[b] = 1;
    return out;
  }

  /** One more holder for each block (a sequence sharing another's prompt). */
  retain(blocks: readonly number[]): void {
    for (const b of blocks) {
      if (this.#refs[b] === 0) throw new InternalError(`sharing KV block ${b}, which nobody holds`);
      this.#refs[b]++;
    }
  }

  /** How many sequences hold `block` (0: free). */
  holders(block: number): number {
    return this.#refs[block] ?? 0;
  }

  /** Drops one holder of each block; a block nobody holds returns to the pool. */
  free(blocks: readonly number[]): void {
    const returned: number[] = [];
    for (const b of blocks) {
      if (b < 0 || b >= this.capacity) throw new InternalError(`freeing KV block ${b} outside the pool of ${this.capacity}`);
      if (this.#refs[b] === 0) throw new InternalError(`KV block ${b} freed more often than it was held`);
      if (--this.#refs[b] === 0) returned.push(b);
    }
    if (!returned.length) return;
    if (this.#pool) this.#pool.give('kv', returned);
    else this.#free.push(...returned);
  }
}

/** Blocks needed to hold `positions` positions. */
export function blocksFor(positions: number, blockSize: number): number {
  return Math.ceil(positions / blockSize);
}
