/**
 * One memory budget for KV blocks and adapter weights (S-LoRA's unified paging), counted in pages
 * of one KV block's bytes: a request takes KV pages as it grows, an adapter takes the pages its
 * weights need at their own rank (not padded to the largest rank), and an idle adapter's pages go
 * back when KV or another adapter needs them. Many small requests over many adapters, or a few long
 * ones, share the same memory; admission decides by what each one needs (its adapter's pages when
 * not resident, plus its KV pages).
 *
 * Who gives pages back: only idle adapters (no running sequence pins them), those no queued
 * request needs first (least recently used first), then those whose first queued request is
 * furthest back. A taker never evicts an adapter that a request ahead of it needs, so requests do
 * not trade each other's adapters back and forth.
 *
 * Without a pool (the default `split` mode) the KV pool and the adapter slots are sized apart, as
 * before.
 */
import { InternalError } from '../errors.ts';

/** What holds pages. */
export type PageUse = 'kv' | 'adapter';

/**
 * The shared page budget and its page ids: one id space [0, totalPages) for KV blocks and adapters
 * (a KV block's id is its page: the backend's KV pool holds `totalPages` pages, and an adapter's
 * factors are written into the pages it was given, `src/lora/pages.ts`). One free list, owned here;
 * ids are handed out lowest first at the start, then the most recently returned first, so runs are
 * reproducible.
 */
export interface PagePool {
  /** Bytes of one page: one KV block (every layer's K and V). */
  readonly pageBytes: number;
  readonly totalPages: number;
  /** Pages nobody holds. */
  readonly free: number;
  /**
   * Pages idle adapters hold that a taker at queue position `after` may have: those no queued
   * request needs, and those whose first queued request comes after `after` (-1: a running
   * sequence, ahead of every queued one, may have any idle adapter's; default Infinity: only
   * adapters nobody queued needs).
   */
  reclaimable(after?: number): number;
  /** Pages held by KV blocks or adapters. */
  used(use: PageUse): number;
  /** Who holds page `id` now (undefined: free). */
  holder(id: number): PageUse | undefined;
  /** Pages adapter loads are waiting for (the scheduler leaves a queued request's to it, before admitting anyone behind it). */
  wanted: number;
  /**
   * Takes `pages` pages, asking the reclaimer (the adapter tier evicts idle adapters that the taker
   * at queue position `after` may have, see `reclaimable`) when short: their ids, or undefined,
   * taking nothing, when even that does not free enough. Default `after`: -1 (a running sequence).
   */
  take(use: PageUse, pages: number, after?: number): number[] | undefined;
  /** Returns pages `use` holds; listeners (loads waiting for pages) are told. */
  give(use: PageUse, ids: readonly number[]): void;
  /** Whoever can free pages on demand for a taker at queue position `after` (it returns them with `give`), and how many it could. */
  setReclaimer(reclaim: (pages: number, after: number) => void, reclaimable: (after: number) => number): void;
  /** Called whenever pages are returned. */
  onFreed(listener: () => void): void;
}

const HOLDER: readonly (PageUse | undefined)[] = [undefined, 'kv', 'adapter'];

/** Creates a pool of `totalPages` pages of `pageBytes` each. */
export function createPagePool(p: { totalPages: number; pageBytes: number }): PagePool {
  const held: Record<PageUse, number> = { kv: 0, adapter: 0 };
  const holders = new Uint8Array(p.totalPages); // index into HOLDER
  const freeIds = Array.from({ length: p.totalPages }, (_, i) => p.totalPages - 1 - i); // pop() yields 0, 1, 2, ...
  let reclaim: ((pages: number, after: number) => void) | undefined;
  let reclaimable: (after: number) => number = () => 0;
  const listeners: Array<() => void> = [];
  return {
    pageBytes: p.pageBytes,
    totalPages: p.totalPages,
    get free() {
      return freeIds.length;
    },
    reclaimable: (after = Number.POSITIVE_INFINITY) => reclaimable(after),
    wanted: 0,
    used: (use) => held[use],
    holder: (id) => HOLDER[holders[id]],
    take(use, pages, after = -1) {
      if (pages > freeIds.length && reclaim) reclaim(pages - freeIds.length, after);
      if (pages > freeIds.length) return undefined;
      const ids = freeIds.splice(freeIds.length - pages).reverse();
      for (const id of ids) holders[id] = HOLDER.indexOf(use);
      held[use] += pages;
      return ids;
    },
    give(use, ids) {
      const code = HOLDER.indexOf(use);
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= p.totalPages || holders[id] !== code) throw new InternalError(`returning page ${id} as ${use}, which ${use} does not hold (holder: ${HOLDER[holders[id]] ?? 'none'})`);
        holders[id] = 0;
      }
      for (let i = ids.length - 1; i >= 0; i--) freeIds.push(ids[i]); // the first returned is handed out first
      held[use] -= ids.length;
      for (const listener of listeners) listener();
    },
    setReclaimer(r, count) {
      reclaim = r;
      reclaimable = count;
    },
    onFreed(listener) {
      listeners.push(listener);
    },
  };
}
