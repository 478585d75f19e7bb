/**
 * Fair scheduling benchmark (not a test): `npm run bench:fairness [-- --backend auto|webgpu|cpu|reference]
 * [--seconds 30] [--max-running 16] [--out FILE]`.
 *
 * Four payers share one node: three light ones and a heavy one sending 10x their requests
 * (Poisson arrivals, 32-token prompts, 32 generated tokens each). Their demand together is 1.3x
 * what the node can serve (measured first, closed loop), the light ones asking 10% each, below
 * their fair quarter. Runs, side by side: the light payers alone (an unloaded node), all four with
 * per-payer virtual token counters (`vtc`, the default, which preempts for a payer below its
 * share of the slots: `fairSlots.ts`), the same without that preemption, and all four first come
 * first served (`fifo`). Requests still running when a run's window closes count with their time so far.
 * Goals (issue 18): under vtc, the light payers' throughput within 20% of each other, and their p99
 * latency within 2x of the unloaded node's. Poisson demand itself varies by payer over a window,
 * so the spread is also given on the fraction of its demanded tokens each light payer was served.
 */
import { writeFile } from 'node:fs/promises';
import { loadModel } from '../../src/model/load.ts';
import { createScheduler, type Scheduler } from '../../src/scheduler/scheduler.ts';
import { uniform } from './lib/loraTraffic.ts';
import { percentile } from './lib/stats.ts';
import { benchBackend } from './lib/backend.ts';
import { cachedPreset } from './lib/models.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';

const args = benchArgs(import.meta.url, {
  backend: { type: 'string', default: 'auto' },
  seconds: { type: 'string', default: '30' },
  'max-running': { type: 'string', default: '16' },
  out: { type: 'string' },
});
const seconds = positiveNumber('seconds', args.seconds);
const maxRunning = positiveNumber('max-running', args['max-running']);
const PROMPT = 32;
const TOKENS = 32;
const DEMAND = [1, 1, 1, 10]; // light, light, light, heavy
const OVERLOAD = 1.3;
const log = (line: string) => process.stderr.write(`bench:fairness: ${line}\n`);

const model = await loadModel({ dir: await cachedPreset('tiny', log) });
const numKvBlocks = 2048;
const backend = await benchBackend(args.backend!, { model, numKvBlocks, maxRows: 512, maxContext: 256 });
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const promptOf = (i: number) => Array.from({ length: PROMPT }, (_, k) => 32 + ((k * 7 + i * 13) % 90));

/** Runs one request to its end (or the signal); resolves with its generated tokens. */
async function serve(scheduler: Scheduler, payer: string, i: number, signal: AbortSignal, onToken: () => void): Promise<void> {
  for await (const e of scheduler.submit({ promptIds: promptOf(i), maxTokens: TOKENS, sampling: greedy, stopTokenIds: [], payer, signal })) if (e.type === 'token') onToken();
}

/** Closed loop at maxRunning concurrency: the node's completion tokens/s. */
async function capacity(): Promise<number> {
  const scheduler = createScheduler({ maxRunning, maxBatchTokens: 512 }, { backend });
  const run = async (count: number) => {
    let tokens = 0;
    const start = performance.now();
    await Promise.all(Array.from({ length: count }, (_, i) => serve(scheduler, 'calibration', i, new AbortController().signal, () => tokens++)));
    return (tokens / (performance.now() - start)) * 1000;
  };
  await run(maxRunning); // warm-up
  const rate = await run(maxRunning * 4);
  await scheduler.stop();
  return rate;
}

interface PayerResult {
  payer: string;
  demand: number;
  requests: number;
  completed: number;
  /** Generated tokens within the window over what its requests arriving in the window asked for. */
  served: number;
  /** Generated tokens within the window, per second. */
  tokensPerSecond: number;
  latencyMs: { p50: number; p99: number };
}

/** Open-loop Poisson traffic of the given payers for `seconds`; requests that arrived count until the window (plus one request's worth) closes. */
/** One run: each payer's figures, the preemptions (memory and fair-slot) and every payer's generated tokens/s together. */
interface Run {
  payers: PayerResult[];
  preemptions: number;
  /** Sequences paused for a payer below its share of the slots. */
  pauses: number;
  tokensPerSecond: number;
}

