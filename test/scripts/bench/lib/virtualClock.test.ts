/** The simulated engine clock of scheduler benchmarks (scripts/bench/lib/virtualClock.ts), under the real scheduler. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../../src/engine/backend.ts';
import { createCpuBackend } from '../../../../src/engine/cpu/backend.ts';
import { loadModel } from '../../../../src/model/load.ts';
import { createScheduler } from '../../../../src/scheduler/scheduler.ts';
import type { GenerationEvent } from '../../../../src/scheduler/types.ts';
import { createVirtualClock } from '../../../../scripts/bench/lib/virtualClock.ts';
import { createTinyModel } from '../../../fixtures/model.ts';

let backend: Backend;
beforeAll(async () => {
  backend = await createCpuBackend({ model: await loadModel({ dir: await createTinyModel() }), numKvBlocks: 16 });
});
afterAll(() => backend?.destroy());

describe('virtual engine clock', () => {
  it('steps cost BASE + PER_ROW x rows of virtual time; a request arriving on the clock while the node is idle starts when it arrives; timings are on the clock', async () => {
    const clock = createVirtualClock((rows) => 1 + 0.5 * rows);
    const rows: number[] = [];
    const scheduler = createScheduler({ maxRunning: 4 }, { backend: clock.engine(backend), now: clock.now, onStep: (s) => rows.push(s.rows) });
    const stop = clock.idle(() => scheduler.stats().waiting + scheduler.stats().running > 0);
    await clock.at(100); // nothing else to do: the clock jumps there
    expect(clock.now()).toBe(100);
    let done: Extract<GenerationEvent, { type: 'done' }> | undefined;
    const tokens: number[] = [];
    for await (const e of scheduler.submit({ promptIds: [40, 41, 42, 43], maxTokens: 3, sampling: { temperature: 0, topK: 0, topP: 1, seed: 0 }, stopTokenIds: [] })) {
      if (e.type === 'token') tokens.push(e.token);
      else done = e;
    }
    stop();
    await scheduler.stop();
    // A 4-row prefill (3 ms), then two 1-row decodes (1.5 ms each); every sampled row gives token 1.
    expect(rows).toEqual([4, 1, 1]);
    expect(clock.lastStepMs).toBe(1.5);
    expect(tokens).toEqual([1, 1, 1]);
    expect(clock.now()).toBe(106);
    expect(done?.timings).toEqual({ queuedMs: 0, firstTokenMs: 3, totalMs: 6, outMs: 0 });
  });
});
