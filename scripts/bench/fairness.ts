/**
 * Fair scheduling benchmark (not a test): `npm run bench:fairness [-- --backend auto|webgpu|cpu|reference]
 * [--seconds 30] [--max-running 16] [--rounds 1] [--overload 1.3] [--clock real|virtual] [--step-ms 0.8,0.15] [--out FILE]`.
 *
 * Four payers share one node: three light ones and a heavy one sending 10x their requests
 * (Poisson arrivals, 32-token prompts, 32 generated tokens each). Their demand together is 1.3x
 * what the node can serve (measured at the start of each round, closed loop), the light ones asking
 * 10% each, below their fair quarter. Each round runs, side by side in an order rotated per round:
 * the light payers alone (an unloaded node), all four with per-payer virtual token counters (`vtc`,
 * the default, which pauses a sequence for a payer below its share of the slots: `fairSlots.ts`),
 * the same without that, and all four first come first served (`fifo`); figures are medians of the
 * rounds' ratios. Requests still running when a run's window closes count with their time so far.
 * Goals (issue 18): under vtc, the light payers' throughput within 20% of each other, and their p99
 * latency within 2x of the unloaded node's. Poisson demand itself varies by payer over a window,
 * so the spread is also given on the fraction of its demanded tokens each light payer was served.
 *
 * Where the light payers' tail comes from: each run's JSON keeps its slowest light requests split
 * into queue wait (arrival to first step), time out of the running set after it (paused for fair
 * slots or preempted) and time in service (the rest), with the engine steps run during the request
 * (how many, how long, how many rows) beside the run's median step; and the process's CPU seconds
 * per wall second in the run (on a shared machine, less CPU for the same work is other processes').
 * `--clock virtual` times everything on a simulated engine instead (`lib/virtualClock.ts`: a step
 * of R rows costs BASE + PER_ROW x R virtual ms, `--step-ms`, the default near the CPU backend's on
 * the tiny model here; its tokens come at once): the same traffic and the same scheduler, with
 * nothing of the machine's load in the figures, so what is left of a tail is the scheduler's.
 */
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { loadModel } from '../../src/model/load.ts';
import { createScheduler, type Scheduler } from '../../src/scheduler/scheduler.ts';
import type { GenerationEvent } from '../../src/scheduler/types.ts';
import { uniform } from './lib/loraTraffic.ts';
import { median, percentile } from './lib/stats.ts';
import { benchBackend } from './lib/backend.ts';
import { cachedPreset } from './lib/models.ts';
import { benchArgs, oneOf, positiveNumber } from './lib/args.ts';
import { createVirtualClock } from './lib/virtualClock.ts';

const args = benchArgs(import.meta.url, {
  backend: { type: 'string', default: 'auto' },
  seconds: { type: 'string', default: '30' },
  'max-running': { type: 'string', default: '16' },
  rounds: { type: 'string', default: '1' },
  overload: { type: 'string', default: '1.3' },
  clock: { type: 'string', default: 'real' },
  'step-ms': { type: 'string', default: '0.8,0.15' },
  out: { type: 'string' },
});
const seconds = positiveNumber('seconds', args.seconds);
const maxRunning = positiveNumber('max-running', args['max-running']);
const roundCount = positiveNumber('rounds', args.rounds);
const virtual = oneOf('clock', args.clock, ['real', 'virtual']) === 'virtual';
const [stepBaseMs, stepRowMs] = args['step-ms']!.split(',').map((x, i) => positiveNumber(`step-ms (${i === 0 ? 'BASE' : 'PER_ROW'} of BASE,PER_ROW)`, x));
/** The clock a run is timed on: this machine's, or (--clock virtual) a simulated engine's, each from 0 at the run's start. */
function runClock() {
  const sim = virtual ? createVirtualClock((rows) => stepBaseMs + stepRowMs * rows) : undefined;
  const start = performance.now();
  return {
    sim,
    now: sim ? () => sim.now() : () => performance.now() - start,
    until: (at: number) => (sim ? sim.at(at) : new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, start + at - performance.now())))),
    engine: sim ? sim.engine(backend) : backend,
  };
}
const PROMPT = 32;
const TOKENS = 32;
const DEMAND = [1, 1, 1, 10]; // light, light, light, heavy
const OVERLOAD = positiveNumber('overload', args.overload);
const log = (line: string) => process.stderr.write(`bench:fairness: ${line}\n`);

