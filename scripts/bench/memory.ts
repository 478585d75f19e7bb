/**
 * Unified memory benchmark (not a test): `npm run bench:memory [-- --backend auto|webgpu|cpu|reference]
 * [--requests 150] [--rounds 2] [--budgets 0.25,0.5,1] [--headroom 0.05] [--out FILE]`.
 *
 * 1,000 adapters of ranks 8/16/32/64 (Zipf(1) popularity) and a long-context mix (15% of the
 * requests have 768-token prompts, the rest 32; 24 tokens generated each), all queued at once
 * (one seeded stream, the same for every run), on the tiny model and the backend `--backend`
 * names (`auto`: as a node chooses), served two ways at the same total memory:
 *  - split (today's default): `lora.slots` adapter slots padded to `lora.maxRank` and
 *    `engine.kvBlocks` KV blocks, in the default config's ratio, scaled to the budget;
 *  - unified (S-LoRA): one budget of pages (a KV block's bytes each) for KV blocks and adapters at
 *    their own rank; idle adapters give pages back to KV and to other adapters; the next queued
 *    requests' adapters are prefetched into pages no running or admissible request needs
 *    (`src/scheduler/prefetch.ts`, leaving `--headroom` of the budget free);
 *  - unified without prefetch (`prefetchDepth: 0`): a load starts only when admission finds room,
 *    as before prefetch; a line per budget compares it with unified: idle time between steps,
 *    tokens/s and tokens per CPU second, loads (and those prefetched, and evicted unused),
 *    preemptions, failures.
 * Budgets: `--budgets` fractions of the default config's memory (1 = the default), from tight (memory,
 * not the 64 running sequences or 512 rows a step allows, limits the split's concurrency) to the
 * default. Per budget, side by side in interleaved rounds (the order rotates): completion
 * tokens/s and the unified/split ratio (median of the rounds' ratios), sequences decoding per step
 * (the batch the memory allows), adapter loads, requests that failed (out of memory or otherwise:
 * goal none), with the load average. Goal (issue 18): unified >= 1.3x split where memory limits.
 * What batching can buy depends on the backend; each budget's line gives it, measured in the same
 * run: a cost model of the steps of both modes, fitted by least squares (step time = per step +
 * per decode row + per prefill row + per LoRA segment + per position attended), and from it the
 * ceiling of any scheduler that runs the same rows: split's time over the model's time for those
 * rows in the fewest steps possible (every step full), with the fewest LoRA segments and the least
 * time between steps any run had. On a CPU (the CPU backend, or lavapipe) a step's time is mostly
 * its rows' work and the ceiling is low; on a GPU decode steps are memory-bound (the weights are
 * read once per step whatever its rows), the per-step term dominates and so does batching.
 * Memory allocated for KV and adapters, per mode, from what the backend reports (a line per
 * budget, `allocated` in the JSON): split holds its KV blocks and padded slots; unified on the CPU
 * and WebGPU backends holds the budget's pages (adapters are written into pages of the KV cache)
 * and, on WebGPU, the slots' run tables, taken out of the budget as a node's `memoryPlan` does, so
 * "the same memory" is measured, not assumed. The reference keeps padded slots beside the pages.
 * Per run: adapter loads and evictions, the time loads took (and writing the weights alone), and
 * the time the engine sat idle between steps (gaps over 1 ms), and of it the time the scheduler was
 * stalled: requests queued and none it could run (waiting for a load or for memory); the rest of
 * the gaps is the process busy between steps (scheduling, reading adapters: this script's store
 * parses them on the main thread) or descheduled. `--budgets` below the default probe where memory binds harder (split's slots hold 2
 * adapters at 0.125); a budget whose split KV pool cannot hold one long request is refused.
 * `npm run bench:batch` measures what batching buys on the CPU backend at all.
 */
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { describeConfig } from '../../src/config/load.ts';
import { KV_BLOCK_SIZE, kvBlockBytes } from '../../src/engine/backend.ts';
import { resolveBackend, type BackendChoice } from '../../src/engine/chooseBackend.ts';
import { gpuPageTableBytes } from '../../src/engine/webgpu/lora/pagePool.ts';
import { acquireGpu } from '../../src/gpu/device.ts';
import { slotElements } from '../../src/lora/checkWeights.ts';
import { createHostCache } from '../../src/lora/hostCache.ts';
import { createSlotManager } from '../../src/lora/slots.ts';
import { createAdapterStore } from '../../src/lora/store.ts';
import { loadModel } from '../../src/model/load.ts';
import { createPagePool } from '../../src/scheduler/memory.ts';
import { PREFETCH_DEFAULTS } from '../../src/scheduler/prefetch.ts';
import { createScheduler } from '../../src/scheduler/scheduler.ts';
import { namedAdapters } from './lib/adapters.ts';
import { benchBackend } from './lib/backend.ts';
import { uniform } from './lib/loraTraffic.ts';
import { cachedPreset } from './lib/models.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';
import { leastSquares } from './lib/leastSquares.ts';
import { median, percentile } from './lib/stats.ts';

