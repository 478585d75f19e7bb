import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleToken, logprobOf } from '../../../src/engine/sampling.ts';
import { sampleOp } from '../../../src/engine/webgpu/ops.ts';
import { OUT_MODE } from '../../../src/engine/webgpu/passPlan.ts';
import { createHarness, randomArray, type KernelHarness } from './harness.ts';

let h: KernelHarness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.destroy());

const f32bits = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0];

interface Case {
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  step: number;
}

/** Runs the sample kernel over `rows` rows of logits, each with its own params. */
async function runSample(vocab: number, logits: Float32Array, cases: Case[], mode: (c: Case) => number = (c) => (c.temperature === 0 ? OUT_MODE.greedy : OUT_MODE.sample), target = 0) {
  const rows = cases.length;
  const table = new Uint32Array(rows * 8);
  cases.forEach((c, o) => table.set([o, mode(c), target, c.topK, f32bits(c.temperature), f32bits(c.topP), c.seed >>> 0, c.step >>> 0], o * 8));
  const result = h.empty(rows * 2);
  const op = sampleOp(h.ctx, { vocab, outRows: h.buffer(table), logits: h.buffer(logits), result });
  await h.run(rows, rows, (rec) => op(rec, rows));
  const raw = new Uint32Array((await h.read(result, rows * 2)).buffer);
  return cases.map((_, o) => ({ token: raw[o * 2], logprob: new Float32Array(raw.slice(o * 2 + 1, o * 2 + 2).buffer)[0] }));
}

describe('GPU sampling matches src/engine/sampling.ts', () => {
  const vocab = 1000;
  it('greedy: argmax with ties to the lower id, logprob at temperature 1', async () => {
    const logits = randomArray(3 * vocab, 1, 5);
    logits[vocab + 10] = 9; // tie between ids 10 and 500 of row 1
    logits[vocab + 500] = 9;
    const cases = [0, 1, 2].map((step) => ({ temperature: 0, topK: 0, topP: 1, seed: 0, step }));
    const got = await runSample(vocab, logits, cases);
    cases.forEach((c, o) => {
      const row = logits.subarray(o * vocab, (o + 1) * vocab);
      const want = sampleToken({ logits: row, params: c, step: c.step });
      expect(got[o].token).toBe(want.token);
      expect(got[o].logprob).toBeCloseTo(want.logprob, 4);
    });
    expect(got[1].token).toBe(10);
  });

  it('temperature, top-k and top-p draws agree token for token', async () => {
    const cases: Case[] = [];
    for (let i = 0; i < 24; i++) {
      cases.push({
        temperature: [0.5, 1, 1.7][i % 3],
        topK: [0, 1, 5, 40, 2000][i % 5],
        topP: [1, 0.9, 0.5, 0.05][i % 4],
        seed: 1000 + i * 7919,
        step: i,
      });
    }
    const logits = randomArray(cases.length * vocab, 2, 4);
    // Ties inside the kept set exercise the (prob desc, id asc) order.
    for (let o = 0; o < cases.length; o++) logits[o * vocab + 3] = logits[o * vocab + 700] = 5;
    const got = await runSample(vocab, logits, cases);
    cases.forEach((c, o) => {
      const want = sampleToken({ logits: logits.subarray(o * vocab, (o + 1) * vocab), params: c, step: c.step });
      expect({ case: o, token: got[o].token }).toEqual({ case: o, token: want.token });
      expect(got[o].logprob).toBeCloseTo(want.logprob, 4);
    });
  });

  it('teacher-forcing rows return log p(target)', async () => {
    const logits = randomArray(vocab, 3, 6);
    const got = await runSample(vocab, logits, [{ temperature: 0, topK: 0, topP: 1, seed: 0, step: 0 }], () => OUT_MODE.target, 421);
    expect(got[0].token).toBe(421);
    expect(got[0].logprob).toBeCloseTo(logprobOf(logits, 421), 4);
  });

  it('draws follow the distribution (many seeds, one row)', async () => {
    const small = 8;
    const logits = new Float32Array([2, 1, 0.5, 0, -1, 3, 2, 1]);
    const cases = Array.from({ length: 256 }, (_, i) => ({ temperature: 1, topK: 0, topP: 1, seed: 42, step: i }));
    const rows = new Float32Array(cases.length * small);
    for (let o = 0; o < cases.length; o++) rows.set(logits, o * small);
    const got = await runSample(small, rows, cases);
    let agree = 0;
    cases.forEach((c, o) => {
      if (got[o].token === sampleToken({ logits, params: c, step: c.step }).token) agree++;
    });
    expect(agree).toBe(cases.length);
  });
});
