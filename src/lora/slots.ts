/**
 * Device tier: which adapter sits in which slot of the backend's {@link LoraSlotPool}, for the
 * scheduler ({@link AdapterResidency}) and for run-time load/unload.
 *
 * - Loads run disk → host cache → slot in the background; `acquire`/`prefetch` return at once,
 *   so the step loop keeps running, and `onLoaded` listeners fire when a load ends (either way).
 * - A slot (and, with unified memory, pages) is had by evicting an idle resident adapter in the
 *   order of `eviction.ts` (never a pinned one, nor one needed before the taker's own request, a
 *   load's being its adapter's first queued use, `queued`). When none may go, loads wait for a release.
 * - A load reserves its slot and pages before reading the adapter (at once when they are free), so
 *   what admission counted on is not taken by someone else meanwhile.
 * - Prefetch with unified memory never waits and never holds pages it was not given: the adapter is
 *   read into host memory first, then written into pages only when the scheduler's `room` holds
 *   them, taken from free pages and idle adapters no queued request needs; it is an idle adapter
 *   then, the first thing KV blocks or another load may reclaim (`src/scheduler/prefetch.ts`).
 * - A failed load (corrupt file, wrong shapes) is remembered for `retryFailedAfterMs` and reported
 *   to every `acquire` of that adapter; other adapters keep serving. A failed prefetch is
 *   remembered for prefetches alone: an `acquire` loads the adapter itself, and reports its own
 *   failure.
 */
