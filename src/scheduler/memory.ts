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

/** What holds pages. */
export type PageUse = 'kv' | 'adapter';

/** The shared page budget. */
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
  /** Pages adapter loads are waiting for (the scheduler leaves a queued request's to it, before admitting anyone behind it). */
  wanted: number;
  /**
   * Takes `pages`, asking the reclaimer (the adapter tier evicts idle adapters that the taker at
   * queue position `after` may have, see `reclaimable`) when short; false, taking nothing, when
   * even that does not free enough. Default `after`: -1 (a running sequence).
   */
  take(use: PageUse, pages: number, after?: number): boolean;
  /** Returns pages; listeners (loads waiting for pages) are told. */
  give(use: PageUse, pages: number): void;
  /** Whoever can free pages on demand for a taker at queue position `after` (it returns them with `give`), and how many it could. */
  setReclaimer(reclaim: (pages: number, after: number) => void, reclaimable: (after: number) => number): void;
  /** Called whenever pages are returned. */
  onFreed(listener: () => void): void;
}

/** Creates a pool of `totalPages` pages of `pageBytes` each. */
export function createPagePool(p: { totalPages: number; pageBytes: number }): PagePool {
  const held: Record<PageUse, number> = { kv: 0, adapter: 0 };
  let reclaim: ((pages: number, after: number) => void) | undefined;
  let reclaimable: (after: number) => number = () => 0;
  const listeners: Array<() => void> = [];
  const free = () => p.totalPages - held.kv - held.adapter;
  return {
    pageBytes: p.pageBytes,
    totalPages: p.totalPages,
    get free() {
      return free();
    },
    reclaimable: (after = Number.POSITIVE_INFINITY) => reclaimable(after),
    wanted: 0,
    used: (use) => held[use],
    take(use, pages, after = -1) {
      if (pages > free() && reclaim) reclaim(pages - free(), after);
      if (pages > free()) return false;
      held[use] += pages;
      return true;
    },
    give(use, pages) {
      held[use] -= pages;
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
