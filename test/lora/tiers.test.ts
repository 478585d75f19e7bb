import { zeroHash } from 'viem';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCpuLoraPool } from '../../src/engine/reference/lora.ts';
import { createAdapter } from '../../src/lora/create.ts';
import { createHostCache } from '../../src/lora/hostCache.ts';
import type { AdapterId } from '../../src/lora/id.ts';
import { createSlotManager } from '../../src/lora/slots.ts';
import { kvBlockBytes } from '../../src/engine/backend.ts';
import { createPagePool } from '../../src/scheduler/memory.ts';
import { createAdapterStore } from '../../src/lora/store.ts';
import { tempDir, tinyConfig, tinyF16Layout, tinyModel } from './helpers.ts';

let root: string;
let model: string;
/** Five adapters: ranks 4, 8, 4, 16, 8 (mixed). */
const dirs: string[] = [];

beforeAll(async () => {
  root = await tempDir();
  model = await tinyModel(root);
  const ranks = [4, 8, 4, 16, 8];
  for (let i = 0; i < ranks.length; i++) {
    const out = join(root, 'store', `a${i}`);
    await createAdapter({ model, rank: ranks[i], seed: 100 + i, out, targets: i % 2 ? ['q_proj', 'v_proj'] : undefined });
    dirs.push(out);
  }
});

async function setup(p: { slots: number; hostBytes?: number; pages?: number }) {
  const store = createAdapterStore({ dir: join(root, 'store'), config: tinyConfig, maxRank: 16 });
  const { registered, failed } = await store.scan();
  expect(failed).toEqual([]);
  const ids = dirs.map((d) => registered.find((e) => e.dir === d)!.id);
  const hostCache = createHostCache({ budgetBytes: p.hostBytes, load: (id, signal) => store.load(id, signal) });
  const pool = createCpuLoraPool({ config: tinyConfig, slots: p.slots, maxRank: 16 });
  const pages = p.pages === undefined ? undefined : createPagePool({ totalPages: p.pages, pageBytes: kvBlockBytes(tinyConfig) });
  const slots = createSlotManager({ pool, store, hostCache, retryFailedAfterMs: 60_000, pages });
  const loaded = () => new Promise<void>((resolve) => slots.onLoaded(resolve));
  /** Acquires, waiting for the background load. */
  const acquire = async (id: string): Promise<number> => {
    for (;;) {
      const r = slots.acquire(id);
      if ('slot' in r) return r.slot;
      if ('error' in r) throw r.error;
      await loaded();
    }
  };
  return { store, ids, hostCache, pool, slots, acquire, loaded, pages };
}

describe('adapter store', () => {
  it('registers by scan and by path; resolves ids and names; refuses changed content', async () => {
    const { store, ids } = await setup({ slots: 1 });
    expect(store.list()).toHaveLength(5);
    expect(store.get('a3').id).toBe(ids[3]);
    expect(store.get(ids[3].toUpperCase().replace('0X', '0x')).name).toBe('a3');
    expect(() => store.get('nope')).toThrow(/not registered/);
    const copy = join(root, 'elsewhere');
    const again = await createAdapter({ model, rank: 4, seed: 100, out: copy });
    expect(again.id).toBe(ids[0]); // same content, same id
    expect((await store.register({ path: copy })).name).toBe('a0');
    await expect(store.register({ path: dirs[1], name: 'a0' })).rejects.toMatchObject({ code: 'OPENLORA_LORA_NAME_CONFLICT' });
    const other = createAdapterStore({ dir: join(root, 'none'), config: tinyConfig });
    const entry = await other.register({ path: copy, name: 'mine' });
    await createAdapter({ model, rank: 4, seed: 999, out: copy }); // overwrite the files
    await expect(other.load(entry.id)).rejects.toMatchObject({ code: 'OPENLORA_LORA_CONTENT_CHANGED' });
    expect(other.unregister('mine')).toBe(true);
    expect(other.list()).toEqual([]);
  });

  it('registers through the slot layout it loads with: the entry is charged what a load of it is', async () => {
    const slotImage = tinyF16Layout(16);
    const packed = createAdapterStore({ dir: join(root, 'store'), config: tinyConfig, maxRank: 16, slotImage });
    const entry = await packed.register({ path: dirs[3] });
    const loaded = await packed.load(entry.id);
    expect(loaded.weightsFromImage).toBe(true); // the f16 image is its one copy
    expect(entry.bytes).toBe(loaded.meta.bytes);
    expect(entry.bytes).toBe(loaded.image!.bytes.byteLength);
  });
});

