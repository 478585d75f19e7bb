import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, SamplingParams } from '../../src/engine/backend.ts';
import { createCpuBackend } from '../../src/engine/cpu/backend.ts';
import { maskOf } from '../../src/engine/sampling.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import { createScheduler, type SchedulerOptions } from '../../src/scheduler/scheduler.ts';
import type { GenerationEvent, GenerationRequest, TokenConstraint } from '../../src/scheduler/types.ts';
import { createTinyModel } from '../fixtures/model.ts';

const HOT: SamplingParams = { temperature: 1, topK: 0, topP: 1, seed: 77 };

interface Choice {
  tokens: number[];
  finish?: string;
  completionTokens?: number;
}

async function collect(stream: AsyncIterable<GenerationEvent>): Promise<Choice[]> {
  const out: Choice[] = [];
  for await (const e of stream) {
    out[e.choice] ??= { tokens: [] };
    if (e.type === 'token') out[e.choice].tokens.push(e.token);
    else {
      out[e.choice].finish = e.finishReason;
      out[e.choice].completionTokens = e.usage.completionTokens;
    }
  }
  return out;
}

const prompt = (n: number, salt: number) => Array.from({ length: n }, (_, i) => 32 + ((i * 7 + salt * 13) % 90));

let model: LoadedModel;
let backend: Backend;
beforeAll(async () => {
  model = await loadModel({ dir: await createTinyModel() });
  backend = await createCpuBackend({ model, numKvBlocks: 48 });
});
afterAll(async () => {
  backend?.destroy();
  await model?.close();
});

async function run(requests: GenerationRequest[], options: SchedulerOptions = {}) {
  const scheduler = createScheduler(options, { backend });
  const out = await Promise.all(requests.map((r) => collect(scheduler.submit(r))));
  const stats = scheduler.stats();
  await scheduler.stop();
  return { out, stats };
}

describe('n choices share the prompt KV blocks', () => {
  it('choice i is what a single request with seed + i gives; whole prompt blocks are computed once and every block returns', async () => {
    const p = prompt(45, 1); // 2 whole blocks shared, the last partial block computed per choice
    const { out, stats } = await run([{ promptIds: p, maxTokens: 12, sampling: HOT, n: 4 }]);
    const singles = await run([0, 1, 2, 3].map((i) => ({ promptIds: p, maxTokens: 12, sampling: { ...HOT, seed: HOT.seed + i } })));
    expect(out[0].map((c) => c.tokens)).toEqual(singles.out.map((o) => o[0].tokens));
    expect(new Set(out[0].map((c) => c.tokens.join())).size).toBeGreaterThan(1);
    expect(stats.tokensShared).toBe(32 * 3);
    expect(stats.kvBlocksFree).toBe(backend.numKvBlocks);
    expect(out[0].every((c) => c.completionTokens === c.tokens.length || c.finish === 'stop')).toBe(true);
  });

  it('short prompts share nothing; preemption under a tiny pool keeps every choice exact', async () => {
    const short = await run([{ promptIds: prompt(10, 2), maxTokens: 6, sampling: HOT, n: 3 }]);
    expect(short.stats.tokensShared).toBe(0);
    expect(short.out[0]).toHaveLength(3);
    const p = prompt(40, 3);
    const roomy = await run([{ promptIds: p, maxTokens: 40, sampling: HOT, n: 5 }]);
    const smallBackend = await createCpuBackend({ model, numKvBlocks: 12 });
    const small = createScheduler({}, { backend: smallBackend });
    const tight = await collect(small.submit({ promptIds: p, maxTokens: 40, sampling: HOT, n: 5 }));
    expect(small.stats().preemptions).toBeGreaterThan(0);
    expect(small.stats().kvBlocksFree).toBe(12);
    await small.stop();
    smallBackend.destroy();
    expect(tight.map((c) => c.tokens)).toEqual(roomy.out[0].map((c) => c.tokens));
  });

  it('one choice can be cancelled while the others go on', async () => {
    const scheduler = createScheduler({}, { backend });
    const stream = scheduler.submit({ promptIds: prompt(20, 4), maxTokens: 30, sampling: HOT, n: 3 });
    const out: Choice[] = [];
    for await (const e of stream) {
      out[e.choice] ??= { tokens: [] };
      if (e.type === 'token') {
        out[e.choice].tokens.push(e.token);
        if (e.choice === 1 && e.index === 2) stream.cancel(1);
      } else out[e.choice].finish = e.finishReason;
    }
    expect(out[1].finish).toBe('cancelled');
    expect(out[1].tokens.length).toBeLessThan(6);
    expect(out[0].tokens.length + out[2].tokens.length).toBeGreaterThan(20);
    expect(scheduler.stats().kvBlocksFree).toBe(backend.numKvBlocks);
    await scheduler.stop();
  });
});

describe('constraints and logit adjustments per row', () => {
  it('a constraint masks every draw, sees every token, and each choice has its own', async () => {
    const vocab = model.config.vocabSize;
    const seen: number[][] = [];
    const constraint = (): TokenConstraint => {
      const mine: number[] = [];
      seen.push(mine);
      return {
        mask: (remaining) => maskOf(vocab, Array.from({ length: vocab }, (_, t) => t).filter((t) => t % 3 === remaining % 3)),
        accept: (token) => void mine.push(token),
        forced: false,
      };
    };
    const { out } = await run([{ promptIds: prompt(20, 5), maxTokens: 10, sampling: HOT, n: 2, constraint }]);
    expect(seen).toHaveLength(2);
    expect(new Set(seen.map((s) => s.join()))).toEqual(new Set(out[0].map((c) => c.tokens.join())));
    for (const c of out[0]) c.tokens.forEach((t, k) => expect(t % 3).toBe((10 - k) % 3));
  });

  it('logit bias and penalties reach the draw', async () => {
    const { out } = await run([{ promptIds: prompt(8, 6), maxTokens: 8, sampling: { ...HOT, temperature: 0, logitBias: new Map([[65, 100]]) } }]);
    expect(out[0][0].tokens).toEqual(Array(8).fill(65));
    const penalized = await run([{ promptIds: prompt(8, 6), maxTokens: 8, sampling: { ...HOT, temperature: 0, logitBias: new Map([[65, 10]]), frequencyPenalty: 2 } }]);
    const a = penalized.out[0][0].tokens.filter((t) => t === 65).length;
    expect(a).toBeGreaterThan(0);
    expect(a).toBeLessThan(8);
  });
});
