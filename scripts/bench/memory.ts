/**
 * Unified memory benchmark (not a test): `npm run bench:memory [-- --backend auto|webgpu|cpu|reference]
 * [--requests 300] [--rounds 2] [--out FILE]`.
 *
 * 1,000 adapters of ranks 8/16/32/64 (Zipf(1) popularity) and a long-context mix (15% of the
 * requests have 768-token prompts, the rest 32; 24 tokens generated each), all queued at once, on
 * the tiny model and the backend `--backend` names (`auto`: as a node chooses), served two ways at the same total memory:
 *  - split (today's default): 8 adapter slots padded to rank 64 and the KV blocks the rest buys;
 *  - unified (S-LoRA): one budget of pages (a KV block's bytes each) for KV blocks and adapters at
 *    their own rank; idle adapters give pages back to KV and to other adapters.
 * Figures: completion tokens/s (side by side, alternating rounds), sequences decoding per step
 * (the batch the memory allows), requests that failed (out of memory or otherwise: goal none),
 * loads and evictions. Goal (issue 18): unified >= 1.3x split. On a CPU implementation of WebGPU
 * (lavapipe) a step's time grows with its rows and distinct adapters, so a larger batch buys
 * little there; on a GPU, decode steps are memory-bound and the batch is the throughput.
 * On the device the unified run's adapter slots stay padded buffers (the LoRA kernels read them
 * so); the budget decides what is resident and admitted: paging adapter weights inside the kernels
 * is the step that makes the device allocation match (docs/engine.md).
 */
import { writeFile } from 'node:fs/promises';
import { kvBlockBytes } from '../../src/engine/backend.ts';
import { resolveBackend, type BackendChoice } from '../../src/engine/chooseBackend.ts';
import { acquireGpu } from '../../src/gpu/device.ts';
import { slotElements } from '../../src/lora/checkWeights.ts';
import { createHostCache } from '../../src/lora/hostCache.ts';
import { createSlotManager } from '../../src/lora/slots.ts';
import { createAdapterStore } from '../../src/lora/store.ts';
import { loadModel } from '../../src/model/load.ts';
import { createPagePool } from '../../src/scheduler/memory.ts';
import { createScheduler } from '../../src/scheduler/scheduler.ts';
import { namedAdapters } from './lib/adapters.ts';
import { benchBackend } from './lib/backend.ts';
import { percentile, uniform } from './lib/loraTraffic.ts';
import { cachedPreset } from './lib/models.ts';
import { benchArgs } from './lib/args.ts';

const args = benchArgs(import.meta.url, {
  backend: { type: 'string', default: 'auto' },
  requests: { type: 'string', default: '300' },
  'new-tokens': { type: 'string', default: '24' },
  rounds: { type: 'string', default: '2' },
  out: { type: 'string' },
});
const requestCount = Number(args.requests);
const rounds = Number(args.rounds);
const ADAPTERS = 1000;
const RANKS = [8, 16, 32, 64];
const MAX_RANK = 64;
const SPLIT_SLOTS = 8;
const SPLIT_KV_BLOCKS = 400;
const UNIFIED_SLOTS = 64; // most adapters resident at once in unified mode (the budget decides)
const SHORT = 32;
const LONG = 768;
const LONG_SHARE = 0.15;
const NEW_TOKENS = Number(args['new-tokens']);
const log = (line: string) => process.stderr.write(`bench:memory: ${line}\n`);

const modelDir = await cachedPreset('tiny', log);
const model = await loadModel({ dir: modelDir });
const config = model.config;
const pageBytes = kvBlockBytes(config);
const slotBytes = slotElements(config, MAX_RANK) * 4;
const budgetBytes = SPLIT_KV_BLOCKS * pageBytes + SPLIT_SLOTS * slotBytes;
const totalPages = Math.floor(budgetBytes / pageBytes);
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
log(`${requestCount} requests over ${used.length} of ${ADAPTERS} adapters; budget ${(budgetBytes / 2 ** 20).toFixed(1)} MiB = ${totalPages} pages of ${pageBytes} bytes (split: ${SPLIT_SLOTS} slots of ${(slotBytes / 2 ** 20).toFixed(2)} MiB + ${SPLIT_KV_BLOCKS} KV blocks)`);
const dirs = new Map<number, string>();
for (const k of used) dirs.set(k, await files.named('memory', k, RANKS[k % RANKS.length]));

const { kind } = await resolveBackend(args.backend as BackendChoice);
const gpu = kind === 'webgpu' ? await acquireGpu() : undefined;

