/**
 * Constrained rows through every backend's whole step: masks, logit bias and penalties, top
 * logprobs, mixed in one step with plain rows, prefill chunks and several passes. The CPU and
 * WebGPU backends must choose what the reference chooses (src/engine/sampling.ts is the definition).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, SampleRow, StepSequence } from '../../src/engine/backend.ts';
import { createCpuBackend } from '../../src/engine/cpu/backend.ts';
import { createReferenceBackend } from '../../src/engine/reference/backend.ts';
import { logitAdjustments, maskOf } from '../../src/engine/sampling.ts';
import { createWebGpuBackend } from '../../src/engine/webgpu/backend.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import { createTinyModel } from '../fixtures/model.ts';

let model: LoadedModel;
let reference: Backend;
beforeAll(async () => {
  model = await loadModel({ dir: await createTinyModel() });
  reference = await createReferenceBackend({ model, numKvBlocks: 64 });
});

const backends = {
  // Passes of 48 rows: the longest prompt crosses two.
  cpu: (m: LoadedModel) => createCpuBackend({ model: m, numKvBlocks: 64, maxRows: 48 }),
  webgpu: (m: LoadedModel) => createWebGpuBackend({ model: m, numKvBlocks: 64, maxRows: 48, maxContext: 512 }),
};

describe.each(Object.keys(backends) as (keyof typeof backends)[])('constrained sampling rows: %s = reference', (kind) => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await backends[kind](model);
  });
  afterAll(() => backend?.destroy());

  it('the same tokens, logprobs within 1e-4 and the same top-logprob ids over 12 steps of 6 sequences', async () => {
    const vocab = reference.config.vocabSize;
    const rows = 6;
    const tokens = Array.from({ length: rows }, (_, s) => Array.from({ length: 20 + s * 13 }, (_, i) => (i * 29 + s * 7 + 3) % 256)); // one prompt crosses two passes
    const tables = Array.from({ length: rows }, (_, s) => Array.from({ length: 8 }, (_, b) => s * 8 + b));
    const counts = tokens.map(() => new Map<number, number>());
    const started = tokens.map(() => 0);
    for (let step = 0; step < 12; step++) {
      const batch: StepSequence[] = tokens.map((t, s) => {
        const allowed = Array.from({ length: vocab }, (_, id) => id).filter((id) => (id + step * (s + 3)) % [1, 2, 7, 40, 1, 3][s] === 0);
        const sample: SampleRow = { temperature: [0, 0.8, 1.2, 0, 1, 0.6][s], topK: [0, 0, 8, 0, 0, 30][s], topP: [1, 0.9, 1, 1, 0.7, 1][s], seed: 1000 + s, step };
        if (s % 2 === 1 || s === 4) sample.mask = maskOf(vocab, allowed);
        const adjust = logitAdjustments({ logitBias: s === 2 ? new Map([[65, 3], [66, -100]]) : undefined, presencePenalty: s >= 3 ? 0.7 : 0, frequencyPenalty: s >= 4 ? 0.4 : 0, counts: counts[s] });
        if (adjust) sample.adjust = adjust;
        if (s !== 1) sample.topLogprobs = [5, 0, 1, 20, 3, 2][s];
        return { tokens: t.slice(started[s]), startPos: started[s], blockTable: tables[s], adapterSlot: -1, sample };
      });
      const [want, got] = await Promise.all([reference.step(batch), backend.step(batch)]);
      for (let s = 0; s < rows; s++) {
        expect({ step, s, token: got[s].token }).toEqual({ step, s, token: want[s].token });
        expect(got[s].logprob!).toBeCloseTo(want[s].logprob!, 4);
        expect([...(got[s].top?.ids ?? [])]).toEqual([...(want[s].top?.ids ?? [])]);
        (got[s].top?.logprobs ?? []).forEach((lp, i) => expect(lp).toBeCloseTo(want[s].top!.logprobs[i], 4));
        started[s] = tokens[s].length;
        tokens[s].push(want[s].token!);
        counts[s].set(want[s].token!, (counts[s].get(want[s].token!) ?? 0) + 1);
      }
    }
  });
});