const model = await loadModel({ dir: await cachedPreset('tiny', log) });
const numKvBlocks = 2048;
const backend = await benchBackend(args.backend!, { model, numKvBlocks, maxRows: 512, maxContext: 256 });
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const promptOf = (i: number) => Array.from({ length: PROMPT }, (_, k) => 32 + ((k * 7 + i * 13) % 90));

/** Where one request's time went (its `done` event). */
type Done = Extract<GenerationEvent, { type: 'done' }>;

/** Runs one request to its end (or the signal); resolves with its `done` event (undefined when cut). */
async function serve(scheduler: Scheduler, payer: string, i: number, signal: AbortSignal, onToken: () => void): Promise<Done | undefined> {
  let done: Done | undefined;
  for await (const e of scheduler.submit({ promptIds: promptOf(i), maxTokens: TOKENS, sampling: greedy, stopTokenIds: [], payer, signal })) {
    if (e.type === 'token') onToken();
    else done = e;
  }
  return done;
}

/** Closed loop at maxRunning concurrency: the node's completion tokens/s. */
async function capacity(): Promise<number> {
  const clock = runClock();
  const scheduler = createScheduler({ maxRunning, maxBatchTokens: 512 }, { backend: clock.engine, now: clock.now });
  const run = async (count: number) => {
    let tokens = 0;
    const start = clock.now();
    await Promise.all(Array.from({ length: count }, (_, i) => serve(scheduler, 'calibration', i, new AbortController().signal, () => tokens++)));
    return (tokens / (clock.now() - start)) * 1000;
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
  /** Times its sequences were paused for fair slots. */
  pauses: number;
}

/** One request of a light payer, where its time went (ms; `at` from the run's start). */
interface RequestTrace {
  payer: string;
  at: number;
  latencyMs: number;
  /** Arrival to its first step. */
  queuedMs: number;
  /** Out of the running set after its first step: paused for fair slots, or preempted. */
  outMs: number;
  /** The rest: in the running set. */
  serviceMs: number;
  pauses: number;
  preemptions: number;
  /** Engine steps that ended while it was in the scheduler, their mean and longest time and mean rows. */
  steps: number;
  stepMsMean: number;
  stepMsMax: number;
  rowsMean: number;
  /** Whether the window's end cut it. */
  cut: boolean;
}

/** One engine step, ms from the run's start. */
interface StepTrace {
  end: number;
  ms: number;
  rows: number;
  sequences: number;
}

/** One run: each payer's figures, the preemptions (memory and fair-slot) and every payer's generated tokens/s together. */
interface Run {
  payers: PayerResult[];
  preemptions: number;
  /** Sequences paused for a payer below its share of the slots. */
  pauses: number;
  tokensPerSecond: number;
  /** Tokens asked for per second over those served: the overload the run really applied (the capacity measured before it may not hold on a shared machine). */
  overload: number;
  /** The process's CPU seconds per wall second over the run, and the load average at its end. */
  cpuPerWall: number;
  loadAverage: number;
  /** The engine's steps: how many, median and p99 ms, median rows. */
  steps: { count: number; msP50: number; msP99: number; rowsP50: number };
  /** Light requests at the p99 of their payer's latency or above, slowest first, and the light requests' p99 of each part. */
  lightTail: RequestTrace[];
  lightP99Parts: { queuedMs: number; outMs: number; serviceMs: number };
}

/** How many of the slowest light requests each run keeps in its JSON. */
const TAIL_KEPT = 6;

/** The steps that ended while a request was in the scheduler. */
function stepsDuring(steps: readonly StepTrace[], from: number, to: number) {
  const during = steps.filter((s) => s.end >= from && s.end <= to);
  const ms = during.map((s) => s.ms);
  return { steps: during.length, stepMsMean: ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length), stepMsMax: Math.max(0, ...ms), rowsMean: during.reduce((a, s) => a + s.rows, 0) / Math.max(1, during.length) };
}