const args = benchArgs(import.meta.url, {
  backend: { type: 'string', default: 'auto' },
  requests: { type: 'string', default: '150' },
  'new-tokens': { type: 'string', default: '24' },
  rounds: { type: 'string', default: '2' },
  budgets: { type: 'string', default: '0.25,0.5,1' },
  headroom: { type: 'string', default: String(PREFETCH_DEFAULTS.headroom) },
  out: { type: 'string' },
});
const requestCount = positiveNumber('requests', args.requests);
const rounds = positiveNumber('rounds', args.rounds);
const fractions = args.budgets.split(',').map(Number);
if (fractions.some((f) => !(f > 0))) throw new Error(`--budgets must be positive fractions of the default memory, got ${args.budgets}`);
const headroom = Number(args.headroom);
if (!(headroom >= 0 && headroom <= 1)) throw new Error(`--headroom must be a fraction of the budget in [0, 1], got ${args.headroom}`);
/** The ways memory is served: the default split, unified (with prefetch, a node's default), unified without prefetch. */
const MODES = ['split', 'unified', 'unified without prefetch'] as const;
type Mode = (typeof MODES)[number];
const ADAPTERS = 1000;
const RANKS = [8, 16, 32, 64];
const SHORT = 32;
const LONG = 768;
const LONG_SHARE = 0.15;
const MAX_RUNNING = 64;
const MAX_BATCH_TOKENS = 512;
const UNIFIED_SLOTS = MAX_RUNNING; // adapters resident at once in unified mode at most (the budget decides below it)
const NEW_TOKENS = positiveNumber('new-tokens', args['new-tokens']);
const log = (line: string) => process.stderr.write(`bench:memory: ${line}\n`);
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

// Today's default split, from the config's defaults (one place for them).
const defaults = new Map(describeConfig().map((d) => [d.key, d.default]));
const DEFAULT_KV_BLOCKS = defaults.get('engine.kvBlocks') as number;
const DEFAULT_SLOTS = defaults.get('lora.slots') as number;
const MAX_RANK = defaults.get('lora.maxRank') as number;

const modelDir = await cachedPreset('tiny', log);
const model = await loadModel({ dir: modelDir });
const config = model.config;
const pageBytes = kvBlockBytes(config);
const slotBytes = slotElements(config, MAX_RANK) * 4;
const defaultBytes = DEFAULT_KV_BLOCKS * pageBytes + DEFAULT_SLOTS * slotBytes;

const { kind } = await resolveBackend(args.backend as BackendChoice);
/** Unified mode's run tables on WebGPU, which the budget holds beside its pages (as a node's `memoryPlan` counts them). */
const tableBytes = kind === 'webgpu' ? gpuPageTableBytes(config, UNIFIED_SLOTS, MAX_RANK) : 0;

