/**
 * Unified memory: KV blocks and adapter weights on one page budget (S-LoRA), through the real slot
 * manager, adapter tiers and scheduler on the CPU backend.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type SamplingParams } from '../../src/engine/backend.ts';
import type { LoadedModel } from '../../src/model/load.ts';
import { BlockAllocator } from '../../src/scheduler/blocks.ts';
import { createPagePool } from '../../src/scheduler/memory.ts';
import { tokens, unifiedEngine, unifiedFixture } from '../fixtures/unifiedEngine.ts';

const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const prompt = (n: number, salt: number) => Array.from({ length: n }, (_, i) => 32 + ((i * 7 + salt * 13) % 90));

let model: LoadedModel;
let adapterDirs: string[] = [];
beforeAll(async () => {
  ({ model, adapterDirs } = await unifiedFixture());
});

/** A node's engine tiers over `pages` (unified) or split slots. */
const engine = (p: { slots: number; kvBlocks: number; pages?: number }) => unifiedEngine({ model, adapterDirs, ...p });

interface TraceRequest {
  adapter: number;
  promptIds: number[];
  maxTokens: number;
  payer?: string;
}

/**
 * Serves `requests` on a split engine (enough KV blocks and a slot per adapter), then on a unified
 * one of `pages` pages: what each gave, and the most pages the unified one held at once.
 */
async function splitThenUnified(requests: TraceRequest[], pages: number) {
  const serve = (e: Awaited<ReturnType<typeof engine>>) => Promise.all(requests.map((r) => tokens(e.scheduler.submit({ promptIds: r.promptIds, maxTokens: r.maxTokens, sampling: GREEDY, adapterId: e.ids[r.adapter], payer: r.payer }))));
  const split = await engine({ slots: 6, kvBlocks: 128 });
  const want = await serve(split);
  await split.scheduler.stop();
  split.backend.destroy();
  const unified = await engine({ slots: 6, kvBlocks: pages, pages });
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, unified.pages!.used('kv') + unified.pages!.used('adapter'))), 1);
  const got = await serve(unified);
  clearInterval(timer);
  return { want, got, peak, unified };
}

