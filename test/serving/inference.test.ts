/**
 * The text a request streams is the text of the tokens it was charged for: with the byte-level
 * tiny model, sampled bytes often stop in the middle of a UTF-8 character, and the last delta then
 * carries the U+FFFD that decoding all generated ids gives. Stop strings end a choice's text before
 * their first match, and no delta ever shows part of one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.ts';
import { createCpuBackend } from '../../src/engine/cpu/backend.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import { createScheduler, type Scheduler } from '../../src/scheduler/scheduler.ts';
import { createInferenceService, type InferenceService } from '../../src/serving/inference.ts';
import { createTinyModel } from '../fixtures/model.ts';

let model: LoadedModel;
let backend: Backend;
let scheduler: Scheduler;
let inference: InferenceService;

beforeAll(async () => {
  model = await loadModel({ dir: await createTinyModel({ seed: 2 }) });
  backend = await createCpuBackend({ model, numKvBlocks: 32 });
  scheduler = createScheduler({}, { backend });
  inference = createInferenceService({ model, scheduler, baseModelName: 'tiny' });
});
afterAll(async () => {
  await scheduler?.stop();
  backend?.destroy();
  await model?.close();
});

describe('inference text', () => {
  it('deltas add up to decode(generated ids), also when generation stops inside a character', async () => {
    let cut = 0;
    for (let seed = 0; seed < 12; seed++) {
      let text = '';
      const ids: number[] = [];
      for await (const event of inference.generate({ promptIds: inference.promptIds({ prompt: 'Ünïcödé: ' }), model: inference.resolve('tiny'), maxTokens: 9, sampling: { temperature: 1.5, topK: 0, topP: 1, seed } })) {
        if (event.type === 'delta') {
          text += event.text;
          ids.push(...event.tokens.map((t) => t.id));
          expect(event.tokens.map((t) => t.text).join('')).toBe(event.text);
        }
      }
      const decoded = model.tokenizer!.decode(ids);
      expect(text, `seed ${seed}`).toBe(decoded);
      if (decoded.endsWith('\uFFFD')) cut++;
    }
    expect(cut).toBeGreaterThan(0); // some stream did stop mid-character
  });

  /** The text of `n` seeded choices with `stop`, the deltas of each choice, and how each ended. */
  async function run(stop: string[] | undefined, maxTokens = 24, n = 1) {
    const out = Array.from({ length: n }, () => ({ text: '', deltas: [] as string[], finish: '', completionTokens: 0 }));
    for await (const event of inference.generate({ promptIds: inference.promptIds({ prompt: 'Stop here: ' }), model: inference.resolve('tiny'), maxTokens, n, sampling: { temperature: 1.2, topK: 0, topP: 1, seed: 5 }, stop })) {
      const c = out[event.choice];
      if (event.type === 'delta') {
        c.text += event.text;
        c.deltas.push(event.text);
      } else {
        c.finish = event.finishReason;
        c.completionTokens = event.usage.completionTokens;
      }
    }
    return out;
  }

  /** A stop string of `length` characters from `text`, first found at `at` or later, and where it is first found. */
  function stopFrom(text: string, at: number, length: number): { stop: string; index: number } {
    for (let k = at; k + length <= text.length; k++) {
      const stop = text.slice(k, k + length);
      if (text.indexOf(stop) === k && !stop.includes('\uFFFD')) return { stop, index: k };
    }
    throw new Error(`no stop string of ${length} characters in ${JSON.stringify(text)}`);
  }

  it('stop strings end the text before their first match, across token boundaries, streamed without the stop', async () => {
    const [free] = await run(undefined);
    expect(free.finish).toBe('length');
    expect(free.text.length).toBeGreaterThan(8);
    // Byte-level tokens: a 3-character stop spans 3 tokens, so the deltas must hold back its start.
    const { stop, index } = stopFrom(free.text, 4, 3);
    const [cut] = await run([stop]);
    expect(cut.finish).toBe('stop');
    expect(cut.text).toBe(free.text.slice(0, index));
    for (const d of cut.deltas) expect(d).not.toContain(stop);
    // Charged for every token generated, the stop's own tokens included, and no more than that.
    expect(cut.completionTokens).toBeGreaterThanOrEqual(index + 1);
    expect(cut.completionTokens).toBeLessThanOrEqual(index + stop.length + 3);
    // Two stops completed by the same token: the one that starts first wins; an empty one and one
    // never found change nothing.
    let k = 2;
    const firstAt = (at: number, length: number) => free.text.indexOf(free.text.slice(at, at + length)) === at && !free.text.slice(at, at + length).includes('\uFFFD');
    while (k + 3 <= free.text.length && !(firstAt(k, 3) && firstAt(k + 1, 2))) k++;
    expect(k + 3).toBeLessThanOrEqual(free.text.length);
    const [both] = await run(['\u0000never\u0000', '', free.text.slice(k + 1, k + 3), free.text.slice(k, k + 3)]);
    expect(both.text).toBe(free.text.slice(0, k));
    expect(both.finish).toBe('stop');
    const [none] = await run(['\u0000never\u0000', '']);
    expect(none).toEqual(free);
  });

  it('each choice of n stops on its own', async () => {
    const free = await run(undefined, 16, 2);
    expect(free[0].text).not.toBe(free[1].text);
    const { stop, index } = stopFrom(free[0].text, 3, 2);
    const cut = await run([stop], 16, 2);
    expect(cut[0]).toMatchObject({ finish: 'stop', text: free[0].text.slice(0, index) });
    const other = free[1].text.indexOf(stop);
    expect(cut[1].text).toBe(other >= 0 ? free[1].text.slice(0, other) : free[1].text);
    expect(cut[1].finish).toBe(other >= 0 ? 'stop' : free[1].finish);
  });
});