async function traffic(policy: 'vtc' | 'fifo', payers: number[], requestsPerSecond: number, preempt = true): Promise<Run> {
  const scheduler = createScheduler({ maxRunning, maxBatchTokens: 512, fairness: { policy, preempt } }, { backend });
  const abort = new AbortController();
  const windowMs = seconds * 1000;
  const start = performance.now();
  const results = payers.map((p) => ({ payer: `payer-${p}${DEMAND[p] > 1 ? '-heavy' : ''}`, demand: DEMAND[p], requests: 0, completed: 0, tokens: 0, latencies: [] as number[] }));
  const runs: Promise<void>[] = [];
  payers.forEach((p, k) => {
    const u = uniform(1000 + p);
    const rate = requestsPerSecond * DEMAND[p];
    for (let t = -Math.log(1 - u()) / rate; t * 1000 < windowMs; t += -Math.log(1 - u()) / rate) {
      const at = t * 1000;
      const r = results[k];
      runs.push(
        (async () => {
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + at - performance.now())));
          const arrived = performance.now();
          r.requests++;
          let done = false;
          await serve(scheduler, r.payer, r.requests, abort.signal, () => {
            if (performance.now() - start <= windowMs) r.tokens++;
          })
            .then(() => (done = true))
            .catch(() => undefined);
          if (done) r.completed++;
          r.latencies.push(performance.now() - arrived);
        })(),
      );
    }
  });
  // The window, then as long as one unloaded request takes, then whatever is left is cut.
  setTimeout(() => abort.abort(), windowMs + 5_000);
  await Promise.all(runs);
  const { preemptions, pauses } = scheduler.stats();
  await scheduler.stop();
  return {
    payers: results.map((r) => ({ payer: r.payer, demand: r.demand, requests: r.requests, completed: r.completed, served: r.tokens / (r.requests * TOKENS), tokensPerSecond: r.tokens / seconds, latencyMs: { p50: percentile(r.latencies, 0.5), p99: percentile(r.latencies, 0.99) } })),
    preemptions,
    pauses,
    tokensPerSecond: results.reduce((n, r) => n + r.tokens, 0) / seconds,
  };
}

const tokensPerSecond = await capacity();
const requestsPerSecond = tokensPerSecond / TOKENS; // at capacity
const light = (OVERLOAD * requestsPerSecond) / DEMAND.reduce((a, b) => a + b, 0); // one light payer's requests/s
log(`capacity ${tokensPerSecond.toFixed(0)} tok/s (${requestsPerSecond.toFixed(1)} requests/s at ${maxRunning} running); light payers ${light.toFixed(2)} requests/s each, heavy ${(light * 10).toFixed(2)}`);
const describe = (run: Run) => `${run.payers.map((r) => `${r.payer} ${r.tokensPerSecond.toFixed(0)} tok/s p99 ${r.latencyMs.p99.toFixed(0)} ms`).join(', ')}; all ${run.tokensPerSecond.toFixed(0)} tok/s, ${run.pauses} pauses, ${run.preemptions} preemptions`;
const unloaded = await traffic('vtc', [0, 1, 2], light);
log(`unloaded (light payers alone): ${describe(unloaded)}`);
const vtc = await traffic('vtc', [0, 1, 2, 3], light);
log(`vtc: ${describe(vtc)}`);
const vtcQueued = await traffic('vtc', [0, 1, 2, 3], light, false);
log(`vtc without fair-slot preemption: ${describe(vtcQueued)}`);
const fifo = await traffic('fifo', [0, 1, 2, 3], light);
log(`fifo: ${describe(fifo)}`);
backend.destroy();