/** A budget: the default split scaled by `fraction` (whole slots, the rest KV blocks), and the unified pages of the same bytes (less the run tables on WebGPU). */
const budgets = fractions.map((fraction) => {
  const splitSlots = Math.max(1, Math.round(DEFAULT_SLOTS * fraction));
  const splitKvBlocks = Math.round(DEFAULT_KV_BLOCKS * fraction);
  const bytes = splitKvBlocks * pageBytes + splitSlots * slotBytes;
  const longBlocks = Math.ceil((LONG + NEW_TOKENS) / KV_BLOCK_SIZE);
  if (splitKvBlocks < longBlocks) throw new Error(`--budgets ${fraction}: split's ${splitKvBlocks} KV blocks hold ${splitKvBlocks * KV_BLOCK_SIZE} positions, fewer than the ${LONG + NEW_TOKENS} a long request needs (every one would fail); use fractions of at least ${(longBlocks / DEFAULT_KV_BLOCKS).toFixed(3)}`);
  return { fraction, bytes, splitSlots, splitKvBlocks, totalPages: Math.floor((bytes - tableBytes) / pageBytes) };
});
const files = namedAdapters({ preset: 'tiny', modelDir, distinct: 8 });

// The trace: Zipf(1) over 1,000 adapters (adapter k has rank RANKS[k % 4]), 15% long prompts.
const u = uniform(18);
const cdf: number[] = [];
let sum = 0;
for (let k = 0; k < ADAPTERS; k++) cdf.push((sum += 1 / (k + 1)));
const trace = Array.from({ length: requestCount }, () => {
  const x = u() * sum;
  const adapter = Math.max(0, cdf.findIndex((c) => c >= x));
  const long = u() < LONG_SHARE;
  return { adapter, promptIds: Array.from({ length: long ? LONG : SHORT }, () => 32 + Math.floor(u() * 200)) };
});
const used = [...new Set(trace.map((r) => r.adapter))];
log(`${requestCount} requests over ${used.length} of ${ADAPTERS} adapters; default memory ${(defaultBytes / 2 ** 20).toFixed(1)} MiB (${DEFAULT_SLOTS} slots of ${(slotBytes / 2 ** 20).toFixed(2)} MiB + ${DEFAULT_KV_BLOCKS} KV blocks of ${pageBytes} bytes)`);
const dirs = new Map<number, string>();
for (const k of used) dirs.set(k, await files.named('memory', k, RANKS[k % RANKS.length]));

const gpu = kind === 'webgpu' ? await acquireGpu() : undefined;

type Budget = (typeof budgets)[number];

/** A step's features for the cost model, and its time. */
interface StepCost {
  decodeRows: number;
  prefillRows: number;
  segments: number;
  attended: number;
  seconds: number;
}
const COST_TERMS = ['step', 'decodeRow', 'prefillRow', 'segment', 'attended'] as const;
const features = (x: StepCost) => [1, x.decodeRows, x.prefillRows, x.segments, x.attended];

interface RunResult {
  mode: Mode;
  fraction: number;
  tokensPerSecond: number;
  failed: number;
  loads: number;
  /** Loads started by prefetch, and those evicted before any request pinned them. */
  prefetches: number;
  prefetchesUnused: number;
  evictions: number;
  /** Milliseconds adapter loads took in all (start to resident: disk or host cache, waiting for room, writing the weights), and writing the weights alone. */
  loadMs: number;
  uploadMs: number;
  /** Seconds between steps in gaps over 1 ms (the engine idle: requests waiting for an adapter load or for memory, or the process busy with other work or descheduled). */
  idleSeconds: number;
  /** Of them, seconds the scheduler sat with requests queued and none it could run (`stalledSeconds`: waiting for a load or for memory). */
  stalledSeconds: number;
  latencyMs: { p50: number; p99: number };
  /** Generated tokens per engine step: how many sequences decode together. */
  decodeRowsPerStep: number;
  preemptions: number;
  /** Seconds the run took, and the part of them spent in engine steps (the rest: scheduling, adapter loads, waiting). */
  seconds: number;
  stepSeconds: number;
  /** Each step: decode rows, prefill rows, LoRA segments, positions attended (summed over rows), seconds. */
  steps: StepCost[];
  /** CPU seconds the process (every thread) spent: the work, less sensitive than wall time to a busy machine. */
  cpuSeconds: number;
  /** Mean distinct adapters per step, and runs of rows of one adapter (the LoRA segments the step runs). */
  adaptersPerStep: number;
  segmentsPerStep: number;
  peakPages?: number;
  /** Bytes the backend allocated for KV (the KV pool: in unified memory every page) and for adapter slots beside it (padded slots; in unified memory on WebGPU their run tables; null: the backend does not say). */
  allocated: { kvBytes: number | null; loraSlotBytes: number; totalBytes: number | null };
  /** 1-, 5- and 15-minute load averages when the run ended. */
  loadAverage: number[];
}

