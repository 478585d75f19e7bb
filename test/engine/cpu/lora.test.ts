/**
 * LoRA on the CPU backend, as issue 4's tests do it on WebGPU (test/engine/webgpu/lora.forward.test.ts):
 * adapters of ranks 4, 8 (q and v only) and 16 in slots, logits with each against the reference,
 * and a mixed-adapter batch (base rows and three adapters stepping together, SGMV segments) giving
 * the same greedy tokens as each request alone and as the reference.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, LoraWeights, StepSequence } from '../../../src/engine/backend.ts';
import { createCpuBackend } from '../../../src/engine/cpu/backend.ts';
import { createReferenceBackend } from '../../../src/engine/reference/backend.ts';
import { createAdapter } from '../../../src/lora/create.ts';
import { loadPeftAdapter } from '../../../src/lora/peft.ts';
import { loadModel, type LoadedModel } from '../../../src/model/load.ts';
import { createTinyModel, makeTempDir } from '../../fixtures/model.ts';

const TOL = 1e-5;
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
let model: LoadedModel;
const adapters: LoraWeights[] = [];
const backends: Backend[] = [];
const prompt = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 37 + seed * 11 + 3) % 256);

beforeAll(async () => {
  const dir = await createTinyModel({ seed: 1 });
  model = await loadModel({ dir });
  const root = await makeTempDir('openlora-cpu-lora-');
  for (const [i, s] of [{ rank: 4, seed: 11 }, { rank: 8, seed: 12, targets: ['q_proj', 'v_proj'] }, { rank: 16, seed: 13 }].entries()) {
    const out = join(root, `adapter-${i}`);
    await createAdapter({ model: dir, out, ...s });
    adapters.push((await loadPeftAdapter({ dir: out, config: model.config })).weights);
  }
});
afterAll(async () => {
  for (const b of backends) b.destroy();
  await model?.close();
});

async function make(kind: 'cpu' | 'reference'): Promise<Backend> {
  const b = kind === 'cpu' ? await createCpuBackend({ model, numKvBlocks: 64, loraSlots: 4, maxLoraRank: 16, threads: 2 }) : await createReferenceBackend({ model, numKvBlocks: 64, loraSlots: 4, maxLoraRank: 16 });
  for (let i = 0; i < adapters.length; i++) await b.lora.load(i, adapters[i]);
  backends.push(b);
  return b;
}

/** Greedy decoding of several requests in the same steps, each with its own KV blocks and slot. */
async function generateBatch(backend: Backend, requests: Array<{ prompt: number[]; slot: number }>, maxTokens: number): Promise<number[][]> {
  const tables = requests.map((_, i) => Array.from({ length: 4 }, (_, b) => i * 4 + b));
  const tokens: number[][] = requests.map(() => []);
  const pos = requests.map(() => 0);
  for (let step = 0; step < maxTokens; step++) {
    const seqs: StepSequence[] = requests.map((r, i) => ({ tokens: step === 0 ? r.prompt : [tokens[i][step - 1]], startPos: pos[i], blockTable: tables[i], adapterSlot: r.slot, sample: { ...greedy, step } }));
    const out = await backend.step(seqs);
    seqs.forEach((s, i) => {
      pos[i] += s.tokens.length;
      tokens[i].push(out[i].token!);
    });
  }
  return tokens;
}

describe('LoRA on the CPU backend', () => {
  it(`logits with each adapter (ranks 4, 8 on q/v, 16) and with none, in one batch, within ${TOL} of the reference`, async () => {
    const [cpu, ref] = [await make('cpu'), await make('reference')];
    const seqs: StepSequence[] = [-1, 0, 1, 2, 2].map((slot, i) => ({ tokens: prompt(9 + i, i), startPos: 0, blockTable: [i * 2, i * 2 + 1], adapterSlot: slot }));
    const a = await cpu.logits(seqs);
    const b = await ref.logits(seqs);
    for (let i = 0; i < seqs.length; i++) {
      let err = 0;
      let max = 0;
      for (let j = 0; j < a[i].length; j++) {
        err = Math.max(err, Math.abs(a[i][j] - b[i][j]));
        max = Math.max(max, Math.abs(b[i][j]));
      }
      expect(err / max, `sequence ${i}`).toBeLessThan(TOL);
    }
  });

  it('a mixed-adapter batch decodes as each request alone and as the reference (greedy, 12 tokens)', async () => {
    const cpu = await make('cpu');
    const ref = await make('reference');
    const requests = [
      { prompt: prompt(12, 1), slot: 0 },
      { prompt: prompt(7, 2), slot: -1 },
      { prompt: prompt(15, 3), slot: 2 },
      { prompt: prompt(9, 4), slot: 2 },
      { prompt: prompt(5, 5), slot: 1 },
    ];
    const together = await generateBatch(cpu, requests, 12);
    expect(together).toEqual(await generateBatch(ref, requests, 12));
    for (const [i, r] of requests.entries()) expect((await generateBatch(cpu, [r], 12))[0], `request ${i} alone`).toEqual(together[i]);
    await cpu.lora.unload(2);
    const base = await generateBatch(cpu, [{ ...requests[2], slot: -1 }], 12);
    expect((await generateBatch(cpu, [requests[2]], 12))[0]).toEqual(base[0]); // an emptied slot adds nothing
  });
});