interface RunResult {
  mode: 'split' | 'unified';
  tokensPerSecond: number;
  failed: number;
  loads: number;
  evictions: number;
  latencyMs: { p50: number; p99: number };
  /** Generated tokens per engine step: how many sequences decode together. */
  decodeRowsPerStep: number;
  peakPages?: number;
}

async function serve(mode: 'split' | 'unified'): Promise<RunResult> {
  const unified = mode === 'unified';
  const backend = await benchBackend(kind, { model, gpu, numKvBlocks: unified ? totalPages : SPLIT_KV_BLOCKS, loraSlots: unified ? UNIFIED_SLOTS : SPLIT_SLOTS, maxLoraRank: MAX_RANK, maxRows: 512, maxContext: 1024 });
  const store = createAdapterStore({ dir: files.root(8), config, maxRank: MAX_RANK });
  const ids = new Map<number, string>();
  for (const [k, dir] of dirs) ids.set(k, (await store.register({ path: dir, name: `m${k}` })).id);
  const pages = unified ? createPagePool({ totalPages, pageBytes }) : undefined;
  const slots = createSlotManager({ pool: backend.lora, store, hostCache: createHostCache({ load: (id, signal) => store.load(id, signal) }), pages });
  const scheduler = createScheduler({ maxRunning: 64, maxBatchTokens: 512, maxWaiting: requestCount * 2 }, { backend, adapters: slots, pages });
  let peakPages = 0;
  const sampler = pages ? setInterval(() => (peakPages = Math.max(peakPages, pages.used('kv') + pages.used('adapter'))), 5) : undefined;
  const start = performance.now();
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
  clearInterval(sampler);
  const st = slots.stats();
  const sched = scheduler.stats();
  await scheduler.stop();
  slots.stop();
  backend.destroy();
  return { mode, tokensPerSecond: tokens / seconds, failed, loads: st.loads, evictions: st.evictions, latencyMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) }, decodeRowsPerStep: sched.tokensGenerated / Math.max(1, sched.steps), ...(pages ? { peakPages } : {}) };
}

await serve('split'); // warm-up: pipelines, adapter files in the page cache
const results: RunResult[] = [];
for (let r = 0; r < rounds; r++) {
  for (const mode of r % 2 === 0 ? (['split', 'unified'] as const) : (['unified', 'split'] as const)) {
    results.push(await serve(mode));
    const x = results.at(-1)!;
    log(`round ${r + 1} ${mode}: ${x.tokensPerSecond.toFixed(0)} tok/s, ${x.decodeRowsPerStep.toFixed(1)} tokens per step, ${x.failed} failed, ${x.loads} loads, ${x.evictions} evictions${x.peakPages === undefined ? '' : `, peak ${x.peakPages}/${totalPages} pages`}`);
  }
}
gpu?.destroy();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const of = (mode: 'split' | 'unified') => results.filter((x) => x.mode === mode);
const ratio = median(of('unified').map((x, i) => x.tokensPerSecond / of('split')[i].tokensPerSecond));
const lines = [
  `memory budget ${(budgetBytes / 2 ** 20).toFixed(1)} MiB (tiny, ${kind}): ${requestCount} requests over ${used.length} adapters of ${ADAPTERS} (Zipf, ranks ${RANKS.join('/')}), ${LONG_SHARE * 100}% with ${LONG}-token prompts`,
  `memory split (${SPLIT_SLOTS} slots of rank ${MAX_RANK} + ${SPLIT_KV_BLOCKS} KV blocks): ${median(of('split').map((x) => x.tokensPerSecond)).toFixed(0)} tok/s, failed ${of('split').reduce((n, x) => n + x.failed, 0)}, ${median(of('split').map((x) => x.evictions))} evictions`,
  `memory unified (${totalPages} pages, adapters at their rank): ${median(of('unified').map((x) => x.tokensPerSecond)).toFixed(0)} tok/s, failed ${of('unified').reduce((n, x) => n + x.failed, 0)}, ${median(of('unified').map((x) => x.evictions))} evictions, peak ${Math.max(...of('unified').map((x) => x.peakPages ?? 0))}/${totalPages} pages`,
  `memory unified vs split: ${ratio.toFixed(2)}x tokens/s (goal >= 1.3x); ${median(of('unified').map((x) => x.decodeRowsPerStep)).toFixed(1)} vs ${median(of('split').map((x) => x.decodeRowsPerStep)).toFixed(1)} sequences decoding per step (what the memory buys: on a compute-bound device the step time grows with them)`,
];
process.stdout.write(lines.join('\n') + '\n');
if (args.out) await writeFile(args.out, JSON.stringify({ backend: kind, budgetBytes, pageBytes, totalPages, requests: requestCount, adaptersUsed: used.length, results, ratio }, null, 2) + '\n');
