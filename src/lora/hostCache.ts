/**
 * Host-memory tier: an LRU cache of parsed adapters under a byte budget (LoRAX's CPU tier).
 * Concurrent misses for one adapter share a single disk load. An entry is charged its
 * `AdapterMeta.bytes`, plus the f32 weights decoded from its slot image once something reads them
 * (`loraSlotImageLazyWeights`: a CPU backend, or a pool of another layout); that growth evicts
 * older entries as an insert does, and an entry that no longer fits the whole budget is dropped.
 *
 * A slot image a loader thread packed lives in a SharedArrayBuffer, which V8 does not count as
 * external memory (that is the point: images the cache keeps alive no longer make it collect), so
 * nothing would make it collect one the cache dropped either. Dropping such an entry therefore
 * allocates an ArrayBuffer of the image's size ({@link reportDroppedImage}), untouched (no memory),
 * held until V8 collects the image (a `FinalizationRegistry`): V8 counts it meanwhile, so a dropped
 * image is collected at the pace it was when images came in ArrayBuffers.
 */
import type { AdapterId } from './id.ts';
import type { PeftAdapter } from './peft.ts';
import { isLoraLazyWeights } from './slotImage.ts';

/** Default host budget: 2 GiB of parsed adapters (f32 weights and their packed slot images, `AdapterMeta.bytes`, plus f32 weights decoded from an image later). */
export const DEFAULT_HOST_CACHE_BYTES = 2 * 2 ** 30;

/** Load-latency counters (milliseconds). */
export interface LatencyStats {
  count: number;
  totalMs: number;
  maxMs: number;
  lastMs: number;
}

/** Counters of the host tier. */
export interface HostCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  /** Loads from disk that failed. */
  failures: number;
  entries: number;
  bytes: number;
  budgetBytes: number;
  /** Disk → host load times. */
  load: LatencyStats;
}

/** The host tier. */
export interface HostCache {
  /** The adapter, from memory or loaded with `load` (and then cached). */
  get(id: AdapterId, signal?: AbortSignal): Promise<PeftAdapter>;
  has(id: AdapterId): boolean;
  /** Drops an entry; true when it was cached. */
  delete(id: AdapterId): boolean;
  /** Cached ids, least recently used first. */
  ids(): AdapterId[];
  stats(): HostCacheStats;
}

/** Parameters of {@link createHostCache}. */
export interface CreateHostCacheParameters {
  /** Bytes of parsed weights kept at most (`AdapterMeta.bytes`); default {@link DEFAULT_HOST_CACHE_BYTES}. */
  budgetBytes?: number;
  /** Reads an adapter from the disk tier. */
  load: (id: AdapterId, signal?: AbortSignal) => Promise<PeftAdapter>;
}

/** Stand-ins of dropped shared images not yet collected (see the file comment). */
const standIns = new Set<ArrayBuffer>();
/** Lets a stand-in go once V8 collected the image it stands for. */
const collected = new FinalizationRegistry<ArrayBuffer>((standIn) => standIns.delete(standIn));

/** Tells V8 that a shared slot image of an entry no longer cached is garbage, until it is collected (see the file comment). */
export function reportDroppedImage(adapter: PeftAdapter): void {
  const buffer = adapter.image?.bytes.buffer;
  if (!(buffer instanceof SharedArrayBuffer)) return;
  const standIn = new ArrayBuffer(buffer.byteLength);
  standIns.add(standIn);
  collected.register(buffer, standIn);
}

/** An empty latency record. */
export function emptyLatency(): LatencyStats {
  return { count: 0, totalMs: 0, maxMs: 0, lastMs: 0 };
}

/** Adds one sample to a latency record. */
export function recordLatency(stats: LatencyStats, ms: number): void {
  stats.count++;
  stats.totalMs += ms;
  stats.lastMs = ms;
  if (ms > stats.maxMs) stats.maxMs = ms;
}

/**
 * Creates the host cache. An adapter larger than the whole budget is returned but not kept.
 * A shared load is not cancelled by one caller's signal; that caller's promise rejects alone.
 */
export function createHostCache(p: CreateHostCacheParameters): HostCache {
  const budget = p.budgetBytes ?? DEFAULT_HOST_CACHE_BYTES;
  const entries = new Map<AdapterId, PeftAdapter>(); // insertion order = LRU order
  /** Bytes each entry is charged (its meta's, plus weights decoded since). */
  const charged = new Map<AdapterId, number>();
  const inflight = new Map<AdapterId, Promise<PeftAdapter>>();
  let bytes = 0;
  const counters = { hits: 0, misses: 0, evictions: 0, failures: 0 };
  const load = emptyLatency();

  const remove = (id: AdapterId): PeftAdapter | undefined => {
    const adapter = entries.get(id);
    if (!adapter) return undefined;
    entries.delete(id);
    bytes -= charged.get(id)!;
    charged.delete(id);
    if (isLoraLazyWeights(adapter.weights)) adapter.weights.onDecoded = undefined;
    reportDroppedImage(adapter);
    return adapter;
  };
  /** Evicts least recently used entries other than `keep` until `size` more bytes fit. */
  const makeRoom = (size: number, keep?: AdapterId): void => {
    for (const oldest of entries.keys()) {
      if (bytes + size <= budget) return;
      if (oldest === keep) continue;
      remove(oldest);
      counters.evictions++;
    }
  };

  const insert = (id: AdapterId, adapter: PeftAdapter): void => {
    const { weights } = adapter;
    const lazy = isLoraLazyWeights(weights) ? weights : undefined;
    const size = adapter.meta.bytes + (lazy?.decodedBytes ?? 0);
    if (size > budget) return;
    makeRoom(size);
    entries.set(id, adapter);
    charged.set(id, size);
    bytes += size;
    if (lazy && lazy.decodedBytes === 0) {
      lazy.onDecoded = (decoded) => {
        lazy.onDecoded = undefined;
        if (entries.get(id) !== adapter) return;
        if (charged.get(id)! + decoded > budget) {
          remove(id); // no longer fits at all: its holder keeps it, the cache does not
          counters.evictions++;
          return;
        }
        makeRoom(decoded, id);
        charged.set(id, charged.get(id)! + decoded);
        bytes += decoded;
      };
    }
  };

  const withSignal = <T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> => {
    if (!signal) return promise;
    signal.throwIfAborted();
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
        (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
      );
    });
  };

  return {
    get(id, signal) {
      const hit = entries.get(id);
      if (hit) {
        counters.hits++;
        entries.delete(id);
        entries.set(id, hit);
        return Promise.resolve(hit);
      }
      counters.misses++;
      let pending = inflight.get(id);
      if (!pending) {
        const started = performance.now();
        pending = p.load(id).then(
          (adapter) => {
            inflight.delete(id);
            recordLatency(load, performance.now() - started);
            insert(id, adapter);
            return adapter;
          },
          (error: unknown) => {
            inflight.delete(id);
            counters.failures++;
            throw error;
          },
        );
        inflight.set(id, pending);
      }
      return withSignal(pending, signal);
    },
    has: (id) => entries.has(id),
    delete: (id) => remove(id) !== undefined,
    ids: () => [...entries.keys()],
    stats: () => ({ ...counters, entries: entries.size, bytes, budgetBytes: budget, load: { ...load } }),
  };
}
