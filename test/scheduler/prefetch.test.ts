/**
 * Adapter prefetch (`src/scheduler/prefetch.ts`): the room it is given, in admission order; and,
 * through the real slot manager and scheduler on the CPU backend with unified memory, that a
 * queued request's adapter is loaded before its admission, that a prefetched adapter is evicted
 * before a running sequence is preempted, and that nothing is prefetched below the headroom.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { SamplingParams } from '../../src/engine/backend.ts';
import type { LoadedModel } from '../../src/model/load.ts';
import { createPagePool } from '../../src/scheduler/memory.ts';
import { checkPrefetchOptions, keptFromPrefetch, prefetchAdapters } from '../../src/scheduler/prefetch.ts';
import { createScheduler } from '../../src/scheduler/scheduler.ts';
import type { AdapterResidency, GenerationEvent } from '../../src/scheduler/types.ts';
import { hold, request, schedulerState } from '../fixtures/sequences.ts';
import { tokens, unifiedEngine, unifiedFixture } from '../fixtures/unifiedEngine.ts';

const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const prompt = (n: number, salt: number) => Array.from({ length: n }, (_, i) => 32 + ((i * 5 + salt * 11) % 90));

/** An adapter tier that records prefetches; `pages` per adapter, `held` those resident or loading (a prefetch of one with room takes its pages from `pool`). */
function recordingTier(p: { pages: Record<string, number>; held?: string[]; pool?: ReturnType<typeof createPagePool> }) {
  const held = new Set(p.held);
  const calls: [string, number | undefined][] = [];
  const tier: AdapterResidency = {
    acquire: () => ({ pending: true }),
    prefetch(id, room) {
      calls.push([id, room]);
      if (p.pool && room !== undefined && room >= p.pages[id] && p.pool.take('adapter', p.pages[id])) held.add(id);
    },
    release: () => undefined,
    onLoaded: () => undefined,
    footprint: (id) => ({ pages: p.pages[id], held: held.has(id) }),
  };
  return { tier, calls };
}

describe('prefetch: what it is given', () => {
  it('split memory: the adapters of the first `depth` queued requests, in admission order (vtc: the payer served least first)', () => {
    const s = schedulerState(64);
    const heavy = request('heavy', 0, { adapterId: 'h' })[0];
    const light = request('light', 1, { adapterId: 'l' })[0];
    const base = request('light', 2)[0]; // no adapter
    const last = request('light', 3, { adapterId: 'z' })[0];
    for (const seq of [heavy, light, base, last]) s.payers.enter(seq.group.payer);
    s.payers.charge('heavy', 100, 0);
    s.queues.waiting.push(heavy, light, base, last);
    s.queues.waiting.sort(s.admitsBefore);
    const { tier, calls } = recordingTier({ pages: {} });
    prefetchAdapters({ queues: s.queues, adapters: tier, depth: 3, headroom: 0.05 });
    expect(calls).toEqual([['l', undefined], ['z', undefined]]); // heavy's is fourth in vtc's order
  });

  it('unified memory: free and reclaimable pages, less the headroom, the running sequences\' next blocks and what the requests ahead take', () => {
    const s = schedulerState(100);
    const pool = createPagePool({ totalPages: 100, pageBytes: 1 });
    const blocks = s.blocks;
    // One running sequence mid-prompt (48 tokens, 1 block computed: 2 more to go), one decoding at a block's end (1 more).
    const prefilling = hold(blocks, request('p', 0, { promptLength: 48 })[0], 1, 'running');
    const decoding = hold(blocks, request('p', 1, { promptLength: 16 })[0], 1, 'running');
    decoding.tokens = [...decoding.tokens, 99];
    s.queues.running.push(prefilling, decoding);
    pool.take('kv', 2); // the running sequences' blocks, as the scheduler's allocator would hold them in the budget
    const queued = [request('p', 2, { adapterId: 'a', promptLength: 40 })[0], request('p', 3, { adapterId: 'b', promptLength: 16 })[0], request('p', 4, { adapterId: 'c', promptLength: 16 })[0]];
    s.queues.waiting.push(...queued);
    const { tier, calls } = recordingTier({ pages: { a: 30, b: 50, c: 5 }, pool });
    expect(keptFromPrefetch({ queues: s.queues, headroom: 0.1, pages: pool })).toBe(10 + 2 + 1);
    prefetchAdapters({ queues: s.queues, adapters: tier, pages: pool, depth: 8, headroom: 0.1 });
    // a: 98 free - 13 kept = 85, it takes 30. b: 68 - 13 - a's 3 KV blocks = 52, it takes 50. c: 18 - 13 - 3 - 1 = 1 < 5.
    expect(calls).toEqual([['a', 85], ['b', 52], ['c', 1]]);
    expect(pool.used('adapter')).toBe(80);
  });

  it('refuses a depth or headroom out of range, naming the option and the value', () => {
    expect(() => checkPrefetchOptions({ depth: -1, headroom: 0 })).toThrow(/prefetchDepth is -1; it must be a whole number/);
    expect(() => checkPrefetchOptions({ depth: 8, headroom: 1.5 })).toThrow(expect.objectContaining({ code: 'OPENLORA_SCHEDULER_OPTION_INVALID', message: expect.stringContaining('prefetchHeadroom is 1.5') }));
    expect(() => checkPrefetchOptions({ depth: 8, headroom: Number.NaN })).toThrow(/prefetchHeadroom is NaN/);
    const backend = { config: { maxPositionEmbeddings: 64 }, numKvBlocks: 4 } as unknown as Parameters<typeof createScheduler>[1]['backend'];
    expect(() => createScheduler({ prefetchHeadroom: 2 }, { backend })).toThrow(/prefetchHeadroom is 2/);
  });
});

