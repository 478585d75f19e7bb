/**
 * CPU batch benchmark (not a test): `npm run bench:batch [-- --batches 1,2,4,8,16,32,64]
 * [--context 32] [--adapters 0] [--pages scattered|contiguous] [--steps 8] [--rounds 5] [--threads 2]
 * [--out FILE]`.
 *
 * What a bigger batch buys on the CPU backend, and what LoRA costs per row in each memory mode, at
 * the same rows: decode steps of `batch` sequences of `--context` positions on the tiny model (the
 * model `bench:memory` serves), three ways side by side in interleaved rounds (the order rotates):
 *  - base: no adapter rows;
 *  - split: each row's adapter in a padded slot (`lora.maxRank` 64);
 *  - unified: the same adapters written into pages of the KV pool (`src/lora/pages.ts`), read as
 *    runs of rows (`--pages scattered`, the default: no two pages of an adapter adjacent, the most
 *    runs; `contiguous`: consecutive ids, runs continuing across pages joined).
 * Adapters: `--adapters 0` gives each row its own (ranks 8/16/32/64 in turn, as `bench:memory`'s
 * Zipf stream runs about one adapter per row), N spreads the rows over N, each adapter's rows
 * next to each other as the scheduler orders them. Per batch: tokens/s of each way (median of the
 * rounds), the ratio to the batch half its size (does the batch still scale?), unified over split
 * (median of the rounds' ratios), and the milliseconds per step in each phase of the pass
 * (`CpuStepProfile`: base projections and lm_head, LoRA shrink and expand, attention, norms and
 * the rest, sampling; each includes waiting for the worker threads' share), with the load average.
 * `--threads 1,2` runs every figure at each thread count (does the second core help?); with one
 * thread the line also gives tokens per CPU second of the step's work (this thread's CPU time),
 * which a busy machine disturbs far less than wall time.
 */
import { writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { KV_BLOCK_SIZE, kvBlockBytes, type LoraWeights, type StepSequence } from '../../src/engine/backend.ts';
import { createCpuBackend, type CpuBackend } from '../../src/engine/cpu/backend.ts';
import type { CpuStepProfile } from '../../src/engine/cpu/stepProfile.ts';
import { adapterTargets, layoutAdapterPages, rowPages } from '../../src/lora/pages.ts';
import { loadPeftAdapter } from '../../src/lora/peft.ts';
import { loadModel } from '../../src/model/load.ts';
import { namedAdapters } from './lib/adapters.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';
import { cachedPreset } from './lib/models.ts';
import { median } from './lib/stats.ts';

const args = benchArgs(import.meta.url, {
  batches: { type: 'string', default: '1,2,4,8,16,32,64' },
  context: { type: 'string', default: '32' },
  adapters: { type: 'string', default: '0' },
  steps: { type: 'string', default: '8' },
  rounds: { type: 'string', default: '5' },
  threads: { type: 'string', default: String(availableParallelism()) },
  pages: { type: 'string', default: 'scattered' },
  out: { type: 'string' },
});
const list = (flag: string, value: string) => value.split(',').map((x) => positiveNumber(flag, x));
const batches = list('batches', args.batches);
const threadCounts = list('threads', args.threads);
const context = positiveNumber('context', args.context);
const steps = positiveNumber('steps', args.steps);
const rounds = positiveNumber('rounds', args.rounds);
const adapterCount = Number(args.adapters);
if (!Number.isInteger(adapterCount) || adapterCount < 0) throw new Error(`--adapters must be 0 (one adapter per row) or a positive count, got ${args.adapters}`);
const pagesOrder = args.pages;
if (pagesOrder !== 'scattered' && pagesOrder !== 'contiguous') throw new Error(`--pages must be scattered (no two pages of an adapter adjacent) or contiguous, got ${pagesOrder}`);
const RANKS = [8, 16, 32, 64];
const MAX_RANK = 64;
const MODES = ['base', 'split', 'unified'] as const;
type Mode = (typeof MODES)[number];
const log = (line: string) => process.stderr.write(`bench:batch: ${line}\n`);
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

const modelDir = await cachedPreset('tiny', log);
const model = await loadModel({ dir: modelDir });
const config = model.config;
const maxBatch = Math.max(...batches);
const slots = adapterCount === 0 ? maxBatch : adapterCount;
const files = namedAdapters({ preset: 'tiny', modelDir, distinct: 8 });
const weights: LoraWeights[] = [];
for (let a = 0; a < slots; a++) weights.push((await loadPeftAdapter({ dir: await files.file(RANKS[a % RANKS.length], Math.floor(a / RANKS.length) % 8), config })).weights);

const blocksPerSeq = Math.ceil((context + steps) / KV_BLOCK_SIZE);
const kvBlocks = maxBatch * blocksPerSeq;
const pageBytes = kvBlockBytes(config);
const adapterPages = weights.map((w) => layoutAdapterPages({ config, rank: w.rank, targets: adapterTargets(config, w), geometry: rowPages(pageBytes) }));

/** The three backends at `threads` threads, adapters loaded, every sequence's context prefilled. */
async function backends(threads: number): Promise<Record<Mode, CpuBackend>> {
  const common = { model, maxRows: Math.max(512, maxBatch), maxLoraRank: MAX_RANK, threads, profile: true };
  const made = {
    base: await createCpuBackend({ ...common, numKvBlocks: kvBlocks, loraSlots: 0 }),
    split: await createCpuBackend({ ...common, numKvBlocks: kvBlocks, loraSlots: slots }),
    unified: await createCpuBackend({ ...common, numKvBlocks: kvBlocks + adapterPages.reduce((a, b) => a + b, 0), loraSlots: slots, pageBytes }),
  };
  const ids = pageIds();
  for (const [a, w] of weights.entries()) {
    await made.split.lora.load(a, w);
    await made.unified.lora.load(a, w, undefined, ids[a]);
  }
  const prompt = Array.from({ length: context }, (_, i) => 32 + ((i * 7) % 200));
  for (const mode of MODES) {
    await made[mode].step(Array.from({ length: maxBatch }, (_, s) => ({ tokens: prompt, startPos: 0, blockTable: table(s), adapterSlot: mode === 'base' ? -1 : adapterOf(s, maxBatch) })));
    made[mode].takeProfile();
  }
  return made;
}

/**
 * Each adapter's page ids, after the KV blocks': `--pages scattered` deals them out in turn, so no
 * two pages of an adapter follow each other (every run a task of its own, the most tasks a
 * layout gives), `contiguous` gives each adapter consecutive ids (runs that continue across a
 * page boundary join).
 */
function pageIds(): number[][] {
  const ids: number[][] = adapterPages.map(() => []);
  let next = kvBlocks;
  if (pagesOrder === 'contiguous') adapterPages.forEach((n, a) => ids[a].push(...Array.from({ length: n }, () => next++)));
  else for (let round = 0; round < Math.max(...adapterPages); round++) for (const [a, n] of adapterPages.entries()) if (round < n) ids[a].push(next++);
  return ids;
}

const table = (s: number) => Array.from({ length: blocksPerSeq }, (_, b) => s * blocksPerSeq + b);
/** Row `s` of a batch of `batch`: its own adapter, or the rows spread over `--adapters` in runs. */
const adapterOf = (s: number, batch: number) => (adapterCount === 0 ? s : Math.floor((s * Math.min(adapterCount, batch)) / batch));

/** `steps` decode steps of `batch` sequences (positions context.. rewritten each time): milliseconds per step and per phase. */
async function measure(backend: CpuBackend, mode: Mode, batch: number): Promise<{ ms: number; cpuMs: number; phases: CpuStepProfile }> {
  const seqs = (step: number): StepSequence[] =>
    Array.from({ length: batch }, (_, s) => ({ tokens: [40 + ((s + step) % 100)], startPos: context + step, blockTable: table(s), adapterSlot: mode === 'base' ? -1 : adapterOf(s, batch), sample: { temperature: 0, topK: 0, topP: 1, seed: 0, step } }));
  backend.takeProfile();
  const started = performance.now();
  const cpu = process.threadCpuUsage();
  for (let step = 0; step < steps; step++) await backend.step(seqs(step));
  const ms = (performance.now() - started) / steps;
  const used = process.threadCpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000 / steps;
  const phases = backend.takeProfile()!;
  for (const key of Object.keys(phases) as (keyof CpuStepProfile)[]) phases[key] /= steps;
  return { ms, cpuMs, phases };
}

interface Sample {
  threads: number;
  batch: number;
  mode: Mode;
  round: number;
  ms: number;
  /** CPU milliseconds of this thread per step: with `--threads 1` the whole step's work, whatever else the machine runs. */
  cpuMs: number;
  phases: CpuStepProfile;
}
const samples: Sample[] = [];
for (const threads of threadCounts) {
  const made = await backends(threads);
  for (const batch of batches) for (const mode of MODES) await measure(made[mode], mode, batch); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const [i, batch] of batches.entries()) {
      const order = MODES.map((_, k) => MODES[(k + round + i) % MODES.length]);
      for (const mode of order) samples.push({ threads, batch, mode, round, ...(await measure(made[mode], mode, batch)) });
    }
    log(`threads ${threads} round ${round + 1} of ${rounds} (load ${load()})`);
  }
  for (const b of Object.values(made)) b.destroy();
}
await model.close();

