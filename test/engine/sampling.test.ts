import { describe, expect, it } from 'vitest';
import type { SampleRow } from '../../src/engine/backend.ts';
import { adjustLogits, argmax, drawInverseCdf, filterCandidates, logitAdjustments, logprobOf, maskAllows, maskOf, pcgHash, sampleToken, topLogprobs, uniform, validateSamplingParams } from '../../src/engine/sampling.ts';

const params = (p: Partial<Omit<SampleRow, 'step'>> = {}): Omit<SampleRow, 'step'> => ({ temperature: 1, topK: 0, topP: 1, seed: 0, ...p });

describe('counter-based uniform (the WGSL port must match these bit for bit)', () => {
  it('pins pcg_hash and uniform values (checked against an independent Python port)', () => {
    expect([0, 1, 42, 0xffffffff].map(pcgHash)).toEqual([129708002, 2831084092, 1223963391, 3861530882]);
    expect(uniform(0, 0)).toBe(0.19039934873580933);
    expect(uniform(1, 0)).toBe(0.9108019471168518);
    expect(uniform(1, 1)).toBe(0.6936357021331787);
    expect(uniform(12345, 7)).toBe(0.7297919392585754);
    expect(uniform(0xffffffff, 3)).toBe(0.019744455814361572);
    expect(uniform(-1, 3)).toBe(uniform(0xffffffff, 3)); // low 32 bits
  });

  it('is in [0, 1), exactly f32, and roughly uniform', () => {
    const bins = Array.from({ length: 10 }, () => 0);
    for (let step = 0; step < 20000; step++) {
      const u = uniform(99, step);
      expect(u >= 0 && u < 1).toBe(true);
      expect(Math.fround(u)).toBe(u);
      bins[Math.floor(u * 10)]++;
    }
    for (const b of bins) expect(Math.abs(b - 2000)).toBeLessThan(200);
  });
});

describe('sampleToken', () => {
  const logits = Float32Array.from([1, 3, 2, 3, -1, 0.5]);

  it('greedy = argmax, ties to the lowest id; logprob is temperature-1 log-softmax', () => {
    const r = sampleToken({ logits, params: params({ temperature: 0 }), step: 0 });
    expect(r.token).toBe(1);
    expect(argmax(logits)).toBe(1);
    const lse = Math.log([...logits].reduce((s, x) => s + Math.exp(x), 0));
    expect(r.logprob).toBeCloseTo(3 - lse, 6);
    const hot = sampleToken({ logits, params: params({ temperature: 5, seed: 3 }), step: 2 });
    expect(hot.logprob).toBeCloseTo(logprobOf(logits, hot.token), 12);
    expect(hot.logprob).toBeCloseTo(logits[hot.token] - lse, 6);
  });

  it('is reproducible for (seed, step) and varies across steps', () => {
    const draw = (seed: number, step: number) => sampleToken({ logits, params: params({ seed }), step }).token;
    const a = Array.from({ length: 50 }, (_, s) => draw(7, s));
    expect(Array.from({ length: 50 }, (_, s) => draw(7, s))).toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(2);
    expect(Array.from({ length: 50 }, (_, s) => draw(8, s))).not.toEqual(a);
  });

  it('top-k = 1 is greedy (lowest id on ties)', () => {
    for (let step = 0; step < 30; step++) expect(sampleToken({ logits, params: params({ topK: 1, temperature: 2, seed: step }), step }).token).toBe(1);
  });

  it('matches softmax(logits / T) in distribution', () => {
    const T = 0.7;
    const n = 20000;
    const counts = Array.from({ length: logits.length }, () => 0);
    for (let step = 0; step < n; step++) counts[sampleToken({ logits, params: params({ temperature: T, seed: 1 }), step }).token]++;
    const z = [...logits].map((x) => Math.exp(x / T));
    const sum = z.reduce((a, b) => a + b, 0);
    z.forEach((p, i) => expect(Math.abs(counts[i] / n - p / sum)).toBeLessThan(0.015));
  });

  it('top-k and top-p keep the documented sets', () => {
    const probsLogits = Float32Array.from([Math.log(0.1), Math.log(0.4), Math.log(0.2), Math.log(0.3)]);
    const kept = (p: Partial<Omit<SampleRow, 'step'>>) => [...filterCandidates(probsLogits, params(p)).kept].flatMap((k, i) => (k ? [i] : []));
    expect(kept({ topK: 2 })).toEqual([1, 3]);
    expect(kept({ topP: 0.5 })).toEqual([1, 3]); // 0.4 < 0.5, 0.4 + 0.3 >= 0.5
    expect(kept({ topP: 0.35 })).toEqual([1]);
    expect(kept({ topP: 0.95 })).toEqual([0, 1, 2, 3]);
    expect(kept({ topK: 3, topP: 0.7 })).toEqual([1, 3]); // renormalized over {1,3,2}: 0.444 + 0.333 >= 0.7
    for (let step = 0; step < 200; step++) expect([1, 3]).toContain(sampleToken({ logits: probsLogits, params: params({ topP: 0.5, seed: 5 }), step }).token);
  });

  it('draws what the inverse CDF over filterCandidates draws, bit for bit, whether or not top-k and top-p cut (the uncut draw shares its exponentials with the logprob)', () => {
    /** Steps 4-8 through the kept set the module documents (the path that cuts). */
    const byDefinition = (logits: Float32Array, p: Omit<SampleRow, 'step'>, step: number) => {
      const { kept, probs } = filterCandidates(p.adjust ? adjustLogits(logits, p.adjust) : logits, p);
      return drawInverseCdf(probs, (i) => kept[i] === 1, 1, uniform(p.seed, step));
    };
    let x = 7;
    const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let c = 0; c < 300; c++) {
      const vocab = [5, 64, 300, 2000][c % 4];
      const logits = Float32Array.from({ length: vocab }, () => (next() - 0.5) * [2, 12, 40][c % 3]);
      const p = params({ temperature: [1, 0.7, 1.6][c % 3], topK: [0, vocab, 3, 0][(c >> 2) % 4], topP: [1, 1, 0.8][(c >> 4) % 3], seed: c });
      if (c % 5 === 1) p.mask = maskOf(vocab, Array.from({ length: vocab }, (_, i) => i).filter(() => next() < 0.4).concat([0]));
      if (c % 7 === 2) p.adjust = logitAdjustments({ logitBias: new Map([[1, 4]]), frequencyPenalty: 0.5, counts: new Map([[2, 3]]) });
      for (const step of [0, 9]) {
        const got = sampleToken({ logits, params: p, step });
        expect({ c, step, token: got.token }).toEqual({ c, step, token: byDefinition(logits, p, step) });
        expect(got.logprob).toBe(logprobOf(logits, got.token));
      }
    }
  });

  it('validates parameters', () => {
    expect(() => validateSamplingParams(params({ temperature: -1 }))).toThrow(expect.objectContaining({ code: 'OPENLORA_ENGINE_SAMPLING_PARAMS' }));
    expect(() => validateSamplingParams(params({ topP: 0 }))).toThrow(/topP/);
    expect(() => validateSamplingParams(params({ topK: 1.5 }))).toThrow(/topK/);
    expect(() => validateSamplingParams(params())).not.toThrow();
  });
});

