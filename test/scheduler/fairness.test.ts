import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, SamplingParams } from '../../src/engine/backend.ts';
import { createCpuBackend } from '../../src/engine/cpu/backend.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import { SchedulerQueueFullError } from '../../src/scheduler/errors.ts';
import { createPayerLedger } from '../../src/scheduler/fairness.ts';
import { createScheduler } from '../../src/scheduler/scheduler.ts';
import type { GenerationEvent } from '../../src/scheduler/types.ts';
import { createTinyModel } from '../fixtures/model.ts';

const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const prompt = (salt: number) => Array.from({ length: 12 }, (_, i) => 32 + ((i * 5 + salt) % 90));

let backend: Backend;
let model: LoadedModel;
beforeAll(async () => {
  model = await loadModel({ dir: await createTinyModel() });
  backend = await createCpuBackend({ model, numKvBlocks: 64 });
});
afterAll(async () => {
  backend?.destroy();
  await model?.close();
});

async function drain(stream: AsyncIterable<GenerationEvent>): Promise<void> {
  for await (const _ of stream) void _;
}

describe('virtual token counters', () => {
  it('order payers by service received; a payer coming back is lifted to the least active counter', () => {
    const ledger = createPayerLedger({ promptWeight: 1, completionWeight: 2 });
    ledger.enter('a');
    ledger.enter('b');
    ledger.charge('a', 10, 5); // 20
    ledger.charge('b', 4, 0); // 4
    expect(ledger.compare({ payer: 'b', order: 9 }, { payer: 'a', order: 1 })).toBeLessThan(0);
    ledger.enter('c'); // new: lifted to min(active) = 4, so it cannot jump ahead of b with a 0
    expect(ledger.compare({ payer: 'b', order: 1 }, { payer: 'c', order: 2 })).toBeLessThan(0);
    const shares = ledger.shares(() => ({ waiting: 0, running: 0 }));
    expect(shares.map((s) => s.payer)).toEqual(['a', 'b', 'c']);
    expect(shares.find((s) => s.payer === 'c')!.counter).toBe(4);
    expect(shares.reduce((t, s) => t + s.share, 0)).toBeCloseTo(1, 9);
    const fifo = createPayerLedger({ policy: 'fifo' });
    fifo.charge('a', 100, 0);
    expect(fifo.compare({ payer: 'a', order: 1 }, { payer: 'b', order: 2 })).toBeLessThan(0);
  });

  it('a light payer is not stuck behind a heavy payer\'s backlog (and is, with fifo)', async () => {
    const finishedAt = async (policy: 'vtc' | 'fifo') => {
      const scheduler = createScheduler({ maxRunning: 2, fairness: { policy } }, { backend });
      const order: string[] = [];
      const track = (payer: string, stream: AsyncIterable<GenerationEvent>) => drain(stream).then(() => order.push(payer));
      const runs = [];
      for (let i = 0; i < 10; i++) runs.push(track('heavy', scheduler.submit({ promptIds: prompt(i), maxTokens: 6, sampling: GREEDY, payer: 'heavy' })));
      for (let i = 0; i < 2; i++) runs.push(track('light', scheduler.submit({ promptIds: prompt(50 + i), maxTokens: 6, sampling: GREEDY, payer: 'light' })));
      await Promise.all(runs);
      const shares = scheduler.payers();
      await scheduler.stop();
      return { last: order.lastIndexOf('light'), shares };
    };
    const vtc = await finishedAt('vtc');
    const fifo = await finishedAt('fifo');
    expect(vtc.last).toBeLessThan(6);
    expect(fifo.last).toBeGreaterThanOrEqual(10);
    expect(vtc.shares.find((s) => s.payer === 'heavy')!.completionTokens).toBe(60);
  });

  it('a full queue drops the newest request of the payer with the most waiting, not the newcomer', async () => {
    const scheduler = createScheduler({ maxRunning: 1, maxWaiting: 4 }, { backend });
    const heavy = [0, 1, 2, 3, 4].map((i) => drain(scheduler.submit({ promptIds: prompt(i), maxTokens: 4, sampling: GREEDY, payer: 'heavy' })).then(() => 'ok', (e: unknown) => e));
    await new Promise((resolve) => setImmediate(resolve));
    const light = drain(scheduler.submit({ promptIds: prompt(9), maxTokens: 4, sampling: GREEDY, payer: 'light' }));
    await light;
    const results = await Promise.all(heavy);
    expect(results.filter((r) => r instanceof SchedulerQueueFullError)).toHaveLength(1);
    expect(results[4]).toBeInstanceOf(SchedulerQueueFullError); // the newest
    expect(() => {
      for (let i = 0; i < 10; i++) void drain(scheduler.submit({ promptIds: prompt(i), maxTokens: 4, sampling: GREEDY, payer: 'heavy' })).catch(() => undefined);
    }).toThrow(SchedulerQueueFullError); // the payer with the most waiting is refused itself
    await scheduler.stop();
  });
});