async function serve(mode: Mode, b: Budget): Promise<RunResult> {
  const unified = mode !== 'split';
  const backend = await benchBackend(kind, { model, gpu, numKvBlocks: unified ? b.totalPages : b.splitKvBlocks, loraSlots: unified ? UNIFIED_SLOTS : b.splitSlots, maxLoraRank: MAX_RANK, maxRows: MAX_BATCH_TOKENS, maxContext: 1024, pageBytes: unified ? pageBytes : undefined });
  const loraSlotBytes = backend.lora.bytesPerSlot * backend.lora.slots;
  const allocated = { kvBytes: backend.kvBytes ?? null, loraSlotBytes, totalBytes: backend.kvBytes === undefined ? null : backend.kvBytes + loraSlotBytes };
  const store = createAdapterStore({ dir: files.root(8), config, maxRank: MAX_RANK });
  const ids = new Map<number, string>();
  for (const [k, dir] of dirs) ids.set(k, (await store.register({ path: dir, name: `m${k}` })).id);
  const pages = unified ? createPagePool({ totalPages: b.totalPages, pageBytes }) : undefined;
  const slots = createSlotManager({ pool: backend.lora, store, hostCache: createHostCache({ load: (id, signal) => store.load(id, signal) }), pages });
  let stepSeconds = 0;
  let idleSeconds = 0;
  let lastStepEnd: number | undefined;
  let adapterCount = 0;
  let segments = 0;
  const steps: StepCost[] = [];
  const stepOf = backend.step.bind(backend);
  backend.step = async (sequences) => {
    adapterCount += new Set(sequences.map((x) => x.adapterSlot).filter((slot) => slot >= 0)).size;
    const segs = sequences.filter((x, i) => x.adapterSlot >= 0 && (i === 0 || sequences[i - 1].adapterSlot !== x.adapterSlot)).length;
    segments += segs;
    const started = performance.now();
    if (lastStepEnd !== undefined && started - lastStepEnd > 1) idleSeconds += (started - lastStepEnd) / 1000;
    const outputs = await stepOf(sequences);
    lastStepEnd = performance.now();
    steps.push({
      decodeRows: sequences.filter((x) => x.tokens.length === 1).length,
      prefillRows: sequences.reduce((n, x) => n + (x.tokens.length > 1 ? x.tokens.length : 0), 0),
      segments: segs,
      attended: sequences.reduce((n, x) => n + x.tokens.length * (x.startPos + (x.tokens.length + 1) / 2), 0),
      seconds: (performance.now() - started) / 1000,
    });
    return outputs;
  };
  const onStep = (step: { seconds: number }) => void (stepSeconds += step.seconds);
  const scheduler = createScheduler({ maxRunning: MAX_RUNNING, maxBatchTokens: MAX_BATCH_TOKENS, maxWaiting: requestCount * 2, prefetchHeadroom: headroom, ...(mode === 'unified without prefetch' ? { prefetchDepth: 0 } : {}) }, { backend, adapters: slots, pages, onStep });
  let peakPages = 0;
  const sampler = pages ? setInterval(() => (peakPages = Math.max(peakPages, pages.used('kv') + pages.used('adapter'))), 5) : undefined;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let tokens = 0;
  let failed = 0;
  const latencies: number[] = [];
  await Promise.all(
    trace.map(async (r) => {
      try {
        for await (const e of scheduler.submit({ promptIds: r.promptIds, maxTokens: NEW_TOKENS, sampling: { temperature: 0, topK: 0, topP: 1, seed: 0 }, stopTokenIds: [], adapterId: ids.get(r.adapter) })) if (e.type === 'token') tokens++;
        latencies.push(performance.now() - start);
      } catch (error) {
        failed++;
        log(`${mode}: a request failed: ${(error as Error).message.split('\n')[0]}`);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  clearInterval(sampler);
  const st = slots.stats();
  const sched = scheduler.stats();
  await scheduler.stop();
  slots.stop();
  backend.destroy();
  return {
    mode,
    fraction: b.fraction,
    tokensPerSecond: tokens / seconds,
    failed,
    loads: st.loads,
    prefetches: st.prefetches,
    prefetchesUnused: st.prefetchesUnused,
    evictions: st.evictions,
    loadMs: st.load.totalMs,
    uploadMs: st.upload.totalMs,
    idleSeconds,
    stalledSeconds: sched.stalledSeconds,
    latencyMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) },
    decodeRowsPerStep: sched.tokensGenerated / Math.max(1, sched.steps),
    preemptions: sched.preemptions,
    seconds,
    stepSeconds,
    steps,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    adaptersPerStep: adapterCount / Math.max(1, sched.steps),
    segmentsPerStep: segments / Math.max(1, sched.steps),
    ...(pages ? { peakPages } : {}),
    allocated,
    loadAverage: loadavg(),
  };
}

for (const mode of MODES) await serve(mode, budgets[0]); // warm-up: pipelines, each mode's code paths, adapter files in the page cache
const results: RunResult[] = [];
for (let r = 0; r < rounds; r++) {
  for (const [i, b] of budgets.entries()) {
    for (const mode of MODES.map((_, k) => MODES[(k + r + i) % MODES.length])) {
      const x = await serve(mode, b);
      results.push(x);
      log(`round ${r + 1} budget x${b.fraction} ${mode}: ${x.tokensPerSecond.toFixed(0)} tok/s, ${x.decodeRowsPerStep.toFixed(1)} rows per step, ${x.failed} failed, ${x.loads} loads (${x.prefetches} prefetched, ${x.prefetchesUnused} evicted unused; ${(x.loadMs / 1000).toFixed(2)} s in all, writing ${(x.uploadMs / 1000).toFixed(2)} s), ${x.evictions} evictions, ${x.preemptions} preemptions, ${x.adaptersPerStep.toFixed(1)} adapters in ${x.segmentsPerStep.toFixed(1)} runs per step, ${x.stepSeconds.toFixed(1)} of ${x.seconds.toFixed(1)} s in steps (${x.idleSeconds.toFixed(2)} s idle in gaps over 1 ms, ${x.stalledSeconds.toFixed(2)} s of it stalled with nothing to run), ${x.cpuSeconds.toFixed(1)} CPU s${x.peakPages === undefined ? '' : `, peak ${x.peakPages}/${b.totalPages} pages`} (load ${load()})`);
    }
  }
}
gpu?.destroy();
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
/** KV pool + padded slots, as the backend reported them. */
const allocatedText = (a: RunResult['allocated']) => (a.totalBytes === null ? `not reported by the ${kind} backend (slots ${mib(a.loraSlotBytes)})` : `${mib(a.totalBytes)} (KV pool ${mib(a.kvBytes!)} + slots ${mib(a.loraSlotBytes)})`);
const summary = budgets.map((b) => {
  const of = (mode: Mode) => results.filter((x) => x.mode === mode && x.fraction === b.fraction);
  const split = of('split');
  const unified = of('unified');
  const noPrefetch = of('unified without prefetch');
  const runs = [...split, ...unified, ...noPrefetch];
  const figures = (xs: RunResult[]) => ({
    tokensPerSecond: median(xs.map((x) => x.tokensPerSecond)),
    decodeRowsPerStep: median(xs.map((x) => x.decodeRowsPerStep)),
    loads: median(xs.map((x) => x.loads)),
    prefetches: median(xs.map((x) => x.prefetches)),
    prefetchesUnused: median(xs.map((x) => x.prefetchesUnused)),
    evictions: median(xs.map((x) => x.evictions)),
    preemptions: median(xs.map((x) => x.preemptions)),
    idleSeconds: median(xs.map((x) => x.idleSeconds)),
    stalledSeconds: median(xs.map((x) => x.stalledSeconds)),
    failed: xs.reduce((n, x) => n + x.failed, 0),
  });
  const loads = runs.map((x) => x.loadAverage[0]);
  // The cost model of this budget's steps (every mode), and the rows any scheduler must run.
  const all = runs.flatMap((x) => x.steps);
  const fit = leastSquares(all.map(features), all.map((x) => x.seconds));
  const predicted = all.map((x) => features(x).reduce((t, v, i) => t + v * fit[i], 0));
  const mean = all.reduce((t, x) => t + x.seconds, 0) / all.length;
  const r2 = 1 - all.reduce((t, x, i) => t + (x.seconds - predicted[i]) ** 2, 0) / all.reduce((t, x) => t + (x.seconds - mean) ** 2, 0);
  const total = (x: RunResult, key: keyof StepCost) => x.steps.reduce((t, st) => t + st[key], 0);
  const least = (key: keyof StepCost) => Math.min(...runs.map((x) => total(x, key)));
  // The best any scheduler could do with these rows: every step full (and no fewer steps than a
  // request's decode needs), the fewest LoRA segments and the least time between steps of any run.
  const fewestSteps = Math.max(NEW_TOKENS, Math.ceil((least('decodeRows') + least('prefillRows')) / MAX_BATCH_TOKENS));
  const leastBetween = Math.min(...runs.map((x) => x.seconds - x.stepSeconds));
  const bestSeconds = fit[0] * fewestSteps + fit[1] * least('decodeRows') + fit[2] * least('prefillRows') + fit[3] * least('segments') + fit[4] * least('attended') + leastBetween;
  return {
    ...b,
    ratio: median(unified.map((x, i) => x.tokensPerSecond / split[i].tokensPerSecond)),
    /** Tokens per CPU second, unified over split (median of the rounds). */
    cpuRatio: median(unified.map((x, i) => split[i].cpuSeconds / x.cpuSeconds)),
    rowsRatio: median(unified.map((x, i) => x.decodeRowsPerStep / split[i].decodeRowsPerStep)),
    /** Unified with prefetch over without, each the median of the rounds' ratios: tokens/s, tokens per CPU second. */
    prefetch: { ratio: median(unified.map((x, i) => x.tokensPerSecond / noPrefetch[i].tokensPerSecond)), cpuRatio: median(unified.map((x, i) => noPrefetch[i].cpuSeconds / x.cpuSeconds)) },
    /** Seconds per step, decode row, prefill row, LoRA segment and position attended (least squares over the steps of both modes), and its R². */
    costModel: { ...(Object.fromEntries(COST_TERMS.map((term, i) => [term, fit[i]])) as Record<(typeof COST_TERMS)[number], number>), r2 },
    /** The most any scheduler running the same rows could gain over split (the cost model's best case over split's time). */
    ceiling: median(split.map((x) => x.seconds / bestSeconds)),
    loadAverage: { min: Math.min(...loads), max: Math.max(...loads) },
    /** What each mode allocated for KV and adapters (the same in every round). */
    allocated: { split: split[0].allocated, unified: unified[0].allocated },
    split: figures(split),
    unified: figures(unified),
    noPrefetch: figures(noPrefetch),
  };
});
const lines = [
  `memory workload (tiny, ${kind}): ${requestCount} requests over ${used.length} adapters of ${ADAPTERS} (Zipf, ranks ${RANKS.join('/')}), ${LONG_SHARE * 100}% with ${LONG}-token prompts, ${NEW_TOKENS} new tokens, at most ${MAX_RUNNING} running and ${MAX_BATCH_TOKENS} rows a step; ${rounds} interleaved rounds; load ${load()}`,
  ...summary.map(
    (s) =>
      `memory budget x${s.fraction} of the default (${(s.bytes / 2 ** 20).toFixed(1)} MiB; split ${s.splitSlots} slots of rank ${MAX_RANK} + ${s.splitKvBlocks} KV blocks, unified ${s.totalPages} pages): unified ${s.ratio.toFixed(2)}x split tokens/s (goal >= 1.3x: ${s.ratio >= 1.3 ? 'met' : 'not met'}; ceiling of any scheduler with these rows on this backend ${s.ceiling.toFixed(2)}x); ` +
      `${s.unified.tokensPerSecond.toFixed(0)} vs ${s.split.tokensPerSecond.toFixed(0)} tok/s; ${s.cpuRatio.toFixed(2)}x tokens per CPU second; ${s.unified.decodeRowsPerStep.toFixed(1)} vs ${s.split.decodeRowsPerStep.toFixed(1)} rows per step (${s.rowsRatio.toFixed(2)}x); ` +
      `${s.unified.loads} vs ${s.split.loads} adapter loads, ${s.unified.evictions} vs ${s.split.evictions} evictions; idle ${s.unified.idleSeconds.toFixed(2)} vs ${s.split.idleSeconds.toFixed(2)} s; failed ${s.unified.failed} vs ${s.split.failed}; load average ${s.loadAverage.min.toFixed(1)}-${s.loadAverage.max.toFixed(1)}; ` +
      `step cost ${(s.costModel.step * 1e3).toFixed(3)} ms + ${(s.costModel.decodeRow * 1e3).toFixed(3)} per decode row + ${(s.costModel.prefillRow * 1e3).toFixed(3)} per prefill row + ${(s.costModel.segment * 1e3).toFixed(3)} per LoRA segment + ${(s.costModel.attended * 1e6).toFixed(3)} per 1000 positions attended (R² ${s.costModel.r2.toFixed(2)})`,
  ),
  ...summary.map(
    (s) =>
      `memory budget x${s.fraction} prefetch (headroom ${headroom} of the budget): unified with / without prefetch ${s.prefetch.ratio.toFixed(2)}x tokens/s, ${s.prefetch.cpuRatio.toFixed(2)}x tokens per CPU second; idle between steps ${s.unified.idleSeconds.toFixed(2)} vs ${s.noPrefetch.idleSeconds.toFixed(2)} s (split ${s.split.idleSeconds.toFixed(2)}), of it stalled with requests queued and nothing to run ${s.unified.stalledSeconds.toFixed(2)} vs ${s.noPrefetch.stalledSeconds.toFixed(2)} s (split ${s.split.stalledSeconds.toFixed(2)}); ` +
      `${s.unified.loads} vs ${s.noPrefetch.loads} adapter loads (${s.unified.prefetches} prefetched, ${s.unified.prefetchesUnused} of them evicted unused); ${s.unified.preemptions} vs ${s.noPrefetch.preemptions} preemptions; failed ${s.unified.failed} vs ${s.noPrefetch.failed}; load average ${s.loadAverage.min.toFixed(1)}-${s.loadAverage.max.toFixed(1)}`,
  ),
  ...summary.map((s) => `memory budget x${s.fraction} allocated for KV + adapters (${kind}): split ${allocatedText(s.allocated.split)}; unified ${allocatedText(s.allocated.unified)}; budget ${mib(s.bytes)}`),
];
process.stdout.write(lines.join('\n') + '\n');
if (args.out) await writeFile(args.out, JSON.stringify({ backend: kind, headroom, pageBytes, slotBytes, defaultBytes, requests: requestCount, adaptersUsed: used.length, rounds, summary, results: results.map(({ steps, ...x }) => ({ ...x, steps: steps.length })), loadAverage: loadavg() }, null, 2) + '\n');
