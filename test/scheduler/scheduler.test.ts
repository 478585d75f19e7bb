import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, SamplingParams } from '../../src/engine/backend.ts';
import { createCpuBackend } from '../../src/engine/cpu/backend.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import { createScheduler, type SchedulerOptions } from '../../src/scheduler/scheduler.ts';
import { SchedulerRequestTooLargeError } from '../../src/scheduler/errors.ts';
import type { AdapterResidency, GenerationEvent, GenerationRequest } from '../../src/scheduler/types.ts';
import { createTinyModel } from '../fixtures/model.ts';

const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1, seed: 0 };

interface Outcome {
  tokens: number[];
  logprobs: number[];
  done?: Extract<GenerationEvent, { type: 'done' }>;
}

/** The stream's tokens and end; `onToken` is called after each token (a consumer that cancels mid-stream). */
async function collect(stream: AsyncIterable<GenerationEvent>, onToken?: () => void): Promise<Outcome> {
  const out: Outcome = { tokens: [], logprobs: [] };
  for await (const e of stream) {
    if (e.type === 'token') {
      out.tokens.push(e.token);
      out.logprobs.push(e.logprob);
      onToken?.();
    } else out.done = e;
  }
  return out;
}

/** A deterministic PRNG for arrival patterns. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function prompt(n: number, salt: number): number[] {
  return Array.from({ length: n }, (_, i) => 32 + ((i * 7 + salt * 13) % 90));
}

let model: LoadedModel;
let backend: Backend;

beforeAll(async () => {
  model = await loadModel({ dir: await createTinyModel() });
  backend = await createCpuBackend({ model, numKvBlocks: 64 });
});
afterAll(async () => {
  backend?.destroy();
  await model?.close();
});

async function solo(request: GenerationRequest, options: SchedulerOptions = {}): Promise<Outcome> {
  const scheduler = createScheduler(options, { backend });
  const out = await collect(scheduler.submit(request));
  await scheduler.stop();
  return out;
}

/** Each request alone on the shared backend, then all of them together through one scheduler on `on`; the together run's stats, taken before it stops. */
async function aloneThenTogether(requests: GenerationRequest[], options: SchedulerOptions, on: Backend = backend) {
  const alone: Outcome[] = [];
  for (const r of requests) alone.push(await solo(r));
  const scheduler = createScheduler(options, { backend: on });
  const together = await Promise.all(requests.map((r) => collect(scheduler.submit(r))));
  const stats = scheduler.stats();
  await scheduler.stop();
  return { alone, together, stats };
}