describe('host cache', () => {
  it('evicts least recently used entries to stay under the byte budget', async () => {
    const { ids, hostCache, store } = await setup({ slots: 1, hostBytes: 0 });
    const sizes = ids.map((id) => store.get(id).bytes);
    // Budget for adapters 0 + 1 + 2 exactly.
    const cache = createHostCache({ budgetBytes: sizes[0] + sizes[1] + sizes[2], load: (id) => store.load(id) });
    for (const i of [0, 1, 2]) await cache.get(ids[i]);
    await cache.get(ids[0]); // 0 becomes most recent: order 1, 2, 0
    expect(cache.ids()).toEqual([ids[1], ids[2], ids[0]]);
    await cache.get(ids[3]); // rank 16 all-target... evicts from the LRU end until it fits
    const kept = cache.ids();
    expect(kept[kept.length - 1]).toBe(ids[3]);
    expect(kept).not.toContain(ids[1]);
    expect(cache.stats().bytes).toBeLessThanOrEqual(sizes[0] + sizes[1] + sizes[2]);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 4 });
    expect(cache.stats().evictions).toBeGreaterThanOrEqual(1);
    // Concurrent misses share one load; an adapter over the whole budget is returned, not kept.
    const [x, y] = await Promise.all([cache.get(ids[4]), cache.get(ids[4])]);
    expect(x).toBe(y);
    await hostCache.get(ids[0]);
    expect(hostCache.ids()).toEqual([]);
  });
});

