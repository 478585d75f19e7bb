import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, SamplingParams } from '../../src/engine/backend.ts';
import { createCpuBackend } from '../../src/engine/cpu/backend.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import { fairSlotVictims } from '../../src/scheduler/fairSlots.ts';
import { createScheduler } from '../../src/scheduler/scheduler.ts';
import type { Sequence } from '../../src/scheduler/sequence.ts';
import type { GenerationStream } from '../../src/scheduler/scheduler.ts';
import { createTinyModel } from '../fixtures/model.ts';

const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const prompt = (salt: number) => Array.from({ length: 12 }, (_, i) => 32 + ((i * 5 + salt) % 90));

/** A sequence as fairSlotVictims sees it. */
const seq = (payer: string, order: number, computed = 0, state: Sequence['state'] = 'running') => ({ id: `${payer}-${order}`, order, computed, state, group: { payer, request: {} } }) as unknown as Sequence;

describe('fair shares of the running slots', () => {
  const counters: Record<string, number> = { heavy: 100, light: 10, mid: 50 };
  const base = { maxRunning: 4, servedMore: (a: string, b: string) => counters[a] > counters[b], ready: () => true };

  it('a payer two or more slots below the payer running the most takes the slot of its latest arrived sequence', () => {
    const running = [seq('heavy', 0), seq('heavy', 5), seq('heavy', 2), seq('light', 3)];
    const victims = fairSlotVictims({ ...base, running, waiting: [seq('light', 9, 0, 'waiting')] });
    expect(victims.map((v) => v.id)).toEqual(['heavy-5']);
  });

  it('no swap that only moves the gap (one slot apart), none for a payer served more, a free slot, one whose adapter is loading, or the same payer', () => {
    const running = [seq('heavy', 0), seq('heavy', 1), seq('light', 2), seq('mid', 3)];
    expect(fairSlotVictims({ ...base, running, waiting: [seq('light', 9, 0, 'waiting')] })).toEqual([]); // 2 vs 1
    const three = [seq('heavy', 0), seq('heavy', 1), seq('heavy', 2), seq('light', 3)];
    expect(fairSlotVictims({ ...base, running: three, waiting: [seq('mid', 9, 0, 'waiting')], servedMore: (a) => a === 'mid' })).toEqual([]);
    expect(fairSlotVictims({ ...base, running: three, waiting: [seq('mid', 9, 0, 'waiting')], servedMore: () => false })).toHaveLength(1); // level counters: a newcomer
    expect(fairSlotVictims({ ...base, running: three.slice(0, 3), waiting: [seq('mid', 9, 0, 'waiting')] })).toEqual([]);
    expect(fairSlotVictims({ ...base, running: three, waiting: [seq('mid', 9, 0, 'waiting')], ready: () => false })).toEqual([]);
    expect(fairSlotVictims({ ...base, running: three, waiting: [seq('heavy', 9, 0, 'waiting')] })).toEqual([]);
  });

  it('of the payers running two or more sequences more than the waiting one, the slot is taken from the one served most, not the one running most', () => {
    // A light payer's burst holds 4 of 8 slots; the heavy payer, served more, holds 3.
    const running = [seq('mid', 0), seq('mid', 1), seq('mid', 2), seq('mid', 3), seq('heavy', 4), seq('heavy', 5), seq('heavy', 6), seq('light', 7)];
    const victims = fairSlotVictims({ ...base, maxRunning: 8, running, waiting: [seq('light', 9, 0, 'waiting')] });
    expect(victims.map((v) => v.id)).toEqual(['heavy-6']);
    // Running one more than the waiting payer is not enough, however much it was served: mid's turn.
    const close = [seq('mid', 0), seq('mid', 1), seq('mid', 2), seq('mid', 3), seq('heavy', 4), seq('heavy', 5), seq('light', 6), seq('light', 7)];
    expect(fairSlotVictims({ ...base, maxRunning: 8, running: close, waiting: [seq('light', 9, 0, 'waiting')] }).map((v) => v.id)).toEqual(['mid-3']);
  });

  it('several waiting payers each take one, counting the slots those ahead of them take', () => {
    const running = [seq('heavy', 0), seq('heavy', 1), seq('heavy', 2), seq('heavy', 3)];
    const waiting = [seq('light', 8, 0, 'waiting'), seq('light', 9, 0, 'waiting'), seq('mid', 10, 0, 'waiting')];
    // light takes one (4 vs 0), light again (3 vs 1), then mid (2 vs 0); heavy keeps 1 of 4.
    expect(fairSlotVictims({ ...base, running, waiting })).toHaveLength(3);
    // A blocked choice (waiting for its prompt's prefix) takes nothing.
    expect(fairSlotVictims({ ...base, running, waiting: [seq('light', 8, 0, 'blocked')] })).toEqual([]);
  });
});