/** Open-loop Poisson traffic of the given payers for `seconds`; requests that arrived count until the window (plus one request's worth) closes. */
async function traffic(policy: 'vtc' | 'fifo', payers: number[], requestsPerSecond: number, preempt: boolean, round: number): Promise<Run> {
  const steps: StepTrace[] = [];
  const clock = runClock();
  const onStep = (s: { sequences: number; rows: number; seconds: number }) => steps.push({ end: clock.now(), ms: clock.sim ? clock.sim.lastStepMs : s.seconds * 1000, rows: s.rows, sequences: s.sequences });
  const scheduler = createScheduler({ maxRunning, maxBatchTokens: 512, fairness: { policy, preempt } }, { backend: clock.engine, onStep, now: clock.now });
  const stopIdle = clock.sim?.idle(() => scheduler.stats().waiting + scheduler.stats().running > 0);
  const abort = new AbortController();
  const windowMs = seconds * 1000;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const traces: Omit<RequestTrace, 'steps' | 'stepMsMean' | 'stepMsMax' | 'rowsMean'>[] = [];
  const results = payers.map((p) => ({ payer: `payer-${p}${DEMAND[p] > 1 ? '-heavy' : ''}`, demand: DEMAND[p], requests: 0, completed: 0, tokens: 0, pauses: 0, latencies: [] as number[] }));
  const runs: Promise<void>[] = [];
  payers.forEach((p, k) => {
    const u = uniform(1000 + p + 100 * round); // each round its own arrivals, the same for each kind in it
    const rate = requestsPerSecond * DEMAND[p];
    for (let t = -Math.log(1 - u()) / rate; t * 1000 < windowMs; t += -Math.log(1 - u()) / rate) {
      const at = t * 1000;
      const r = results[k];
      runs.push(
        (async () => {
          await clock.until(at);
          const arrived = clock.now();
          r.requests++;
          const done = await serve(scheduler, r.payer, r.requests, abort.signal, () => {
            if (clock.now() <= windowMs) r.tokens++;
          }).catch(() => undefined);
          const latencyMs = clock.now() - arrived;
          if (done?.finishReason === 'length') r.completed++;
          r.pauses += done?.pauses ?? 0;
          r.latencies.push(latencyMs);
          if (r.demand > 1) return;
          const queuedMs = done?.timings.queuedMs ?? latencyMs;
          const outMs = done?.timings.outMs ?? 0;
          traces.push({ payer: r.payer, at: arrived, latencyMs, queuedMs, outMs, serviceMs: latencyMs - queuedMs - outMs, pauses: done?.pauses ?? 0, preemptions: done?.preemptions ?? 0, cut: done?.finishReason !== 'length' });
        })(),
      );
    }
  });
  // The window, then as long as one unloaded request takes, then whatever is left is cut.
  void clock.until(windowMs + 5_000).then(() => abort.abort());
  await Promise.all(runs);
  stopIdle?.();
  const wallSeconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const { preemptions, pauses } = scheduler.stats();
  await scheduler.stop();
  // The light requests at or above the p99 of their payer's latency (and at least the slowest few).
  const bar = Math.min(...results.filter((r) => r.demand === 1).map((r) => percentile(r.latencies, 0.99)));
  const slowest = traces.sort((a, b) => b.latencyMs - a.latencyMs).filter((t, i) => i < TAIL_KEPT || t.latencyMs >= bar);
  const part = (key: 'queuedMs' | 'outMs' | 'serviceMs') => percentile(traces.map((t) => t[key]), 0.99);
  return {
    overload: results.reduce((n, r) => n + r.requests * TOKENS, 0) / Math.max(1, results.reduce((n, r) => n + r.tokens, 0)),
    cpuPerWall: (cpu.user + cpu.system) / 1e6 / wallSeconds,
    loadAverage: loadavg()[0],
    steps: { count: steps.length, msP50: percentile(steps.map((s) => s.ms), 0.5), msP99: percentile(steps.map((s) => s.ms), 0.99), rowsP50: percentile(steps.map((s) => s.rows), 0.5) },
    lightTail: slowest.map((t) => ({ ...t, ...stepsDuring(steps, t.at, t.at + t.latencyMs) })),
    lightP99Parts: { queuedMs: part('queuedMs'), outMs: part('outMs'), serviceMs: part('serviceMs') },
    payers: results.map((r) => ({ payer: r.payer, demand: r.demand, requests: r.requests, completed: r.completed, served: r.tokens / (r.requests * TOKENS), tokensPerSecond: r.tokens / seconds, latencyMs: { p50: percentile(r.latencies, 0.5), p99: percentile(r.latencies, 0.99) }, pauses: r.pauses })),
    preemptions,
    pauses,
    tokensPerSecond: results.reduce((n, r) => n + r.tokens, 0) / seconds,
  };
}

