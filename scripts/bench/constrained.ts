/**
 * Constrained decoding benchmark (not a test): `npm run bench:constrained [-- --backend auto|webgpu|cpu|reference]
 * [--rows 32] [--max-tokens 48] [--rounds 5] [--out FILE]`.
 *
 * What structured output costs the rest of a batch: `rows` requests decode together, all
 * unconstrained (baseline), then the same with a quarter of them held to a JSON Schema (grammar
 * masks computed on the host before each step, applied by the sampling kernel), side by side in
 * alternating rounds. Every row generates exactly `max-tokens` tokens (a finished JSON row keeps
 * drawing the end-of-sequence token), so both runs do the same work; the figure is the batch's
 * tokens/s, the cost the median over rounds of each round's ratio. Run on two vocabularies: openlora's byte tokenizer (264 ids) and Llama 3's (128,256
 * ids, the tiny shape with that vocabulary), where masks are a trie walk over 128k tokens.
 * Goal (issue 18): the mixed batch within 10% of the baseline's tokens/s.
 */
import { writeFile } from 'node:fs/promises';
import { createGrammarService } from '../../src/grammar/service.ts';
import { loadModel } from '../../src/model/load.ts';
import { createScheduler } from '../../src/scheduler/scheduler.ts';
import type { TokenConstraint } from '../../src/scheduler/types.ts';
import { benchBackend } from './lib/backend.ts';
import { cachedPreset, cachedTinyWithTokenizer } from './lib/models.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';
import { median } from './lib/stats.ts';

const args = benchArgs(import.meta.url, {
  backend: { type: 'string', default: 'auto' },
  rows: { type: 'string', default: '32' },
  'max-tokens': { type: 'string', default: '48' },
  rounds: { type: 'string', default: '5' },
  out: { type: 'string' },
});
const rows = positiveNumber('rows', args.rows);
const maxTokens = positiveNumber('max-tokens', args['max-tokens']);
const rounds = positiveNumber('rounds', args.rounds);
const constrainedRows = Math.round(rows / 4);
const log = (line: string) => process.stderr.write(`bench:constrained: ${line}\n`);

const schema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer' },
    role: { enum: ['admin', 'user', 'guest'] },
    scores: { type: 'array', items: { type: 'number' }, maxItems: 4 },
    address: { type: 'object', properties: { city: { type: 'string' }, zip: { type: ['string', 'null'] } }, required: ['city', 'zip'], additionalProperties: false },
  },
  required: ['name', 'age', 'role', 'scores', 'address'],
  additionalProperties: false,
};

interface VocabResult {
  vocab: string;
  /** The backend it ran on (`--backend auto` resolved). */
  backend: string;
  vocabSize: number;
  vocabIndexMs: number;
  baselineTokensPerSecond: number;
  mixedTokensPerSecond: number;
  /** 1 - mixed / baseline. */
  cost: number;
  /** Host time computing masks, per constrained token. */
  maskMsPerToken: number;
  maskCache: { hits: number; misses: number; bytes: number };
}

async function bench(vocab: 'byte' | 'llama3'): Promise<VocabResult> {
  const dir = vocab === 'byte' ? await cachedPreset('tiny', log) : await cachedTinyWithTokenizer('tokenizer-llama3', log);
  const model = await loadModel({ dir });
  const size = model.config.vocabSize;
  const numKvBlocks = rows * Math.ceil((16 + maxTokens) / 16) + 8;
  const backend = await benchBackend(args.backend!, { model, numKvBlocks, maxRows: 512, maxContext: 256 });
  const grammar = createGrammarService({ vocabSize: size, tokenBytes: () => model.tokenizer!.tokenBytes(size), eosTokenIds: model.generation.eosTokenIds });
  const t0 = performance.now();
  void grammar.vocab; // the index is built once per model, at the first constrained request
  const vocabIndexMs = performance.now() - t0;
  const compiled = grammar.compile({ format: { type: 'json_schema', schema, strict: true } });
  const scheduler = createScheduler({ maxRunning: rows, maxBatchTokens: 512 }, { backend });
  let maskMs = 0;
  let maskedTokens = 0;
  const timed = (c: TokenConstraint): TokenConstraint => ({
    mask(remaining) {
      const t = performance.now();
      const m = c.mask(remaining);
      maskMs += performance.now() - t;
      maskedTokens++;
      return m;
    },
    accept: (token) => c.accept(token),
    get forced() {
      return c.forced;
    },
  });
  /** One batch: `constrained` of the rows held to the schema; returns tokens/s. */
  const run = async (constrained: number, seed: number): Promise<number> => {
    const start = performance.now();
    let tokens = 0;
    await Promise.all(
      Array.from({ length: rows }, async (_, i) => {
        const promptIds = Array.from({ length: 16 }, (_, k) => (k * 31 + i * 7 + 11) % Math.min(size, 256));
        const stream = scheduler.submit({ promptIds, maxTokens, sampling: { temperature: 1, topK: 0, topP: 1, seed: seed + i }, stopTokenIds: [], ...(i < constrained ? { constraint: () => timed(grammar.constraint(compiled)) } : {}) });
        for await (const e of stream) if (e.type === 'token') tokens++;
      }),
    );
    return (tokens / (performance.now() - start)) * 1000;
  };
  await run(constrainedRows, 1); // warm-up: pipelines, the grammar's masks
  maskMs = maskedTokens = 0;
  const base: number[] = [];
  const mixed: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Side by side, the order alternating: the machine's drift affects both alike.
    const seed = 100 + r * rows;
    if (r % 2 === 0) {
      base.push(await run(0, seed));
      mixed.push(await run(constrainedRows, seed));
    } else {
      mixed.push(await run(constrainedRows, seed));
      base.push(await run(0, seed));
    }
    log(`${vocab} round ${r + 1}: baseline ${base.at(-1)!.toFixed(0)} tok/s, ${constrainedRows}/${rows} constrained ${mixed.at(-1)!.toFixed(0)} tok/s`);
  }
  await scheduler.stop();
  backend.destroy();
  const masks = grammar.stats().masks;
  // The cost is the median of each round's ratio (paired runs), not a ratio of medians.
  const cost = 1 - median(mixed.map((m, r) => m / base[r]));
  return { vocab, backend: backend.kind, vocabSize: size, vocabIndexMs, baselineTokensPerSecond: median(base), mixedTokensPerSecond: median(mixed), cost, maskMsPerToken: maskMs / Math.max(1, maskedTokens), maskCache: { hits: masks.hits, misses: masks.misses, bytes: masks.bytes } };
}

const results: VocabResult[] = [];
for (const vocab of ['byte', 'llama3'] as const) results.push(await bench(vocab));
const lines = results.map(
  (r) =>
    `constrained ${r.vocab} vocabulary (${r.vocabSize} ids, ${r.backend}, ${rows} rows x ${maxTokens} tokens): baseline ${r.baselineTokensPerSecond.toFixed(0)} tok/s, ${constrainedRows} of ${rows} rows constrained ${r.mixedTokensPerSecond.toFixed(0)} tok/s: cost ${(r.cost * 100).toFixed(1)}% (goal < 10%); masks ${r.maskMsPerToken.toFixed(3)} ms per constrained token, cache ${r.maskCache.hits} hits / ${r.maskCache.misses} misses; vocabulary index ${r.vocabIndexMs.toFixed(0)} ms once`,
);
process.stdout.write(lines.join('\n') + '\n');
if (args.out) await writeFile(args.out, JSON.stringify({ backend: results[0].backend, rows, maxTokens, constrainedRows, rounds, results }, null, 2) + '\n');
