/**
 * Adapter prefetch: after admission, the adapters of the next `depth` queued requests, in the
 * policy's admission order, start loading ahead of their admission (LoRAX), so a request does not
 * wait for its adapter once its turn comes.
 *
 * Split memory loads them into free slots. Unified memory (`memory.ts`) must not spend pages a
 * running or admissible request needs, so a prefetch may take only what stays free without it:
 * free pages and those of idle adapters no queued request needs, less what is kept: each running
 * sequence's next KV blocks (the rest of its prompt, else one block for its next token), the
 * headroom (a fraction of the budget, `engine.memory.prefetchHeadroom`), and what the queued
 * requests before it take when admitted (their whole prompt's KV blocks, as admission counts them,
 * and their adapter's pages unless it is resident or loading). A prefetched adapter is idle, pinned by nobody: a running
 * sequence's KV blocks, and a request or load ahead of its own, evict it before anything else
 * they may have (`src/lora/eviction.ts`), so it never costs a running sequence a preemption nor
 * an admission its pages; a queued request behind its own reaches admission only once its own was
 * admitted and pinned it. The adapter tier reads a prefetched adapter into host memory before it
 * takes pages (`src/lora/slots.ts`), so pages are never held waiting for a disk read.
 */
import { blocksOwed, committedBlocks } from './admission.ts';
import { SchedulerOptionError } from './errors.ts';
import type { PagePool } from './memory.ts';
import type { Queues } from './reserve.ts';
import type { AdapterResidency } from './types.ts';

/** Defaults: queued requests whose adapters are prefetched, and the fraction of a unified budget prefetch leaves free (config `engine.memory.prefetchHeadroom`). */
export const PREFETCH_DEFAULTS = { depth: 8, headroom: 0.05 } as const;

export interface PrefetchParameters {
  queues: Queues;
  adapters: AdapterResidency;
  /** Unified memory; without it adapters load into free slots. */
  pages?: PagePool;
  /** Queued requests looked at, in admission order. */
  depth: number;
  /** Unified memory: the fraction of the budget a prefetch leaves free. */
  headroom: number;
}

/** Throws {@link SchedulerOptionError} unless `depth` is a whole number and `headroom` a fraction in [0, 1]. */
export function checkPrefetchOptions(p: { depth: number; headroom: number }): void {
  if (!Number.isInteger(p.depth) || p.depth < 0) throw new SchedulerOptionError('prefetchDepth', p.depth, 'a whole number of queued requests (0: no prefetch)');
  if (!(p.headroom >= 0 && p.headroom <= 1)) throw new SchedulerOptionError('prefetchHeadroom', p.headroom, 'a fraction of the memory budget in [0, 1] (1: no prefetch into unified memory)');
}

/** Pages a unified budget keeps from prefetch before any queued request: the headroom and every running sequence's next KV blocks. */
export function keptFromPrefetch(p: Pick<PrefetchParameters, 'queues' | 'headroom'> & { pages: PagePool }): number {
  return Math.ceil(p.headroom * p.pages.totalPages) + committedBlocks(p.queues.running);
}

/** Starts loads of the next queued requests' adapters (see the file comment); `waiting` must be in admission order. */
export function prefetchAdapters(p: PrefetchParameters): void {
  const { adapters, pages } = p;
  const next = p.queues.waiting.slice(0, p.depth);
  if (!pages) {
    for (const seq of next) if (seq.group.request.adapterId) adapters.prefetch(seq.group.request.adapterId);
    return;
  }
  let kept = keptFromPrefetch({ ...p, pages });
  for (const seq of next) {
    const id = seq.group.request.adapterId;
    const footprint = () => (id ? adapters.footprint?.(id) : undefined);
    if (id && footprint()?.held === false) adapters.prefetch(id, pages.free + pages.reclaimable() - kept);
    const now = footprint(); // held now if the prefetch took its pages
    kept += blocksOwed(seq) + (now && !now.held ? now.pages : 0);
  }
}
