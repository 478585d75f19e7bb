/**
 * The text a request streams is the text of the tokens it was charged for: with the byte-level
 * tiny model, sampled bytes often stop in the middle of a UTF-8 character, and the last delta then
 * carries the U+FFFD that decoding all generated ids gives.
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
});
