/**
 * Disk tier: the adapters this node knows, by content id and by name. Adapters live in the store
 * directory (one subdirectory each, found by {@link AdapterStore.scan}) or anywhere else
 * (registered by path). Registration reads and validates the adapter against the base model once;
 * later loads re-hash the files and refuse content that changed under the same id.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { ModelConfig, Projection } from '../model/config.ts';
import { LoraAdapterNotFoundError, LoraContentChangedError, LoraNameConflictError } from './errors.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, isAdapterId, type AdapterId } from './id.ts';
import { loadPeftAdapter, type PeftAdapter } from './peft.ts';
import type { LoraSlotImageLayout } from './slotImage.ts';
import type { PeftLoader } from './peftLoader.ts';

/** One registered adapter. */
export interface AdapterEntry {
  id: AdapterId;
  /** Human name (directory name unless given); unique in the store. */
  name: string;
  /** Absolute directory. */
  dir: string;
  rank: number;
  alpha: number;
  targets: Projection[];
  /** Per layer, the modules carrying weights (`AdapterMeta.layerTargets`). */
  layerTargets: Projection[][];
  baseModel?: string;
  /** Bytes of the two files on disk. */
  fileBytes: number;
  /** Bytes of the parsed weights in host memory (`AdapterMeta.bytes`: with a slot layout, what the host cache charges for a load). */
  bytes: number;
}

/** The disk tier. */
export interface AdapterStore {
  /** Store directory scanned by {@link AdapterStore.scan}. */
  readonly dir: string;
  /** The base model adapters must fit. */
  readonly config: ModelConfig;
  /** Registers every subdirectory of `dir` holding adapter_config.json; returns the entries it found (invalid ones are reported in `failed`). */
  scan(signal?: AbortSignal): Promise<{ registered: AdapterEntry[]; failed: { dir: string; error: unknown }[] }>;
  /** Validates and registers an adapter directory. Registering the same content again returns its entry. */
  register(p: { path: string; name?: string; signal?: AbortSignal }): Promise<AdapterEntry>;
  /** Forgets an adapter (files stay on disk); true when it was registered. */
  unregister(idOrName: string): boolean;
  /** The entry for an id (0x..., any case) or name, if registered. */
  resolve(idOrName: string): AdapterEntry | undefined;
  /** Like `resolve`, but throws {@link LoraAdapterNotFoundError}. */
  get(idOrName: string): AdapterEntry;
  list(): AdapterEntry[];
  /** Reads a registered adapter from disk, checking its bytes still hash to its id. */
  load(id: AdapterId, signal?: AbortSignal): Promise<PeftAdapter>;
}

/** Parameters of {@link createAdapterStore}. */
export interface CreateAdapterStoreParameters {
  /** Directory of adapters (e.g. `<dataDir>/adapters`). */
  dir: string;
  /** The base model adapters must fit. */
  config: ModelConfig;
  /** Largest rank accepted (the slot pool's). */
  maxRank?: number;
  /** Reads and parses adapters (e.g. on a worker thread: `createPeftLoader`); default on the calling thread. */
  loader?: Pick<PeftLoader, 'load'>;
  /** The device slot layout (`LoraSlotPool.imageLayout`): loads also pack the adapter into it, so a warm switch is a plain copy. */
  slotImage?: LoraSlotImageLayout;
}

/** Creates the disk tier (nothing is read until `scan` or `register`). */
export function createAdapterStore(p: CreateAdapterStoreParameters): AdapterStore {
  const byId = new Map<AdapterId, AdapterEntry>();
  const byName = new Map<string, AdapterId>();
  const load = p.loader?.load ?? loadPeftAdapter;
  const read = (dir: string, signal?: AbortSignal, knownId?: AdapterId, slotImage?: LoraSlotImageLayout) => load({ dir, config: p.config, maxRank: p.maxRank, knownId, slotImage, signal });
  /** Size and nanosecond mtime of both files, taken before they are read and hashed. */
  const fingerprints = new Map<AdapterId, string>();
  const fingerprint = async (dir: string): Promise<string | undefined> => {
    try {
      const stats = await Promise.all([ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE].map((f) => stat(join(dir, f), { bigint: true })));
      return stats.map((s) => `${s.size}:${s.mtimeNs}:${s.ino}`).join('|');
    } catch {
      return undefined;
    }
  };

  const store: AdapterStore = {
    dir: p.dir,
    config: p.config,
    async scan(signal) {
      let names: string[];
      try {
        names = (await readdir(p.dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { registered: [], failed: [] };
        throw error;
      }
      const registered: AdapterEntry[] = [];
      const failed: { dir: string; error: unknown }[] = [];
      for (const name of names) {
        const dir = join(p.dir, name);
        const isAdapter = await stat(join(dir, ADAPTER_CONFIG_FILE)).then(() => true, () => false);
        if (!isAdapter) continue;
        try {
          registered.push(await store.register({ path: dir, name, signal }));
        } catch (error) {
          failed.push({ dir, error });
        }
      }
      return { registered, failed };
    },
    async register({ path, name, signal }) {
      const dir = resolve(path);
      const seen = await fingerprint(dir);
      // Read as a load reads it (packed into the slot layout when there is one): a loader thread then posts a shared image, no
      // f32 arrays, so registering leaves V8 no external memory to collect for (its full GC landed in the first cold load, ~20 ms).
      const { meta } = await read(dir, signal, undefined, p.slotImage);
      if (seen) fingerprints.set(meta.id, seen);
      const entryName = name ?? basename(dir);
      const existing = byName.get(entryName);
      if (existing !== undefined && existing !== meta.id) throw new LoraNameConflictError(entryName, existing, meta.id);
      const known = byId.get(meta.id);
      if (known) return known;
      const entry: AdapterEntry = {
        id: meta.id,
        name: entryName,
        dir,
        rank: meta.rank,
        alpha: meta.alpha,
        targets: meta.targets,
        layerTargets: meta.layerTargets,
        baseModel: meta.baseModel,
        fileBytes: meta.fileBytes,
        bytes: meta.bytes,
      };
      byId.set(meta.id, entry);
      byName.set(entryName, meta.id);
      return entry;
    },
    unregister(idOrName) {
      const entry = store.resolve(idOrName);
      if (!entry) return false;
      byId.delete(entry.id);
      byName.delete(entry.name);
      return true;
    },
    resolve(idOrName) {
      if (isAdapterId(idOrName)) return byId.get(idOrName.toLowerCase() as AdapterId);
      const id = byName.get(idOrName);
      return id === undefined ? undefined : byId.get(id);
    },
    get(idOrName) {
      const entry = store.resolve(idOrName);
      if (!entry) throw new LoraAdapterNotFoundError(idOrName);
      return entry;
    },
    list: () => [...byId.values()],
    async load(id, signal) {
      const entry = store.get(id);
      // Files unchanged since they were hashed (same size, mtime and inode): skip re-hashing, which
      // is most of a cold load. Anything else is re-hashed and must still match the id.
      const seen = await fingerprint(entry.dir);
      const unchanged = seen !== undefined && seen === fingerprints.get(entry.id);
      const adapter = await read(entry.dir, signal, unchanged ? entry.id : undefined, p.slotImage);
      if (adapter.meta.id !== entry.id) throw new LoraContentChangedError(entry.dir, entry.id, adapter.meta.id);
      if (seen) fingerprints.set(entry.id, seen);
      return adapter;
    },
  };
  return store;
}