let model: LoadedModel;
let adapterDirs: string[] = [];
beforeAll(async () => {
  ({ model, adapterDirs } = await unifiedFixture());
});

/** Waits for `stream`'s first token (its request is running); `rest`: all its tokens. */
async function running(stream: AsyncIterable<GenerationEvent>): Promise<{ rest: Promise<number[]> }> {
  const events = stream[Symbol.asyncIterator]();
  const out: number[] = [];
  const next = async (): Promise<boolean> => {
    const r = await events.next();
    if (!r.done && r.value.type === 'token') out.push(r.value.token);
    return !r.done;
  };
  while (out.length === 0 && (await next()));
  const rest = (async () => {
    while (await next());
    return out;
  })();
  return { rest };
}

/** A unified engine of `pages` pages whose steps record, each, whether `watch`'s adapter was resident and which adapter slots ran. */
async function watched(p: { pages: number; maxRunning: number; headroom?: number; depth?: number }) {
  const e = await unifiedEngine({ model, adapterDirs, slots: 6, kvBlocks: p.pages, pages: p.pages, scheduler: { maxRunning: p.maxRunning, prefetchHeadroom: p.headroom ?? 0, prefetchDepth: p.depth } });
  const steps: { resident: Map<string, number | undefined>; slots: Set<number> }[] = [];
  const step = e.backend.step.bind(e.backend);
  e.backend.step = (sequences) => {
    steps.push({ resident: new Map(e.ids.map((id) => [id, e.slots.slotOf(id)])), slots: new Set(sequences.map((s) => s.adapterSlot)) });
    return step(sequences);
  };
  /** The first step that ran a row of adapter `id`, and the first at which it was resident. */
  const firsts = (id: string) => ({ ran: steps.findIndex((s) => [...s.slots].some((slot) => slot >= 0 && s.resident.get(id) === slot)), resident: steps.findIndex((s) => s.resident.get(id) !== undefined) });
  return { ...e, steps, firsts };
}