type Kind = 'unloaded' | 'vtc' | 'vtcWithoutPreemption' | 'fifo';
const KINDS: { kind: Kind; label: string; policy: 'vtc' | 'fifo'; payers: number[]; preempt: boolean }[] = [
  { kind: 'unloaded', label: 'unloaded (light payers alone)', policy: 'vtc', payers: [0, 1, 2], preempt: true },
  { kind: 'vtc', label: 'vtc', policy: 'vtc', payers: [0, 1, 2, 3], preempt: true },
  { kind: 'vtcWithoutPreemption', label: 'vtc without fair-slot preemption', policy: 'vtc', payers: [0, 1, 2, 3], preempt: false },
  { kind: 'fifo', label: 'fifo', policy: 'fifo', payers: [0, 1, 2, 3], preempt: true },
];
const describe = (run: Run) => {
  const parts = run.lightP99Parts;
  const worst = run.lightTail[0];
  const slowest = worst ? `; slowest light ${worst.latencyMs.toFixed(0)} ms = queued ${worst.queuedMs.toFixed(0)} + out ${worst.outMs.toFixed(0)} + service ${worst.serviceMs.toFixed(0)} over ${worst.steps} steps of mean ${worst.stepMsMean.toFixed(1)} ms (max ${worst.stepMsMax.toFixed(0)}, ${worst.rowsMean.toFixed(0)} rows)` : '';
  return `${run.payers.map((r) => `${r.payer} ${r.tokensPerSecond.toFixed(0)} tok/s p99 ${r.latencyMs.p99.toFixed(0)} ms`).join(', ')}; all ${run.tokensPerSecond.toFixed(0)} tok/s, ${run.pauses} pauses, ${run.preemptions} preemptions; light p99 parts: queued ${parts.queuedMs.toFixed(0)}, out ${parts.outMs.toFixed(0)}, service ${parts.serviceMs.toFixed(0)} ms; steps ${run.steps.count}, p50 ${run.steps.msP50.toFixed(1)} ms p99 ${run.steps.msP99.toFixed(1)} ms (${run.steps.rowsP50} rows)${slowest}; demand ${run.overload.toFixed(2)}x what it served; CPU ${run.cpuPerWall.toFixed(2)} s/s, load ${run.loadAverage.toFixed(1)}`;
};
const lightOf = (run: Run) => run.payers.filter((r) => r.demand === 1);
const spread = (run: Run, key: 'tokensPerSecond' | 'served') => {
  const t = lightOf(run).map((r) => r[key]);
  return Math.max(...t) / Math.min(...t) - 1;
};
const p99 = (run: Run) => Math.max(...lightOf(run).map((r) => r.latencyMs.p99));

