/**
 * One memory budget for KV blocks and adapter weights (S-LoRA's unified paging), counted in pages
 * of one KV block's bytes: a request takes KV pages as it grows, an adapter takes the pages its
 * weights need at their own rank (not padded to the largest rank), and an idle adapter's pages go
 * back when KV or another adapter needs them. Many small requests over many adapters, or a few long
 * ones, share the same memory; admission decides by what each one needs.
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
  /** Pages idle adapters hold (the reclaimer can free them). */
  readonly reclaimable: number;
  /** Pages held by KV blocks or adapters. */
  used(use: PageUse): number;
  /** Pages adapter loads are waiting for (new requests leave them to the loads). */
  wanted: number;
  /**
   * Takes `pages`, asking the reclaimer (the adapter tier evicts idle adapters) when short; false,
   * taking nothing, when even that does not free enough.
   */
  take(use: PageUse, pages: number): boolean;
  /** Returns pages; listeners (loads waiting for pages) are told. */
  give(use: PageUse, pages: number): void;
  /** Whoever can free pages on demand (it returns them with `give`), and how many it could. */
  setReclaimer(reclaim: (pages: number) => void, reclaimable: () => number): void;
  /** Called whenever pages are returned. */
  onFreed(listener: () => void): void;
}

/** Creates a pool of `totalPages` pages of `pageBytes` each. */
export function createPagePool(p: { totalPages: number; pageBytes: number }): PagePool {
  const held: Record<PageUse, number> = { kv: 0, adapter: 0 };
  let reclaim: ((pages: number) => void) | undefined;
  let reclaimable: () => number = () => 0;
  const listeners: Array<() => void> = [];
  const free = () => p.totalPages - held.kv - held.adapter;
  return {
    pageBytes: p.pageBytes,
    totalPages: p.totalPages,
    get free() {
      return free();
    },
    get reclaimable() {
      return reclaimable();
    },
    wanted: 0,
    used: (use) => held[use],
    take(use, pages) {
      if (pages > free() && reclaim) reclaim(pages - free());
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
