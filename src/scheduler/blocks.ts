import { InternalError } from '../errors.ts';

/**
 * Free list of KV-cache block ids (vLLM's block manager, without prefix sharing).
 * Blocks are handed out in ascending id order so runs are reproducible.
 */
export class BlockAllocator {
  readonly capacity: number;
  #free: number[];

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#free = Array.from({ length: capacity }, (_, i) => capacity - 1 - i); // pop() yields 0, 1, 2, ...
  }

  /** Blocks not held by any sequence. */
  get numFree(): number {
    return this.#free.length;
  }

  /** Takes `count` blocks, or returns undefined (taking none) when fewer are free. */
  allocate(count: number): number[] | undefined {
    if (count > this.#free.length) return undefined;
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push(this.#free.pop()!);
    return out;
  }

  /** Returns blocks to the pool. */
  free(blocks: readonly number[]): void {
    for (const b of blocks) {
      if (b < 0 || b >= this.capacity) throw new InternalError(`freeing KV block ${b} outside the pool of ${this.capacity}`);
      this.#free.push(b);
    }
    if (this.#free.length > this.capacity) throw new InternalError(`KV pool holds ${this.#free.length} free blocks, more than its ${this.capacity}: a block was freed twice`);
  }
}

/** Blocks needed to hold `positions` positions. */
export function blocksFor(positions: number, blockSize: number): number {
  return Math.ceil(positions / blockSize);
}