import { AbortedError, InternalError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { evictionVictim, mayEvict } from './eviction.ts';
import { LoraAdapterInUseError, LoraBudgetTooSmallError, LoraDisabledError, LoraRankUnsupportedError } from './errors.ts';
import { createFailureMemory } from './failures.ts';
import { emptyLatency, recordLatency } from './hostCache.ts';
import type { AdapterId } from './id.ts';
import { layoutAdapterPages, rowPages } from './pages.ts';
import type { CreateSlotManagerParameters, SlotAdapterInfo, SlotManager } from './slotManager.ts';
import type { AdapterEntry } from './store.ts';

export type { CreateSlotManagerParameters, SlotAdapterInfo, SlotManager, SlotManagerStats } from './slotManager.ts';

/** Default time a failed load is reported before it is retried (ms). */
export const DEFAULT_RETRY_FAILED_AFTER_MS = 30_000;

interface Slot {
  id: AdapterId | null;
  state: 'free' | 'reserved' | 'resident';
  pins: number;
  lastUse: number;
  /** Page ids of the unified budget it holds (its factors live there when the pool is `inPages`). */
  pages: readonly number[];
  /** Loaded by a prefetch and not pinned since. */
  prefetched?: boolean;
}

/** Creates the device tier over `pool`. */
export function createSlotManager(p: CreateSlotManagerParameters): SlotManager {
  const log = createLogger({ name: 'lora-slots' });
  const { pool, store, hostCache } = p;
  const retryAfter = p.retryFailedAfterMs ?? DEFAULT_RETRY_FAILED_AFTER_MS;
  const slots: Slot[] = Array.from({ length: pool.slots }, () => ({ id: null, state: 'free', pins: 0, lastUse: 0, pages: [] }));
  const { pages } = p;
  if (pool.inPages && !pages) throw new InternalError('the slot pool keeps adapters in pages of unified memory, but the device tier was given no page pool');
  if (pool.pageGeometry && pages && pool.pageGeometry.pageBytes !== pages.pageBytes) throw new InternalError(`the slot pool's pages are ${pool.pageGeometry.pageBytes} bytes, the page pool's ${pages.pageBytes}`);
  const resident = new Map<AdapterId, number>();
  const loading = new Map<AdapterId, Promise<number>>();
  const failed = createFailureMemory<AdapterId>(retryAfter);
  const prefetchFailed = createFailureMemory<AdapterId>(retryAfter);
  /** Adapters a prefetch is reading into host memory. */
  const warming = new Set<AdapterId>();
  const cancelled = new Set<AdapterId>();
  const listeners: Array<() => void> = [];
  let waiters: Array<() => void> = [];
  let tick = 0;
  const controller = new AbortController();
  const counters = { hits: 0, misses: 0, prefetches: 0, prefetchesUnused: 0, evictions: 0, loads: 0, failures: 0 };
  const perAdapter = new Map<AdapterId, { loads: number; evictions: number }>();
  const countOf = (id: AdapterId) => {
    let c = perAdapter.get(id);
    if (!c) perAdapter.set(id, (c = { loads: 0, evictions: 0 }));
    return c;
  };
  const loadLatency = emptyLatency();
  const uploadLatency = emptyLatency();

  const notify = (): void => {
    for (const listener of listeners) {
      try {
        listener();
      } catch (error) {
        log.error({ err: error }, 'onLoaded listener threw');
      }
    }
  };
  const wake = (): void => {
    const woken = waiters;
    waiters = [];
    for (const w of woken) w();
  };

  /**
   * The position in admission order of the first queued request needing each adapter (the
   * scheduler tells it each step): an adapter is needed sooner the smaller its position, not at all
   * when absent (Infinity).
   */
  let queued = new Map<AdapterId, number>();
  const nextUse = (id: AdapterId): number => queued.get(id) ?? Number.POSITIVE_INFINITY;

  /** Evicts one idle adapter a taker at queue position `after` may have (`eviction.ts`); false when none may go. */
  const evictOne = (after: number): boolean => {
    const best = evictionVictim(slots, nextUse, after);
    if (best === undefined) return false;
    const old = slots[best].id!;
    resident.delete(old);
    counters.evictions++;
    if (slots[best].prefetched) counters.prefetchesUnused++;
    countOf(old).evictions++;
    log.debug({ adapter: old, slot: best, after, nextUse: nextUse(old) }, 'evicted adapter');
    pool.unload(best);
    freeSlot(best, false);
    return true;
  };

  /** A free slot (evicting an idle adapter a taker at `after` may have if none is), else undefined. */
  const pickSlot = (after: number): number | undefined => {
    for (;;) {
      const free = slots.findIndex((s) => s.state === 'free');
      if (free >= 0) return free;
      if (!evictOne(after)) return undefined;
    }
  };

  /**
   * A slot and the adapter's pages now, for a taker at queue position `after` (default its own
   * adapter's first queued use: evicting nothing needed before it), else undefined; nothing is
   * evicted unless both can be had.
   */
  const reserveNow = (id: AdapterId, need: number, after = nextUse(id)): number | undefined => {
    if (pages && need > 0 && pages.free + pages.reclaimable(after) < need) return undefined;
    const slot = pickSlot(after);
    if (slot === undefined) return undefined;
    const ids = pages && need > 0 ? pages.take('adapter', need, after) : [];
    if (!ids) return undefined;
    slots[slot] = { id, state: 'reserved', pins: 0, lastUse: 0, pages: ids };
    return slot;
  };

  /** {@link reserveNow}, waiting for a slot and pages when they cannot be had. */
  const reserveSlot = async (id: AdapterId, need: number): Promise<number> => {
    let waiting = false;
    try {
      for (;;) {
        const slot = reserveNow(id, need);
        if (slot !== undefined) return slot;
        const signal = controller.signal;
        if (signal.aborted) throw new AbortedError(`Loading adapter ${id}`, signal.reason);
        if (pages && !waiting) {
          waiting = true;
          pages.wanted += need;
        }
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    } finally {
      if (pages && waiting) pages.wanted -= need;
    }
  };

  const freeSlot = (slot: number, notify = true): void => {
    const held = slots[slot].pages;
    slots[slot] = { id: null, state: 'free', pins: 0, lastUse: 0, pages: [] };
    if (held.length > 0) pages?.give('adapter', held);
    if (notify) wake();
  };

  /** Pages of the unified budget an adapter takes at its own rank (as `pages.ts` lays it out; kept while the entry is registered: admission asks every step). */
  const pageCounts = new WeakMap<AdapterEntry, number>();
  const pagesOf = (entry: AdapterEntry): number => {
    if (!pages) return 0;
    let n = pageCounts.get(entry);
    if (n === undefined) pageCounts.set(entry, (n = layoutAdapterPages({ config: store.config, rank: entry.rank, targets: entry.layerTargets, geometry: pool.pageGeometry ?? rowPages(pages.pageBytes) })));
    return n;
  };

  pages?.setReclaimer(
    (need, after) => {
      let freed = 0;
      while (freed < need) {
        const before = pages.free;
        if (!evictOne(after)) break;
        freed += pages.free - before;
      }
    },
    (after) => slots.reduce((n, s) => n + (mayEvict(s, nextUse, after) ? s.pages.length : 0), 0),
  );
  pages?.onFreed(() => wake());

  /** Loads `id`: a prefetch's into the slot and pages it `reserved` (unified memory), else into a slot and pages it reserves, waiting for room. */
  const runLoad = async (id: AdapterId, prefetch: { reserved?: number } | undefined): Promise<number> => {
    const started = performance.now();
    let slot = prefetch?.reserved;
    try {
      const entry = store.get(id);
      if (entry.rank > pool.maxRank) throw new LoraRankUnsupportedError(id, entry.rank, pool.maxRank);
      const need = pagesOf(entry);
      if (pages && need > pages.totalPages) throw new LoraBudgetTooSmallError(id, need * pages.pageBytes, pages.totalPages * pages.pageBytes);
      // Reserved before reading when there is room (what admission counted on stays ours); else read
      // first (a broken file is reported at once) and wait for room.
      slot ??= reserveNow(id, need);
      const adapter = await hostCache.get(id, controller.signal);
      slot ??= await reserveSlot(id, need);
      const uploadStart = performance.now();
      await pool.load(slot, adapter.weights, adapter.image, slots[slot].pages);
      recordLatency(uploadLatency, performance.now() - uploadStart);
    } catch (error) {
      if (slot !== undefined) freeSlot(slot);
      throw error;
    }
    if (cancelled.delete(id)) {
      pool.unload(slot);
      freeSlot(slot);
      throw new AbortedError(`Loading adapter ${id}`);
    }
    slots[slot] = { id, state: 'resident', pins: 0, lastUse: ++tick, pages: slots[slot].pages, prefetched: prefetch !== undefined || undefined };
    resident.set(id, slot);
    counters.loads++;
    countOf(id).loads++;
    recordLatency(loadLatency, performance.now() - started);
    log.debug({ adapter: id, slot, ms: performance.now() - started }, 'adapter resident');
    return slot;
  };

  /** Starts loading `id` (a prefetch's: into `reserved`, or split memory's, waiting for a slot); a load in flight is shared. */
  const startLoad = (id: AdapterId, prefetch?: { reserved?: number }): Promise<number> => {
    const existing = loading.get(id);
    if (existing) return existing;
    counters.misses++;
    if (prefetch) counters.prefetches++;
    failed.forget(id);
    const promise = runLoad(id, prefetch).then(
      (slot) => {
        loading.delete(id);
        prefetchFailed.forget(id);
        notify();
        return slot;
      },
      (error: unknown) => {
        loading.delete(id);
        cancelled.delete(id);
        if (!(error instanceof AbortedError)) {
          counters.failures++;
          (prefetch ? prefetchFailed : failed).remember(id, error);
          log.warn({ adapter: id, err: error, prefetch: prefetch !== undefined }, 'adapter load failed');
        }
        notify();
        throw error;
      },
    );
    promise.catch(() => {}); // reported through acquire/onLoaded; callers of load() get it too
    loading.set(id, promise);
    return promise;
  };

  /** The id of a registered adapter, or the error to report. */
  const lookup = (idOrName: string): { id: AdapterId } | { error: unknown } => {
    if (pool.slots === 0) return { error: new LoraDisabledError() };
    try {
      return { id: store.get(idOrName).id };
    } catch (error) {
      return { error };
    }
  };

  /**
   * Unified memory's prefetch: reads the adapter into host memory first (nothing held on the
   * device meanwhile; listeners are told when it is there), then, when its pages fit `room`,
   * reserves a slot and them from free pages and idle adapters no queued request needs, and writes it.
   */
  const prefetchIntoPages = (id: AdapterId, room: number): void => {
    if (!hostCache.has(id)) {
      if (warming.has(id)) return;
      warming.add(id);
      hostCache.get(id, controller.signal).then(
        () => {
          // Too large for the host cache (or none): nothing to read ahead; not read again each step.
          if (!hostCache.has(id)) prefetchFailed.remember(id, new Error('the host cache does not keep it'));
        },
        (error: unknown) => {
          if (controller.signal.aborted) return;
          counters.failures++;
          prefetchFailed.remember(id, error);
          log.warn({ adapter: id, err: error }, 'prefetch: reading the adapter failed');
        },
      ).finally(() => {
        warming.delete(id);
        notify();
      });
      return;
    }
    const entry = store.get(id);
    const need = pagesOf(entry);
    if (entry.rank > pool.maxRank || need > room) return; // an acquire reports a rank too large
    const slot = reserveNow(id, need, Number.POSITIVE_INFINITY);
    if (slot !== undefined) void startLoad(id, { reserved: slot });
  };

  return {
    acquire(adapterId) {
      const found = lookup(adapterId);
      if ('error' in found) return found;
      const { id } = found;
      const slot = resident.get(id);
      if (slot !== undefined) {
        counters.hits++;
        slots[slot].pins++;
        slots[slot].prefetched = undefined;
        slots[slot].lastUse = ++tick;
        return { slot };
      }
      const error = failed.recent(id);
      if (error !== undefined) return { error };
      void startLoad(id);
      return { pending: true };
    },
    prefetch(adapterId, room) {
      const found = lookup(adapterId);
      if ('error' in found) return;
      const { id } = found;
      if (resident.has(id) || loading.has(id) || failed.recent(id) !== undefined || prefetchFailed.recent(id) !== undefined) return;
      if (pages) prefetchIntoPages(id, room ?? 0);
      else void startLoad(id, {});
    },
    release(adapterId) {
      const entry = store.resolve(adapterId);
      const slot = entry ? resident.get(entry.id) : undefined;
      if (slot === undefined || slots[slot].pins === 0) {
        log.warn({ adapter: adapterId }, 'release of an adapter that is not pinned');
        return;
      }
      if (--slots[slot].pins === 0) wake();
    },
    onLoaded(listener) {
      listeners.push(listener);
    },
    queued(firstNeeded) {
      const next = new Map<AdapterId, number>();
      for (const [a, position] of firstNeeded) {
        const entry = store.resolve(a);
        if (entry) next.set(entry.id, Math.min(position, next.get(entry.id) ?? position));
      }
      queued = next;
      wake(); // a waiting load may evict what the queue no longer needs first
    },
    footprint(adapterId) {
      const entry = pages ? store.resolve(adapterId) : undefined;
      if (!entry) return undefined;
      return { pages: pagesOf(entry), held: slots.some((s) => s.id === entry.id) }; // resident, or loading into a reserved slot
    },
    async load(idOrName, signal) {
      const found = lookup(idOrName);
      if ('error' in found) throw found.error;
      const slot = resident.get(found.id);
      if (slot !== undefined) return slot;
      const promise = startLoad(found.id);
      if (!signal) return promise;
      signal.throwIfAborted();
      return new Promise<number>((resolve, reject) => {
        const onAbort = () => reject(new AbortedError(`Waiting for adapter ${found.id}`, signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    },
    unload(idOrName) {
      const entry = store.get(idOrName);
      const slot = resident.get(entry.id);
      if (slot !== undefined) {
        if (slots[slot].pins > 0) throw new LoraAdapterInUseError(entry.id, slots[slot].pins);
        resident.delete(entry.id);
        pool.unload(slot);
        freeSlot(slot);
      } else if (loading.has(entry.id)) {
        cancelled.add(entry.id);
      }
      failed.forget(entry.id);
      prefetchFailed.forget(entry.id);
      hostCache.delete(entry.id);
    },
    slotOf(idOrName) {
      const entry = store.resolve(idOrName);
      return entry ? resident.get(entry.id) : undefined;
    },
    adapterCounts: () => perAdapter,
    list() {
      const out: SlotAdapterInfo[] = [];
      for (const [id, slot] of resident) out.push({ id, name: store.resolve(id)?.name, state: 'resident', slot, pins: slots[slot].pins });
      for (const id of loading.keys()) out.push({ id, name: store.resolve(id)?.name, state: 'loading', pins: 0 });
      for (const [id, error] of failed.entries()) if (!loading.has(id)) out.push({ id, name: store.resolve(id)?.name, state: 'failed', pins: 0, error });
      return out;
    },
    stats() {
      return {
        slots: slots.length,
        resident: resident.size,
        pinned: slots.filter((s) => s.pins > 0).length,
        loading: loading.size,
        ...counters,
        load: { ...loadLatency },
        upload: { ...uploadLatency },
        host: hostCache.stats(),
      };
    },
    stop() {
      controller.abort();
      const woken = waiters;
      waiters = [];
      for (const w of woken) w();
    },
  };
}