describe('slot manager', () => {
  it('loads in the background, pins, evicts LRU unpinned slots only, and reloads identical weights', async () => {
    const { ids, pool, slots, acquire, store } = await setup({ slots: 2 });
    expect(slots.acquire(ids[0])).toEqual({ pending: true }); // never blocks the caller
    const s0 = await acquire(ids[0]);
    const first = pool.get(s0)!;
    const s1 = await acquire(ids[1]);
    slots.release(ids[1]); // 1 unpinned; 0 still pinned
    await acquire(ids[2]); // must evict 1, never pinned 0
    expect(slots.slotOf(ids[0])).toBe(s0);
    expect(slots.slotOf(ids[1])).toBeUndefined();
    expect(slots.slotOf(ids[2])).toBe(s1);
    slots.release(ids[2]);
    // 0 is pinned and used least recently; 2 is unpinned: loading 3 evicts 2.
    await acquire(ids[3]);
    expect(slots.slotOf(ids[0])).toBe(s0);
    expect(slots.slotOf(ids[2])).toBeUndefined();
    slots.release(ids[3]);
    slots.release(ids[0]);
    // Evict 0 (LRU now), then reload it: identical weights.
    await acquire(ids[4]);
    await acquire(ids[1]);
    expect(slots.slotOf(ids[0])).toBeUndefined();
    slots.release(ids[4]);
    slots.release(ids[1]);
    const again = await acquire(ids[0]);
    expect(pool.get(again)).toEqual(first);
    expect(pool.get(again)!.rank).toBe(store.get(ids[0]).rank);
    const stats = slots.stats();
    expect(stats).toMatchObject({ slots: 2, resident: 2, pinned: 1, failures: 0 });
    expect(stats.evictions).toBeGreaterThanOrEqual(4);
    expect(stats.load.count).toBe(stats.loads);
    expect(stats.host.hits).toBeGreaterThanOrEqual(1); // the reload came from host memory
  });

  it('waits for a release when every slot is pinned', async () => {
    const { ids, slots, acquire } = await setup({ slots: 1 });
    await acquire(ids[0]);
    expect(slots.acquire(ids[1])).toEqual({ pending: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(slots.acquire(ids[1])).toEqual({ pending: true }); // still waiting: 0 is pinned
    expect(slots.slotOf(ids[0])).toBe(0);
    expect(() => slots.unload(ids[0])).toThrow(/in use/);
    const loaded = new Promise<void>((resolve) => slots.onLoaded(resolve));
    slots.release(ids[0]);
    await loaded;
    expect(slots.acquire(ids[1])).toEqual({ slot: 0 });
    expect(slots.slotOf(ids[0])).toBeUndefined();
  });

  it('reports a failing load to its requesters and keeps other adapters serving', async () => {
    const { ids, slots, acquire, pool, store } = await setup({ slots: 2 });
    const s0 = await acquire(ids[0]);
    const broken = join(root, 'broken');
    await createAdapter({ model, rank: 4, seed: 7, out: broken });
    const entry = await store.register({ path: broken });
    await truncate(join(broken, 'adapter_model.safetensors'), 1000); // corrupted after registration
    expect(slots.acquire(entry.id)).toEqual({ pending: true });
    await new Promise<void>((resolve) => slots.onLoaded(resolve));
    const result = slots.acquire(entry.id);
    expect('error' in result && (result.error as { code: string }).code).toBe('OPENLORA_LORA_FILE_INVALID');
    expect(slots.list().find((a) => a.id === entry.id)?.state).toBe('failed');
    // Others keep serving: the resident one is still there, a new one still loads.
    expect(slots.acquire(ids[0])).toEqual({ slot: s0 });
    await acquire(ids[1]);
    expect(pool.get(s0)!.rank).toBe(4);
    expect(slots.stats().failures).toBe(1);
    // Unknown ids fail at once; explicit loads reject with the error.
    expect(slots.acquire(zeroHash)).toMatchObject({ error: { code: 'OPENLORA_LORA_ADAPTER_NOT_FOUND' } });
    await writeFile(join(broken, 'adapter_model.safetensors'), 'garbage');
    slots.unload(entry.id); // forgets the failure; the next load retries and fails again
    await expect(slots.load(entry.id)).rejects.toMatchObject({ code: 'OPENLORA_LORA_FILE_INVALID' });
  });

  it('loads and unloads at run time', async () => {
    const { ids, slots, pool } = await setup({ slots: 2 });
    const slot = await slots.load('a3');
    expect(pool.get(slot)!.rank).toBe(16);
    expect(slots.list()).toEqual([{ id: ids[3] as AdapterId, name: 'a3', state: 'resident', slot, pins: 0 }]);
    slots.unload('a3');
    expect(pool.get(slot)).toBeUndefined();
    expect(slots.list()).toEqual([]);
    const controller = new AbortController();
    controller.abort();
    await expect(slots.load('a2', controller.signal)).rejects.toThrow();
  });
});

describe('slot manager: prefetch', () => {
  it('unified memory: reads into host memory first, takes pages only within its room, and a prefetched adapter is an idle one', async () => {
    const { ids, slots, hostCache, loaded, pages } = await setup({ slots: 4, pages: 64 });
    const need = slots.footprint!(ids[3])!.pages; // rank 16
    slots.prefetch(ids[3], 64); // not in host memory: read it, hold nothing on the device
    expect(slots.footprint!(ids[3])!.held).toBe(false);
    await loaded();
    expect(hostCache.has(ids[3])).toBe(true);
    expect([slots.slotOf(ids[3]), pages!.used('adapter')]).toEqual([undefined, 0]);
    slots.prefetch(ids[3], need - 1); // no room: nothing taken
    expect([slots.footprint!(ids[3])!.held, pages!.used('adapter')]).toEqual([false, 0]);
    slots.prefetch(ids[3], need); // room: its pages are reserved at once
    expect([slots.footprint!(ids[3])!.held, pages!.used('adapter')]).toEqual([true, need]);
    await loaded();
    expect(slots.slotOf(ids[3])).toBeDefined();
    expect(slots.stats()).toMatchObject({ prefetches: 1, prefetchesUnused: 0, loads: 1 });
    // Evicted before any request pinned it: counted unused. Prefetched again, then pinned: a hit.
    slots.queued!(new Map());
    expect(pages!.take('kv', 64)).toBeDefined();
    expect(slots.stats()).toMatchObject({ evictions: 1, prefetchesUnused: 1 });
    pages!.give('kv', Array.from({ length: 64 }, (_, i) => i));
    slots.prefetch(ids[3], need);
    await loaded();
    expect(slots.acquire(ids[3])).toHaveProperty('slot');
    slots.release(ids[3]);
    expect(pages!.take('kv', 64)).toBeDefined(); // evicted again, but it was used
    expect(slots.stats()).toMatchObject({ prefetches: 2, prefetchesUnused: 1, evictions: 2 });
  });

  it('unified memory: an adapter the host cache does not keep is read once, not again at every prefetch', async () => {
    const { ids, slots, hostCache, loaded, acquire } = await setup({ slots: 2, pages: 64, hostBytes: 0 });
    slots.prefetch(ids[1], 64);
    await loaded();
    slots.prefetch(ids[1], 64);
    expect(hostCache.stats().misses).toBe(1);
    expect(slots.stats()).toMatchObject({ prefetches: 0, failures: 0 });
    await acquire(ids[1]); // loads as without prefetch
  });

  for (const mode of ['split', 'unified'] as const) {
    it(`${mode} memory: a prefetch whose load fails does not fail the later acquire, which loads the adapter itself`, async () => {
      const { slots, store, acquire, loaded, pages, pool } = await setup({ slots: 2, pages: mode === 'unified' ? 64 : undefined });
      const dir = join(root, `flaky-${mode}`);
      await createAdapter({ model, rank: 4, seed: 11, out: dir });
      const entry = await store.register({ path: dir });
      const weights = join(dir, 'adapter_model.safetensors');
      const good = await readFile(weights);
      await truncate(weights, 1000); // unreadable while the prefetch reads it
      slots.prefetch(entry.id, 64);
      await loaded();
      expect(slots.stats()).toMatchObject({ failures: 1, loads: 0 });
      expect(slots.list().find((a) => a.id === entry.id)).toBeUndefined(); // not reported as failed
      const misses = slots.stats().misses;
      slots.prefetch(entry.id, 64); // a failed prefetch is not retried at once
      expect(slots.stats().misses).toBe(misses);
      expect(pages?.used('adapter') ?? 0).toBe(0);
      await writeFile(weights, good); // readable again
      const slot = await acquire(entry.id);
      expect(pool.get(slot)!.rank).toBe(4);
      expect(slots.stats()).toMatchObject({ failures: 1, loads: 1 });
      // Broken for good: the acquire's own load reports it.
      slots.release(entry.id);
      slots.unload(entry.id);
      await truncate(weights, 1000);
      slots.prefetch(entry.id, 64); // forgotten by unload: tried again
      await loaded();
      expect(slots.acquire(entry.id)).toEqual({ pending: true });
      await loaded();
      expect(slots.acquire(entry.id)).toMatchObject({ error: { code: 'OPENLORA_LORA_FILE_INVALID' } });
      expect(slots.stats().failures).toBe(3);
    });
  }
});