const of = (threads: number, batch: number, mode: Mode) => samples.filter((x) => x.threads === threads && x.batch === batch && x.mode === mode);
const tokensPerSecond = (threads: number, batch: number, mode: Mode, clock: 'ms' | 'cpuMs' = 'ms') => median(of(threads, batch, mode).map((x) => (batch * 1000) / x[clock]));
const phasesOf = (threads: number, batch: number, mode: Mode): CpuStepProfile => {
  const xs = of(threads, batch, mode);
  return Object.fromEntries(Object.keys(xs[0].phases).map((key) => [key, median(xs.map((x) => x.phases[key as keyof CpuStepProfile]))])) as unknown as CpuStepProfile;
};
const ratio = (threads: number, batch: number, a: Mode, b: Mode, clock: 'ms' | 'cpuMs') => {
  const xs = of(threads, batch, a);
  const ys = of(threads, batch, b);
  return median(xs.map((x, i) => ys[i][clock] / x[clock]));
};
const summary = threadCounts.flatMap((threads) =>
  batches.map((batch) => {
    const half = batches.includes(batch / 2) ? batch / 2 : undefined;
    return {
      threads,
      batch,
      tokensPerSecond: Object.fromEntries(MODES.map((m) => [m, tokensPerSecond(threads, batch, m)])) as Record<Mode, number>,
      /** Tokens/s over the batch half this size's (1: no gain from batching). */
      overHalf: half === undefined ? null : (Object.fromEntries(MODES.map((m) => [m, tokensPerSecond(threads, batch, m) / tokensPerSecond(threads, half, m)])) as Record<Mode, number>),
      /** With one thread: tokens per CPU second of the step's work (robust to a busy machine), and over the batch half this size's. */
      perCpuSecond: threads !== 1 ? null : (Object.fromEntries(MODES.map((m) => [m, tokensPerSecond(1, batch, m, 'cpuMs')])) as Record<Mode, number>),
      perCpuSecondOverHalf: threads !== 1 || half === undefined ? null : (Object.fromEntries(MODES.map((m) => [m, tokensPerSecond(1, batch, m, 'cpuMs') / tokensPerSecond(1, half, m, 'cpuMs')])) as Record<Mode, number>),
      /** Unified's tokens/s over split's (median of the rounds' ratios; with one thread, of CPU time). */
      unifiedOverSplit: ratio(threads, batch, 'unified', 'split', threads === 1 ? 'cpuMs' : 'ms'),
      /** Milliseconds per step per phase (medians). */
      phases: Object.fromEntries(MODES.map((m) => [m, phasesOf(threads, batch, m)])) as Record<Mode, CpuStepProfile>,
    };
  }),
);
const f = (x: number) => x.toFixed(3);
const phaseText = (p: CpuStepProfile) => `matmul ${f(p.matmul)} lora ${f(p.lora)} attention ${f(p.attention)} other ${f(p.other)} sampling ${f(p.logits)}`;
const lines = [
  `cpu batch (tiny, ${context}-position contexts, ${adapterCount === 0 ? 'one adapter per row' : `rows over ${adapterCount} adapters`}, pages ${pagesOrder}, ranks ${RANKS.join('/')}, ${steps} decode steps per figure, ${rounds} interleaved rounds); load ${load()}`,
  ...summary.map(
    (s) =>
      `batch ${s.batch} threads ${s.threads}: tokens/s base ${s.tokensPerSecond.base.toFixed(0)}, split ${s.tokensPerSecond.split.toFixed(0)}, unified ${s.tokensPerSecond.unified.toFixed(0)}` +
      (s.overHalf ? `; over batch ${s.batch / 2}: base ${s.overHalf.base.toFixed(2)}x, split ${s.overHalf.split.toFixed(2)}x, unified ${s.overHalf.unified.toFixed(2)}x` : '') +
      (s.perCpuSecond ? `; per CPU second: base ${s.perCpuSecond.base.toFixed(0)}, split ${s.perCpuSecond.split.toFixed(0)}, unified ${s.perCpuSecond.unified.toFixed(0)}` : '') +
      (s.perCpuSecondOverHalf ? ` (over batch ${s.batch / 2}: base ${s.perCpuSecondOverHalf.base.toFixed(2)}x, split ${s.perCpuSecondOverHalf.split.toFixed(2)}x, unified ${s.perCpuSecondOverHalf.unified.toFixed(2)}x)` : '') +
      `; unified ${s.unifiedOverSplit.toFixed(2)}x split${s.threads === 1 ? ' (CPU time)' : ''}; ms per step split: ${phaseText(s.phases.split)}; unified: ${phaseText(s.phases.unified)}; base: ${phaseText(s.phases.base)}`,
  ),
];
process.stdout.write(lines.join('\n') + '\n');
if (args.out) await writeFile(args.out, JSON.stringify({ context, adapters: adapterCount, pages: pagesOrder, steps, rounds, summary, loadAverage: loadavg() }, null, 2) + '\n');
