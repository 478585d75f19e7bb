/** What the device tier (`slots.ts`) offers and reports. */
import type { LoraSlotPool } from '../engine/backend.ts';
import type { PagePool } from '../scheduler/memory.ts';
import type { AdapterResidency } from '../scheduler/types.ts';
import type { HostCache, HostCacheStats, LatencyStats } from './hostCache.ts';
import type { AdapterId } from './id.ts';
import type { AdapterStore } from './store.ts';

/** One adapter known to the device tier. */
export interface SlotAdapterInfo {
  id: AdapterId;
  name?: string;
  state: 'loading' | 'resident' | 'failed';
  /** Slot index when resident. */
  slot?: number;
  /** Running requests pinning it. */
  pins: number;
  /** The load error when failed. */
  error?: unknown;
}

/** Counters of the device tier (plus the host tier's). */
export interface SlotManagerStats {
  slots: number;
  resident: number;
  pinned: number;
  loading: number;
  /** `acquire` found the adapter resident. */
  hits: number;
  /** Loads started (by `acquire`, `prefetch` or `load`). */
  misses: number;
  /** Loads started by `prefetch`, and of them those evicted before any request pinned them. */
  prefetches: number;
  prefetchesUnused: number;
  evictions: number;
  loads: number;
  failures: number;
  /** Start of a load → resident (disk/host + upload). */
  load: LatencyStats;
  /** `pool.load` (host → device) alone. */
  upload: LatencyStats;
  host: HostCacheStats;
}

/** The device tier. */
export interface SlotManager extends AdapterResidency {
  /** Loads an adapter (id or name) into a slot without pinning; resolves with its slot. */
  load(idOrName: string, signal?: AbortSignal): Promise<number>;
  /** Removes an adapter from its slot and from host memory. Throws {@link LoraAdapterInUseError} when pinned. */
  unload(idOrName: string): void;
  /** Slot of a resident adapter. */
  slotOf(idOrName: string): number | undefined;
  list(): SlotAdapterInfo[];
  stats(): SlotManagerStats;
  /** Loads into and evictions from a slot per adapter (those loaded at least once). */
  adapterCounts(): ReadonlyMap<AdapterId, { loads: number; evictions: number }>;
  /** Cancels waiting loads; idempotent. */
  stop(): void;
}

/** Parameters of {@link createSlotManager}. */
export interface CreateSlotManagerParameters {
  pool: LoraSlotPool;
  store: AdapterStore;
  hostCache: HostCache;
  /** How long a failed load is reported before `acquire` retries it; default {@link DEFAULT_RETRY_FAILED_AFTER_MS}. */
  retryFailedAfterMs?: number;
  /**
   * Unified memory (`src/scheduler/memory.ts`): each resident adapter also holds the pages its
   * weights take at their own rank; idle adapters give them back when KV blocks or another adapter
   * need them, and a load waits while the budget is full.
   */
  pages?: PagePool;
}