// Each round measures the capacity again (other processes change it) and runs the four kinds in an
// order rotated per round, so a change of load falls on each kind alike; ratios are per round.
const rounds: ({ capacityTokensPerSecond: number } & Record<Kind, Run>)[] = [];
for (let round = 0; round < roundCount; round++) {
  const tokensPerSecond = await capacity();
  const requestsPerSecond = tokensPerSecond / TOKENS; // at capacity
  const light = (OVERLOAD * requestsPerSecond) / DEMAND.reduce((a, b) => a + b, 0); // one light payer's requests/s
  log(`round ${round + 1}: capacity ${tokensPerSecond.toFixed(0)} tok/s (${requestsPerSecond.toFixed(1)} requests/s at ${maxRunning} running); light payers ${light.toFixed(2)} requests/s each, heavy ${(light * 10).toFixed(2)}; load average ${loadavg()[0].toFixed(1)}`);
  const runs = {} as Record<Kind, Run>;
  for (let i = 0; i < KINDS.length; i++) {
    const k = KINDS[(i + round) % KINDS.length];
    runs[k.kind] = await traffic(k.policy, k.payers, light, k.preempt, round);
    log(`round ${round + 1} ${k.label}: ${describe(runs[k.kind])}`);
  }
  rounds.push({ capacityTokensPerSecond: tokensPerSecond, ...runs });
}
backend.destroy();