describe('prefetch into unified memory', () => {
  it("loads a queued request's adapter before its admission when pages are free", async () => {
    const e = await watched({ pages: 64, maxRunning: 1 });
    const [a, b] = [e.ids[0], e.ids[1]];
    await e.hostCache.get(b); // in host memory (a prefetch's own read: test/lora/tiers.test.ts), so a prefetch takes pages in the first plan after the queued request arrives
    const first = await running(e.scheduler.submit({ promptIds: prompt(20, 1), maxTokens: 12, sampling: GREEDY, adapterId: a }));
    const queued = e.scheduler.submit({ promptIds: prompt(20, 2), maxTokens: 4, sampling: GREEDY, adapterId: b }); // waits: one running at most
    expect((await Promise.all([first.rest, tokens(queued)])).map((t) => t.length)).toEqual([12, 4]);
    const { ran, resident } = e.firsts(b);
    expect(ran).toBeGreaterThan(0);
    expect(resident).toBeLessThan(ran); // resident while the first request still ran
    expect(e.slots.stats()).toMatchObject({ prefetches: 1, prefetchesUnused: 0, loads: 2, failures: 0 });
    expect(e.scheduler.stats().preemptions).toBe(0);
    await e.stop();
  });

  it('under memory pressure a prefetched adapter is evicted before any running sequence is preempted', async () => {
    // 40 pages: adapter 0 (rank 4) pinned by two running requests that grow to 14 blocks each; the
    // queued request's adapter 2 (rank 16, 20 pages) is prefetched while they are short. Without
    // it the two fit (35 pages beside adapter 0); beside it they do not.
    const e = await watched({ pages: 40, maxRunning: 2 });
    const [a, b] = [e.ids[0], e.ids[2]];
    expect(e.slots.footprint!(a)!.pages + 28).toBeLessThanOrEqual(40);
    expect(e.slots.footprint!(a)!.pages + 28 + e.slots.footprint!(b)!.pages).toBeGreaterThan(40);
    await e.hostCache.get(b);
    const both = await Promise.all([1, 2].map((salt) => running(e.scheduler.submit({ promptIds: prompt(20, salt), maxTokens: 200, sampling: GREEDY, adapterId: a }))));
    const queued = e.scheduler.submit({ promptIds: prompt(20, 3), maxTokens: 4, sampling: GREEDY, adapterId: b });
    const got = await Promise.all([...both.map((r) => r.rest), tokens(queued)]);
    expect(got.map((t) => t.length)).toEqual([200, 200, 4]);
    const { ran, resident } = e.firsts(b);
    expect(resident).toBeLessThan(ran);
    expect(e.steps.slice(resident, ran).some((s) => s.resident.get(b) === undefined)).toBe(true); // evicted in between, reloaded at admission
    expect(e.slots.stats().prefetchesUnused).toBeGreaterThanOrEqual(1);
    expect(e.scheduler.stats().preemptions).toBe(0);
    await e.stop();
    // The same tokens as the running requests alone.
    const alone = await watched({ pages: 40, maxRunning: 2, depth: 0 });
    expect(await Promise.all([1, 2].map((salt) => tokens(alone.scheduler.submit({ promptIds: prompt(20, salt), maxTokens: 200, sampling: GREEDY, adapterId: alone.ids[0] }))))).toEqual(got.slice(0, 2));
    await alone.stop();
  });

  it('prefetches nothing when the free pages are below the headroom', async () => {
    // 64 pages, three quarters kept: 64 - adapter 0's pages - the running request's blocks - 48 leaves less than adapter 2's pages.
    const e = await watched({ pages: 64, maxRunning: 1, headroom: 0.75 });
    const [a, b] = [e.ids[0], e.ids[2]];
    expect(64 - e.slots.footprint!(a)!.pages - 2 - 48).toBeLessThan(e.slots.footprint!(b)!.pages);
    await e.hostCache.get(b);
    const first = await running(e.scheduler.submit({ promptIds: prompt(20, 1), maxTokens: 12, sampling: GREEDY, adapterId: a }));
    const queued = e.scheduler.submit({ promptIds: prompt(20, 2), maxTokens: 4, sampling: GREEDY, adapterId: b });
    await Promise.all([first.rest, tokens(queued)]);
    const { ran, resident } = e.firsts(b);
    expect(resident).toBe(ran); // loaded at admission
    expect(e.slots.stats()).toMatchObject({ prefetches: 0, loads: 2 });
    await e.stop();
  });
});