describe('continuous batching scheduler (CPU reference backend, tiny model)', () => {
  it('gives each request in a mixed batch exactly the tokens it gets alone', async () => {
    const requests: GenerationRequest[] = [
      { promptIds: prompt(5, 1), maxTokens: 12, sampling: GREEDY },
      { promptIds: prompt(37, 2), maxTokens: 9, sampling: { temperature: 0.8, topK: 20, topP: 0.9, seed: 7 } },
      { promptIds: prompt(18, 3), maxTokens: 14, sampling: { temperature: 1.2, topK: 0, topP: 1, seed: 99 } },
      { promptIds: prompt(2, 4), maxTokens: 6, sampling: GREEDY },
    ];
    const { alone, together, stats } = await aloneThenTogether(requests, { maxBatchTokens: 24 });
    for (let i = 0; i < requests.length; i++) {
      expect(together[i].tokens).toEqual(alone[i].tokens);
      expect(together[i].logprobs.map((x) => x.toFixed(4))).toEqual(alone[i].logprobs.map((x) => x.toFixed(4)));
      expect(together[i].done?.usage).toEqual({ promptTokens: requests[i].promptIds.length, completionTokens: requests[i].maxTokens });
      expect(together[i].done?.finishReason).toBe('length');
    }
    expect(stats.kvBlocksFree).toBe(64);
  });

  it('preempts by recompute when KV blocks run out and still produces the same tokens', async () => {
    const tight = await createCpuBackend({ model, numKvBlocks: 6 });
    const requests = [0, 1, 2].map((i) => ({ promptIds: prompt(20 + i, 10 + i), maxTokens: 40, sampling: { temperature: 0.9, topK: 0, topP: 0.95, seed: 100 + i } }));
    const { alone, together, stats } = await aloneThenTogether(requests, { maxBatchTokens: 64 }, tight);
    expect(stats.preemptions).toBeGreaterThan(0);
    expect(together.map((o) => o.tokens)).toEqual(alone.map((o) => o.tokens));
    expect(together.reduce((n, o) => n + (o.done?.preemptions ?? 0), 0)).toBe(stats.preemptions);
    expect(stats.kvBlocksFree).toBe(6);
  });

  it('two long prompts prefilled in chunks under a pool that holds one of them whole: the second waits for the first instead of being preempted', async () => {
    const tight = await createCpuBackend({ model, numKvBlocks: 16 }); // a 150-token prompt and its 6 tokens take 10 blocks
    const requests = [0, 1].map((i) => ({ promptIds: prompt(150, 30 + i), maxTokens: 6, sampling: GREEDY }));
    const { alone, together, stats } = await aloneThenTogether(requests, { maxBatchTokens: 64 }, tight);
    // Counting only the second's first chunk (3 blocks of the 6 free beside the first's 10) admitted it, and it was preempted when its later chunks found no blocks.
    expect(stats.preemptions).toBe(0);
    expect(together.map((o) => o.tokens)).toEqual(alone.map((o) => o.tokens));
    expect(stats.kvBlocksFree).toBe(16);
  });

  it('under random arrivals and cancellations, every request ends and every block returns', async () => {
    const random = mulberry32(1234);
    const scheduler = createScheduler({ maxBatchTokens: 32, maxRunning: 6 }, { backend });
    const runs: Array<Promise<Outcome & { cancelledAt?: number }>> = [];
    for (let i = 0; i < 24; i++) {
      const controller = new AbortController();
      // Every sixth request is cancelled by its reader at its first token, whatever the machine's
      // speed; others at a random time, which may come after they end.
      const midStream = i % 6 === 5;
      const request: GenerationRequest = { promptIds: prompt(1 + Math.floor(random() * 40), i), maxTokens: midStream ? 16 : 1 + Math.floor(random() * 16), sampling: { ...GREEDY, seed: i }, signal: controller.signal };
      runs.push(collect(scheduler.submit(request), midStream ? () => controller.abort() : undefined));
      if (random() < 0.3) setTimeout(() => controller.abort(), Math.floor(random() * 30));
      if (random() < 0.5) await new Promise((r) => setTimeout(r, Math.floor(random() * 10)));
    }
    const outcomes = await Promise.all(runs);
    const reasons = outcomes.map((o) => o.done?.finishReason);
    expect(reasons.every((r) => r === 'length' || r === 'cancelled')).toBe(true);
    expect(reasons.filter((r) => r === 'cancelled').length).toBeGreaterThan(0);
    for (const o of outcomes) expect(o.done?.usage.completionTokens).toBe(o.tokens.length);
    await new Promise((r) => setTimeout(r, 20));
    expect(scheduler.stats()).toMatchObject({ waiting: 0, running: 0, kvBlocksFree: 64 });
    await scheduler.stop();
  });

  it('frees a cancelled request at once and keeps serving others', async () => {
    const scheduler = createScheduler({}, { backend });
    const controller = new AbortController();
    const long = collect(scheduler.submit({ promptIds: prompt(30, 5), maxTokens: 500, sampling: GREEDY, signal: controller.signal }));
    const short = collect(scheduler.submit({ promptIds: prompt(4, 6), maxTokens: 5, sampling: GREEDY }));
    setTimeout(() => controller.abort(), 50);
    const [a, b] = await Promise.all([long, short]);
    expect(a.done?.finishReason).toBe('cancelled');
    expect(a.tokens.length).toBeLessThan(500);
    expect(b.done?.finishReason).toBe('length');
    expect(scheduler.stats().kvBlocksFree).toBe(64);
    await scheduler.stop();
  });

  it('ends at a stop token, counting it but not emitting it', async () => {
    const first = await solo({ promptIds: prompt(8, 9), maxTokens: 6, sampling: GREEDY });
    const stopAt = first.tokens[3];
    const out = await solo({ promptIds: prompt(8, 9), maxTokens: 6, sampling: GREEDY, stopTokenIds: [stopAt] });
    const index = first.tokens.indexOf(stopAt);
    expect(out.tokens).toEqual(first.tokens.slice(0, index));
    expect(out.done).toMatchObject({ finishReason: 'stop', usage: { completionTokens: index + 1 } });
  });

  it('scores a text teacher-forced, chunked, equal to one direct pass', async () => {
    const ids = prompt(45, 21);
    const out = await solo({ promptIds: ids, kind: 'score', maxTokens: 0, sampling: GREEDY }, { maxBatchTokens: 16 });
    const [direct] = await backend.step([{ tokens: ids, startPos: 0, blockTable: [10, 11, 12], adapterSlot: -1, targets: [...ids.slice(1), 0] }]);
    expect(out.done?.scores?.length).toBe(44);
    for (let i = 0; i < 44; i++) expect(out.done!.scores![i]).toBeCloseTo(direct.targetLogprobs![i], 4);
  });

  it('refuses at once a request that can never fit', () => {
    const scheduler = createScheduler({}, { backend });
    expect(() => scheduler.submit({ promptIds: prompt(2000, 1), maxTokens: 100, sampling: GREEDY })).toThrow(SchedulerRequestTooLargeError);
    expect(() => scheduler.submit({ promptIds: prompt(900, 1), maxTokens: 200, sampling: GREEDY })).toThrow(/KV cache/);
  });

  it('counts the time it sat with requests queued and none it could run (an adapter loading) as stalled', async () => {
    let loaded: (() => void) | undefined;
    let ready = false;
    const adapters: AdapterResidency = {
      acquire: () => (ready ? { error: new Error('gone') } : { pending: true }),
      prefetch: () => undefined,
      release: () => undefined,
      onLoaded: (listener) => void (loaded = listener),
    };
    const scheduler = createScheduler({}, { backend, adapters });
    expect((await collect(scheduler.submit({ promptIds: prompt(8, 1), maxTokens: 2, sampling: GREEDY }))).tokens).toHaveLength(2);
    expect(scheduler.stats().stalledSeconds).toBe(0); // idle with nothing queued is not stalled
    const stream = collect(scheduler.submit({ promptIds: prompt(8, 2), maxTokens: 2, sampling: GREEDY, adapterId: 'cold' }));
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    ready = true;
    loaded!();
    await expect(stream).rejects.toMatchObject({ code: 'OPENLORA_SCHEDULER_ADAPTER_UNAVAILABLE' });
    expect(scheduler.stats().stalledSeconds).toBeGreaterThan(0);
    await scheduler.stop();
  });
});