describe('fair slots in the scheduler (CPU backend)', () => {
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

  /** A heavy payer fills every slot with long requests; once each has a token, a light payer asks for one. */
  async function heavyThenLight(on: Backend, preempt: boolean, lightTokens = 2) {
    const scheduler = createScheduler({ maxRunning: 3, fairness: { preempt } }, { backend: on });
    const events: string[] = [];
    const preempted: Record<string, number> = {};
    const collect = async (name: string, stream: GenerationStream, onFirst?: () => void) => {
      const tokens: number[] = [];
      for await (const e of stream) {
        if (e.type === 'done') preempted[name] = e.preemptions;
        if (e.type !== 'token') continue;
        if (tokens.length === 0) onFirst?.();
        tokens.push(e.token);
      }
      events.push(`${name} done`);
      return tokens;
    };
    const heavy: Promise<number[]>[] = [];
    let started = 0;
    let light: Promise<number[]> | undefined;
    const lightFirst = new Promise<void>((resolve) => {
      const startLight = () => {
        if (++started !== 3) return;
        light = collect('light', scheduler.submit({ promptIds: prompt(77), maxTokens: lightTokens, sampling: GREEDY, payer: 'light' }), () => {
          events.push('light first token');
          resolve();
        });
      };
      for (let i = 0; i < 3; i++) heavy.push(collect(`heavy${i}`, scheduler.submit({ promptIds: prompt(i), maxTokens: 52, sampling: GREEDY, payer: 'heavy' }), startLight));
    });
    await lightFirst;
    const tokens = [...(await Promise.all(heavy)), await light!];
    const stats = scheduler.stats();
    await scheduler.stop();
    return { events, tokens, stats, preempted };
  }

  it('a light payer arriving while a heavy one holds every slot starts at once; the paused request resumes where it stopped, with the same tokens', async () => {
    const fair = await heavyThenLight(backend, true);
    const plain = await heavyThenLight(backend, false);
    // Without pausing the light request waits for a heavy one to end; with it, it starts before any does.
    expect(plain.events.indexOf('light first token')).toBeGreaterThan(plain.events.findIndex((e) => e.startsWith('heavy')));
    expect(fair.events.findIndex((e) => e.startsWith('heavy'))).toBeGreaterThan(fair.events.indexOf('light first token'));
    expect(fair.stats.pauses).toBe(1);
    expect(plain.stats.pauses).toBe(0);
    // Nothing computed twice: the paused sequence kept its KV blocks.
    expect(fair.stats.preemptions).toBe(0);
    expect(fair.stats.tokensPrefilled).toBe(plain.stats.tokensPrefilled);
    expect(fair.tokens).toEqual(plain.tokens);
    expect(fair.tokens.slice(0, 3).every((t) => t.length === 52)).toBe(true);
  });

  it('when KV blocks run short, a paused sequence gives its blocks back first and is recomputed later, with the same tokens', async () => {
    // 8 blocks of 16: the three heavy requests (64 positions = 4 blocks each) and the light one cannot all hold theirs.
    const tightModel = await loadModel({ dir: await createTinyModel() });
    const tight = await createCpuBackend({ model: tightModel, numKvBlocks: 8 });
    try {
      const fair = await heavyThenLight(tight, true, 52);
      const plain = await heavyThenLight(backend, false, 52);
      expect(fair.stats.pauses).toBe(1);
      expect(fair.stats.preemptions).toBeGreaterThan(0);
      expect(fair.stats.kvBlocksFree).toBe(8);
      // The paused heavy2 gave its blocks back, not heavy1, which was running (light, the latest arrived, is preempted later by memory alone).
      expect(fair.preempted.heavy2).toBe(1);
      expect(fair.preempted.heavy1).toBe(0);
      expect(fair.tokens).toEqual(plain.tokens);
    } finally {
      tight.destroy();
      await tightModel.close();
    }
  });
});