/** Median over the rounds of `f`, and each round's value. */
const across = (f: (r: (typeof rounds)[number]) => number) => ({ median: median(rounds.map(f)), rounds: rounds.map(f) });
const summary = {
  lightThroughputSpread: { vtc: across((r) => spread(r.vtc, 'tokensPerSecond')), fifo: across((r) => spread(r.fifo, 'tokensPerSecond')), unloaded: across((r) => spread(r.unloaded, 'tokensPerSecond')) },
  lightServedSpread: { vtc: across((r) => spread(r.vtc, 'served')), fifo: across((r) => spread(r.fifo, 'served')) },
  lightServed: { vtc: across((r) => Math.min(...lightOf(r.vtc).map((x) => x.served))), fifo: across((r) => Math.min(...lightOf(r.fifo).map((x) => x.served))) },
  lightP99Ratio: { vtc: across((r) => p99(r.vtc) / p99(r.unloaded)), vtcWithoutPreemption: across((r) => p99(r.vtcWithoutPreemption) / p99(r.unloaded)), fifo: across((r) => p99(r.fifo) / p99(r.unloaded)) },
  lightRequests: across((r) => lightOf(r.vtc).reduce((n, x) => n + x.requests, 0)),
  allTokensPerSecond: { vtc: across((r) => r.vtc.tokensPerSecond), vtcWithoutPreemption: across((r) => r.vtcWithoutPreemption.tokensPerSecond), fifo: across((r) => r.fifo.tokensPerSecond) },
  heavyTokensPerSecond: { vtc: across((r) => r.vtc.payers[3].tokensPerSecond), vtcWithoutPreemption: across((r) => r.vtcWithoutPreemption.payers[3].tokensPerSecond), fifo: across((r) => r.fifo.payers[3].tokensPerSecond) },
  pauses: across((r) => r.vtc.pauses),
  lightPauses: across((r) => lightOf(r.vtc).reduce((n, x) => n + x.pauses, 0)),
  lightP99Parts: Object.fromEntries(KINDS.map(({ kind }) => [kind, { queuedMs: across((r) => r[kind].lightP99Parts.queuedMs), outMs: across((r) => r[kind].lightP99Parts.outMs), serviceMs: across((r) => r[kind].lightP99Parts.serviceMs) }])) as Record<Kind, Record<keyof Run['lightP99Parts'], { median: number; rounds: number[] }>>,
  cpuPerWall: Object.fromEntries(KINDS.map(({ kind }) => [kind, across((r) => r[kind].cpuPerWall)])) as Record<Kind, { median: number; rounds: number[] }>,
  loadAverage: across((r) => Math.max(...KINDS.map(({ kind }) => r[kind].loadAverage))),
};
const pct = (x: { median: number; rounds: number[] }) => `${(x.median * 100).toFixed(1)}%${rounds.length > 1 ? ` (rounds ${x.rounds.map((v) => (v * 100).toFixed(1)).join('/')})` : ''}`;
const times = (x: { median: number; rounds: number[] }) => `${x.median.toFixed(2)}x${rounds.length > 1 ? ` (rounds ${x.rounds.map((v) => v.toFixed(2)).join('/')})` : ''}`;
const tps = (x: { median: number }) => `${x.median.toFixed(0)} tok/s`;
const lines = [
  `fairness capacity: ${across((r) => r.capacityTokensPerSecond).median.toFixed(0)} tok/s median of ${rounds.length} round(s) (${backend.kind}, tiny, ${maxRunning} running); demand 1x/1x/1x/10x = ${OVERLOAD}x capacity, ${seconds} s windows, ${summary.lightRequests.median} light requests per run`,
  `fairness light payers' throughput spread: vtc ${pct(summary.lightThroughputSpread.vtc)} (goal <= 20%), fifo ${pct(summary.lightThroughputSpread.fifo)}, their demand alone (unloaded) ${pct(summary.lightThroughputSpread.unloaded)}`,
  `fairness light payers' least share of their demand served: vtc ${pct(summary.lightServed.vtc)} (spread ${pct(summary.lightServedSpread.vtc)}), fifo ${pct(summary.lightServed.fifo)}`,
  `fairness light payers' p99 latency vs unloaded: vtc ${times(summary.lightP99Ratio.vtc)} (goal <= 2x), without fair-slot preemption ${times(summary.lightP99Ratio.vtcWithoutPreemption)}, fifo ${times(summary.lightP99Ratio.fifo)}`,
  `fairness light payers' p99 of queue wait / time paused or preempted / time in service, ms (median of rounds): ${KINDS.map(({ kind }) => `${kind} ${(['queuedMs', 'outMs', 'serviceMs'] as const).map((k) => summary.lightP99Parts[kind][k].median.toFixed(0)).join(' / ')}`).join(', ')}`,
  `fairness demand over what was served (rounds; ${OVERLOAD}x meant): ${KINDS.map(({ kind }) => `${kind} ${rounds.map((r) => r[kind].overload.toFixed(2)).join('/')}`).join(', ')}`,
  `fairness CPU seconds per wall second (process, rounds): ${KINDS.map(({ kind }) => `${kind} ${summary.cpuPerWall[kind].rounds.map((v) => v.toFixed(2)).join('/')}`).join(', ')}; load average at the runs' ends up to ${summary.loadAverage.rounds.map((v) => v.toFixed(1)).join('/')}`,
  `fairness tokens/s of every payer: vtc ${tps(summary.allTokensPerSecond.vtc)} (${summary.pauses.median} pauses, ${summary.lightPauses.median} of light payers' sequences), without fair-slot preemption ${tps(summary.allTokensPerSecond.vtcWithoutPreemption)}, fifo ${tps(summary.allTokensPerSecond.fifo)}; heavy payer vtc ${tps(summary.heavyTokensPerSecond.vtc)}, without ${tps(summary.heavyTokensPerSecond.vtcWithoutPreemption)}, fifo ${tps(summary.heavyTokensPerSecond.fifo)}`,
];
process.stdout.write(lines.join('\n') + '\n');
if (args.out) await writeFile(args.out, JSON.stringify({ backend: backend.kind, maxRunning, seconds, demand: DEMAND, overload: OVERLOAD, rounds, summary }, null, 2) + '\n');
