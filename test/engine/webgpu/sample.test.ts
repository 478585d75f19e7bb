import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_TOP_LOGPROBS, type LogitAdjustments } from '../../../src/engine/backend.ts';
import { logitAdjustments, logprobOf, maskOf, sampleToken } from '../../../src/engine/sampling.ts';
import { sampleOp } from '../../../src/engine/webgpu/ops.ts';
import { NO_MASK, OUT_MODE, OUT_ROW_WORDS } from '../../../src/engine/webgpu/passPlan.ts';
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
  mask?: Uint32Array;
  adjust?: LogitAdjustments;
  topLogprobs?: number;
}

/** Runs the sample kernel over `rows` rows of logits, each with its own params (as passPlan lays them out). */
async function runSample(vocab: number, logits: Float32Array, cases: Case[], mode: (c: Case) => number = (c) => (c.temperature === 0 ? OUT_MODE.greedy : OUT_MODE.sample), target = 0) {
  const rows = cases.length;
  const words = Math.ceil(vocab / 32);
  const table = new Uint32Array(rows * OUT_ROW_WORDS);
  const masks: number[] = [];
  const adjust: number[] = [];
  cases.forEach((c, o) => {
    let maskRow = NO_MASK;
    if (c.mask) {
      maskRow = masks.length / words;
      masks.push(...c.mask);
    }
    const start = adjust.length / 4;
    c.adjust?.ids.forEach((id, i) => adjust.push(id, f32bits(c.adjust!.deltas[i]), 0, 0));
    table.set([o, mode(c), target, c.topK, f32bits(c.temperature), f32bits(c.topP), c.seed >>> 0, c.step >>> 0, maskRow, start, c.adjust?.ids.length ?? 0, c.topLogprobs ?? 0], o * OUT_ROW_WORDS);
  });
  const result = h.empty(rows * 2);
  const top = h.empty(rows * MAX_TOP_LOGPROBS * 2);
  const op = sampleOp(h.ctx, { vocab, outRows: h.buffer(table), logits: h.buffer(logits), result, masks: h.buffer(Uint32Array.from(masks.length ? masks : [0])), adjust: h.buffer(Uint32Array.from(adjust.length ? adjust : [0, 0, 0, 0])), top });
  await h.run(rows, rows, (rec) => op(rec, rows));
  const raw = new Uint32Array((await h.read(result, rows * 2)).buffer);
  const tops = new Uint32Array((await h.read(top, rows * MAX_TOP_LOGPROBS * 2)).buffer);
  return cases.map((c, o) => {
    const entries = Array.from({ length: Math.min(c.topLogprobs ?? 0, vocab) }, (_, i) => ({ id: tops[(o * MAX_TOP_LOGPROBS + i) * 2], logprob: new Float32Array(tops.slice((o * MAX_TOP_LOGPROBS + i) * 2 + 1, (o * MAX_TOP_LOGPROBS + i) * 2 + 2).buffer)[0] }));
    entries.sort((a, b) => b.logprob - a.logprob || a.id - b.id);
    return { token: raw[o * 2], logprob: new Float32Array(raw.slice(o * 2 + 1, o * 2 + 2).buffer)[0], top: entries };
  });
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

  it('masks, logit bias and penalties, and top logprobs agree with the reference (mixed with plain rows)', async () => {
    const cases: Case[] = [];
    const rand = (i: number) => ((i * 2654435761) >>> 0) / 2 ** 32;
    for (let i = 0; i < 24; i++) {
      const allowed = Array.from({ length: vocab }, (_, t) => t).filter((t) => rand(t * 31 + i) < [1, 0.5, 0.02, 0.003][i % 4]);
      if (allowed.length === 0) allowed.push(i);
      const counts = new Map<number, number>(Array.from({ length: 12 }, (_, k) => [(k * 37 + i * 11) % vocab, 1 + (k % 3)]));
      cases.push({
        temperature: [0, 0.7, 1.3][i % 3],
        topK: [0, 3, 50][i % 3],
        topP: [1, 0.8][i % 2],
        seed: 500 + i * 104729,
        step: i,
        mask: i % 4 === 0 ? undefined : maskOf(vocab, allowed),
        adjust: i % 5 === 0 ? undefined : logitAdjustments({ logitBias: new Map([[7, 100], [8, -100], [(i * 13) % vocab, 2.5]]), presencePenalty: 0.5, frequencyPenalty: 0.25 * (i % 3), counts }),
        topLogprobs: [0, 1, 5, 20][i % 4],
      });
    }
    const logits = randomArray(cases.length * vocab, 9, 4);
    const got = await runSample(vocab, logits, cases);
    cases.forEach((c, o) => {
      const row = logits.subarray(o * vocab, (o + 1) * vocab);
      const want = sampleToken({ logits: row, params: c, step: c.step });
      expect({ case: o, token: got[o].token }).toEqual({ case: o, token: want.token });
      expect(got[o].logprob).toBeCloseTo(want.logprob, 4); // the model's own logprob, before bias and mask
      expect(got[o].top.map((e) => e.id)).toEqual([...(want.top?.ids ?? [])]);
      got[o].top.forEach((e, k) => expect(e.logprob).toBeCloseTo(want.top!.logprobs[k], 4));
    });
  });
});