describe('masks, logit adjustments and top logprobs (steps 1-2 of the algorithm)', () => {
  const logits = Float32Array.from([1, 3, 2, 3, -1, 0.5]);

  it('a mask removes tokens from greedy and sampled draws; the logprob stays the model\'s own', () => {
    const mask = maskOf(6, [2, 4, 5]);
    expect(sampleToken({ logits, params: params({ temperature: 0, mask }), step: 0 }).token).toBe(2);
    for (let step = 0; step < 200; step++) {
      const r = sampleToken({ logits, params: params({ temperature: 1.5, mask, seed: 9 }), step });
      expect([2, 4, 5]).toContain(r.token);
      expect(r.logprob).toBeCloseTo(logprobOf(logits, r.token), 12);
    }
    expect(maskAllows(mask, 4)).toBe(true);
    expect(maskAllows(mask, 3)).toBe(false);
    expect(() => validateSamplingParams({ ...params(), mask: new Uint32Array(1) }, 6)).toThrow(/allows no token/);
    expect(() => validateSamplingParams({ ...params(), mask: Uint32Array.of(1 << 7) }, 6)).toThrow(/at or above the vocabulary/);
  });

  it('logit bias and penalties follow OpenAI\'s formula, rounded once to f32', () => {
    const adjust = logitAdjustments({ logitBias: new Map([[1, -5], [4, 10]]), presencePenalty: 0.5, frequencyPenalty: 0.25, counts: new Map([[1, 2], [2, 1]]) })!;
    expect([...adjust.ids]).toEqual([1, 2, 4]);
    expect([...adjust.deltas]).toEqual([Math.fround(-5 - 0.5 - 0.5), Math.fround(-0.75), 10]);
    expect(logitAdjustments({ counts: new Map([[1, 3]]) })).toBeUndefined();
    expect(sampleToken({ logits, params: params({ temperature: 0, adjust }), step: 0 }).token).toBe(4);
    expect(() => validateSamplingParams({ ...params(), adjust: { ids: Uint32Array.of(3, 2), deltas: Float32Array.of(1, 1) } }, 6)).toThrow(/ascending/);
  });

  it('top logprobs: the k largest raw logits, ties to the lower id', () => {
    const top = topLogprobs(logits, 3);
    expect([...top.ids]).toEqual([1, 3, 2]);
    top.ids.forEach((id, k) => expect(top.logprobs[k]).toBeCloseTo(logprobOf(logits, id), 5));
    expect([...topLogprobs(logits, 10).ids]).toEqual([1, 3, 2, 0, 5, 4]);
    const r = sampleToken({ logits, params: params({ temperature: 0, topLogprobs: 2, mask: maskOf(6, [0]) }), step: 0 });
    expect(r.token).toBe(0);
    expect([...r.top!.ids]).toEqual([1, 3]); // the model's own distribution, not the masked one
  });
});