describe('one page budget for KV blocks and adapters', () => {
  it('blocks take pages; idle adapters give theirs back on demand; shared blocks return their page once', () => {
    const pool = createPagePool({ totalPages: 10, pageBytes: 1 });
    const idle = pool.take('adapter', 4)!;
    pool.setReclaimer(
      (need) => pool.give('adapter', idle.splice(0, Math.min(need, idle.length))),
      () => idle.length,
    );
    const blocks = new BlockAllocator(32, pool);
    expect(blocks.numFree).toBe(10); // 6 free + 4 an idle adapter holds
    const a = blocks.allocate(8)!; // evicts two pages' worth of adapter
    expect(pool.used('kv')).toBe(8);
    expect(pool.used('adapter')).toBe(2);
    expect(blocks.allocate(3)).toBeUndefined(); // 2 left in the budget, whatever the ids
    blocks.retain(a.slice(0, 2));
    blocks.free(a);
    expect(pool.used('kv')).toBe(2); // the shared two are still held
    blocks.free(a.slice(0, 2));
    expect(pool.used('kv')).toBe(0);
  });

  it('page ids: one id space for KV blocks and adapters, handed out in order, returned ids reused, reclaimed ids go to the taker', () => {
    const run = () => {
      const pool = createPagePool({ totalPages: 12, pageBytes: 1 });
      const blocks = new BlockAllocator(12, pool);
      const log: number[][] = [];
      const kv = blocks.allocate(3)!;
      const adapter = pool.take('adapter', 4)!;
      log.push(kv, adapter);
      expect(kv).toEqual([0, 1, 2]);
      expect(adapter).toEqual([3, 4, 5, 6]);
      for (const id of kv) expect(pool.holder(id)).toBe('kv');
      for (const id of adapter) expect(pool.holder(id)).toBe('adapter');
      const more = blocks.allocate(5)!;
      log.push(more);
      expect(new Set([...kv, ...adapter, ...more]).size).toBe(12); // every id once, across both uses
      expect(blocks.allocate(1)).toBeUndefined(); // nothing free and no reclaimer
      expect(() => pool.give('kv', [adapter[0]])).toThrow(/adapter/); // an adapter's page is not a KV block
      blocks.free([kv[1]]);
      expect(pool.holder(kv[1])).toBeUndefined();
      const reused = pool.take('adapter', 1)!;
      log.push(reused);
      expect(reused).toEqual([kv[1]]); // a returned id is handed out again
      // Reclaim: an idle adapter's pages become the KV blocks of the taker that evicts it.
      pool.setReclaimer(
        () => pool.give('adapter', adapter.splice(0)),
        () => adapter.length,
      );
      const taken = blocks.allocate(2)!;
      log.push(taken);
      expect(taken).toEqual([3, 4]);
      for (const id of taken) expect(pool.holder(id)).toBe('kv');
      expect([5, 6].map((id) => pool.holder(id))).toEqual([undefined, undefined]);
      expect(pool.free).toBe(2);
      expect(pool.used('kv') + pool.used('adapter') + pool.free).toBe(12);
      return log;
    };
    expect(run()).toEqual(run()); // reproducible
  });

  it('requests over many adapters and long prompts complete with the split engine\'s tokens; the budget is never exceeded and is all returned', async () => {
    const requests = adapterDirs.flatMap((_, i) => [
      { adapter: i, promptIds: prompt(20, i), maxTokens: 8 },
      { adapter: i, promptIds: prompt(150, i + 10), maxTokens: 6 },
    ]);
    // 64 pages: an adapter of rank 16 takes 20 of them, so adapters and KV blocks must take turns.
    const { want, got, peak, unified } = await splitThenUnified(requests, 64);
    expect(got).toEqual(want);
    expect(peak).toBeLessThanOrEqual(64);
    expect(unified.pages!.used('kv')).toBe(0);
    expect(unified.slots.stats().evictions).toBeGreaterThan(0);
    const stats = unified.scheduler.stats();
    expect(stats.memory).toMatchObject({ totalPages: 64, kvPages: 0, wantedPages: 0 });
    await unified.scheduler.stop();
    unified.slots.stop();
    unified.backend.destroy();
  });

  it('an adapter a running request pins is never evicted; idle ones go unneeded first, then by next queued use, never one needed ahead of the taker', async () => {
    const e = await engine({ slots: 6, kvBlocks: 64, pages: 40 });
    const [a, b, c] = [e.ids[0], e.ids[1], e.ids[3]]; // ranks 4, 8, 8
    const pagesOf = (id: string) => e.slots.footprint!(id)!.pages;
    expect(e.slots.footprint!(b)).toEqual({ pages: pagesOf(b), held: false });
    for (const id of [a, b, c]) await e.slots.load(id);
    expect(e.slots.footprint!(b)!.held).toBe(true);
    expect(e.slots.acquire(a)).toHaveProperty('slot'); // a running request pins a
    e.slots.queued!(new Map([[c, 0]])); // the first queued request needs c; nobody needs b
    const used = pagesOf(a) + pagesOf(b) + pagesOf(c);
    expect(e.pages!.used('adapter')).toBe(used);
    const blocks = new BlockAllocator(64, e.pages);
    const free = 40 - used;
    expect(blocks.available(5)).toBe(free + pagesOf(b)); // a request at position 5 may not take c
    expect(blocks.available(-1)).toBe(free + pagesOf(b) + pagesOf(c)); // a running sequence may
    expect(blocks.numFree).toBe(free + pagesOf(b));
    // The request at position 5 takes b's pages (unneeded), not c's, never a's.
    expect(blocks.allocate(free + 1, 5)).toBeDefined();
    expect([e.slots.slotOf(a), e.slots.slotOf(b), e.slots.slotOf(c)].map((x) => x !== undefined)).toEqual([true, false, true]);
    expect(blocks.allocate(pagesOf(b), 5)).toBeUndefined(); // c is needed ahead of it: nothing taken
    expect(e.slots.slotOf(c)).toBeDefined();
    expect(blocks.allocate(pagesOf(b))).toBeDefined(); // a running sequence's decode may evict c
    expect(e.slots.slotOf(c)).toBeUndefined();
    expect(blocks.allocate(e.pages!.free + 1)).toBeUndefined(); // a is pinned
    expect(e.slots.slotOf(a)).toBeDefined();
    expect(e.slots.stats().evictions).toBe(2);
    e.slots.stop();
    e.backend.destroy();
  });

  it('refuses at once a request whose KV blocks and adapter can never fit in the budget together', async () => {
    const e = await engine({ slots: 6, kvBlocks: 64, pages: 40 });
    const adapterPages = e.slots.footprint!(e.ids[2])!.pages; // rank 16
    const promptIds = prompt((40 - adapterPages) * 16 - 7, 1); // fits alone, not beside the adapter
    expect(() => e.scheduler.submit({ promptIds, maxTokens: 8, sampling: GREEDY, adapterId: e.ids[2] })).toThrow(
      expect.objectContaining({ code: 'OPENLORA_SCHEDULER_REQUEST_TOO_LARGE', message: expect.stringContaining(`beside its adapter (${adapterPages} pages)`) }),
    );
    expect((await tokens(e.scheduler.submit({ promptIds, maxTokens: 7, sampling: GREEDY }))).length).toBe(7);
    await e.scheduler.stop();
    e.slots.stop();
    e.backend.destroy();
  });

  it('many adapters and long prompts under a budget that holds one long request and one adapter at a time: every request finishes with the split engine\'s tokens, without thrashing loads', async () => {
    // Requests alternate adapters (so the queue needs every adapter all the time) and lengths, from
    // three payers (fair admission reorders the queue as they are served).
    const requests = Array.from({ length: 24 }, (_, i) => ({ adapter: i % adapterDirs.length, promptIds: prompt(i % 2 === 0 ? 150 : 20, i), maxTokens: 6, payer: `payer-${i % 3}` }));
    // 32 pages: a rank-16 adapter (20) and a 156-position request (10) fill it.
    const { want, got, peak, unified } = await splitThenUnified(requests, 32);
    expect(got).toEqual(want);
    expect(peak).toBeLessThanOrEqual(32);
    const loads = unified.slots.stats().loads;
    expect(loads).toBeGreaterThan(adapterDirs.length); // the budget forced adapters out and back
    expect(loads).toBeLessThanOrEqual(requests.length); // at most one load per request: none loaded twice for it
    expect(unified.scheduler.stats().memory).toMatchObject({ kvPages: 0, wantedPages: 0 });
    await unified.scheduler.stop();
    unified.slots.stop();
    unified.backend.destroy();
  });
});