const lightOf = (run: Run) => run.payers.filter((r) => r.demand === 1);
const spread = (run: Run, key: 'tokensPerSecond' | 'served') => {
  const t = lightOf(run).map((r) => r[key]);
  return Math.max(...t) / Math.min(...t) - 1;
};
const p99 = (run: Run) => Math.max(...lightOf(run).map((r) => r.latencyMs.p99));
const count = (run: Run) => lightOf(run).reduce((n, r) => n + r.requests, 0);
const summary = {
  lightThroughputSpread: { vtc: spread(vtc, 'tokensPerSecond'), fifo: spread(fifo, 'tokensPerSecond'), unloaded: spread(unloaded, 'tokensPerSecond') },
  lightServedSpread: { vtc: spread(vtc, 'served'), fifo: spread(fifo, 'served') },
  lightServed: { vtc: lightOf(vtc).map((r) => r.served), fifo: lightOf(fifo).map((r) => r.served) },
  lightP99Ratio: { vtc: p99(vtc) / p99(unloaded), vtcWithoutPreemption: p99(vtcQueued) / p99(unloaded), fifo: p99(fifo) / p99(unloaded) },
  lightRequests: { unloaded: count(unloaded), vtc: count(vtc) },
  allTokensPerSecond: { vtc: vtc.tokensPerSecond, vtcWithoutPreemption: vtcQueued.tokensPerSecond, fifo: fifo.tokensPerSecond },
  pauses: vtc.pauses,
  preemptions: { vtc: vtc.preemptions, vtcWithoutPreemption: vtcQueued.preemptions, fifo: fifo.preemptions },
  heavyTokensPerSecond: { vtc: vtc.payers[3].tokensPerSecond, vtcWithoutPreemption: vtcQueued.payers[3].tokensPerSecond, fifo: fifo.payers[3].tokensPerSecond },
};
const lines = [
  `fairness capacity: ${tokensPerSecond.toFixed(0)} tok/s (${backend.kind}, tiny, ${maxRunning} running); demand 1x/1x/1x/10x = ${OVERLOAD}x capacity, ${seconds} s windows`,
  `fairness light payers' throughput spread: vtc ${(summary.lightThroughputSpread.vtc * 100).toFixed(1)}% (goal <= 20%), fifo ${(summary.lightThroughputSpread.fifo * 100).toFixed(1)}%, their demand alone (unloaded) ${(summary.lightThroughputSpread.unloaded * 100).toFixed(1)}%`,
  `fairness light payers' share of their demand served: vtc ${summary.lightServed.vtc.map((x) => (x * 100).toFixed(0)).join('/')}% (spread ${(summary.lightServedSpread.vtc * 100).toFixed(1)}%), fifo ${summary.lightServed.fifo.map((x) => (x * 100).toFixed(0)).join('/')}%`,
  `fairness light payers' p99 latency vs unloaded: vtc ${summary.lightP99Ratio.vtc.toFixed(2)}x (goal <= 2x; ${p99(vtc).toFixed(0)} ms vs ${p99(unloaded).toFixed(0)} ms; ${summary.lightRequests.vtc} and ${summary.lightRequests.unloaded} light requests), without fair-slot preemption ${summary.lightP99Ratio.vtcWithoutPreemption.toFixed(2)}x (${p99(vtcQueued).toFixed(0)} ms), fifo ${summary.lightP99Ratio.fifo.toFixed(2)}x (${p99(fifo).toFixed(0)} ms)`,
  `fairness heavy payer: vtc ${summary.heavyTokensPerSecond.vtc.toFixed(0)} tok/s, without fair-slot preemption ${summary.heavyTokensPerSecond.vtcWithoutPreemption.toFixed(0)} tok/s, fifo ${summary.heavyTokensPerSecond.fifo.toFixed(0)} tok/s; every payer vtc ${vtc.tokensPerSecond.toFixed(0)} tok/s (${vtc.pauses} pauses, ${vtc.preemptions} preemptions), without fair-slot preemption ${vtcQueued.tokensPerSecond.toFixed(0)} (${vtcQueued.preemptions}), fifo ${fifo.tokensPerSecond.toFixed(0)} (${fifo.preemptions}); light payers each vtc ${lightOf(vtc).map((r) => r.tokensPerSecond.toFixed(0)).join('/')} tok/s, fifo ${lightOf(fifo).map((r) => r.tokensPerSecond.toFixed(0)).join('/')} tok/s, unloaded ${lightOf(unloaded).map((r) => r.tokensPerSecond.toFixed(0)).join('/')} tok/s`,
];
process.stdout.write(lines.join('\n') + '\n');
if (args.out) await writeFile(args.out, JSON.stringify({ backend: backend.kind, maxRunning, seconds, capacityTokensPerSecond: tokensPerSecond, demand: DEMAND, overload: OVERLOAD, unloaded, vtc, vtcWithoutPreemption: vtcQueued, fifo, summary }, null, 2) + '\n');
