/**
 * Traffic for `bench:lora`: a Poisson-arrival, Zipf-popularity request trace, and two ways to
 * serve it on one WebGPU backend: unmerged LoRA through the node's scheduler + adapter tiers, and
 * a merge-on-switch baseline (merge one adapter into the weights, serve its requests, switch).
 */
import type { LoraWeights } from '../../../src/engine/backend.ts';
import type { WebGpuBackend } from '../../../src/engine/webgpu/backend.ts';
import { writeMatrixRows } from '../../../src/engine/webgpu/weights.ts';
import { moduleTensorName } from '../../../src/model/config.ts';
import { f32ArrayToHalfBits } from '../../../src/model/dtype.ts';
import type { WeightStore } from '../../../src/model/weights.ts';
import type { HostCache } from '../../../src/lora/hostCache.ts';
import type { SlotManager } from '../../../src/lora/slots.ts';
import type { AdapterStore } from '../../../src/lora/store.ts';
import { createScheduler } from '../../../src/scheduler/scheduler.ts';
import { percentile } from './stats.ts';

/** One request of the trace. */
export interface TraceRequest {
  /** Arrival, ms after the start. */
  at: number;
  /** Adapter index (0 = most popular). */
  adapter: number;
  promptIds: number[];
  maxTokens: number;
}

/** Deterministic uniform [0, 1) stream (mulberry32). */
export function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` requests: Poisson arrivals at `ratePerSecond`, adapter k of `adapters` with p ∝ 1/(k+1) (Zipf, s = 1). */
export function makeTrace(p: { count: number; adapters: number; ratePerSecond: number; promptLen: number; maxTokens: number; vocab: number; seed: number }): TraceRequest[] {
  const u = uniform(p.seed);
  const cdf: number[] = [];
  let sum = 0;
  for (let k = 0; k < p.adapters; k++) cdf.push((sum += 1 / (k + 1)));
  let t = 0;
  return Array.from({ length: p.count }, () => {
    t += (-Math.log(1 - u()) / p.ratePerSecond) * 1000;
    const x = u() * sum;
    let adapter = cdf.findIndex((c) => c >= x);
    if (adapter < 0) adapter = p.adapters - 1;
    const promptIds = Array.from({ length: p.promptLen }, () => Math.floor(u() * Math.min(p.vocab, 49000)));
    return { at: t, adapter, promptIds, maxTokens: p.maxTokens };
  });
}

/** What serving a trace measured. */
export interface TrafficResult {
  requests: number;
  completed: number;
  tokens: number;
  wallMs: number;
  tokensPerSecond: number;
  ttftMs: { p50: number; p99: number };
  tpotMs: { p50: number; p99: number };
  /** Whether the time cap cut the run (unfinished requests cancelled, their tokens still counted). */
  capped: boolean;
}

interface Timing {
  ttft?: number;
  tpot?: number;
  tokens: number;
}

function summarize(trace: readonly TraceRequest[], timings: Timing[], wallMs: number, capped: boolean): TrafficResult {
  const tokens = timings.reduce((n, t) => n + t.tokens, 0);
  const ttft = timings.flatMap((t) => (t.ttft === undefined ? [] : [t.ttft]));
  const tpot = timings.flatMap((t) => (t.tpot === undefined ? [] : [t.tpot]));
  return {
    requests: trace.length,
    completed: timings.filter((t, i) => t.tokens >= trace[i].maxTokens).length,
    tokens,
    wallMs,
    tokensPerSecond: (tokens / wallMs) * 1000,
    ttftMs: { p50: percentile(ttft, 0.5), p99: percentile(ttft, 0.99) },
    tpotMs: { p50: percentile(tpot, 0.5), p99: percentile(tpot, 0.99) },
    capped,
  };
}

/** Submits `trace` to `submit` at its arrival times; resolves when every request ended or `capMs` passed (then aborts the rest). */
async function drive(trace: readonly TraceRequest[], capMs: number, serve: (r: TraceRequest, signal: AbortSignal, onToken: () => void) => Promise<void>): Promise<TrafficResult> {
  const start = performance.now();
  const abort = new AbortController();
  const timings: Timing[] = trace.map(() => ({ tokens: 0 }));
  let capped = false;
  const cap = setTimeout(() => {
    capped = true;
    abort.abort();
  }, capMs);
  await Promise.all(
    trace.map(async (r, i) => {
      const wait = start + r.at - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (abort.signal.aborted) return;
      const arrived = performance.now();
      let first = 0;
      await serve(r, abort.signal, () => {
        const now = performance.now();
        const t = timings[i];
        if (t.tokens++ === 0) {
          first = now;
          t.ttft = now - arrived;
        } else t.tpot = (now - first) / (t.tokens - 1);
      }).catch(() => {});
    }),
  );
  clearTimeout(cap);
  return summarize(trace, timings, performance.now() - start, capped);
}

/** Parameters of {@link serveUnmerged}. */
export interface ServeUnmergedParameters {
  backend: WebGpuBackend;
  store: AdapterStore;
  hostCache: HostCache;
  slots: SlotManager;
  /** Adapter id of each trace adapter index. */
  adapterIds: readonly string[];
  trace: readonly TraceRequest[];
  capMs: number;
  maxRunning: number;
}

/** Serves the trace with unmerged LoRA: one scheduler, adapters of every request in the same steps. */
export async function serveUnmerged(p: ServeUnmergedParameters): Promise<TrafficResult> {
  const scheduler = createScheduler({ maxRunning: p.maxRunning, maxBatchTokens: 512 }, { backend: p.backend, adapters: p.slots });
  const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
  try {
    return await drive(p.trace, p.capMs, async (r, signal, onToken) => {
      for await (const e of scheduler.submit({ promptIds: r.promptIds, maxTokens: r.maxTokens, sampling: greedy, adapterId: p.adapterIds[r.adapter], signal })) if (e.type === 'token') onToken();
    });
  } finally {
    await scheduler.stop();
  }
}

/** Parameters of {@link serveMergeOnSwitch}. */
export interface ServeMergeParameters {
  backend: WebGpuBackend;
  /** The base weights (f32 copies are kept to merge from). */
  weights: WeightStore;
  /** Loads adapter `index`'s weights (host tier). */
  adapter: (index: number) => Promise<LoraWeights>;
  trace: readonly TraceRequest[];
  capMs: number;
  maxRunning: number;
}

/** What the baseline measured besides the traffic. */
export interface MergeResult extends TrafficResult {
  switches: number;
  /** Mean ms per switch: merge `W + scale·B·A` on the CPU and upload of the merged projections. */
  switchMs: number;
}

/**
 * Merge-on-switch: the weights hold one adapter at a time (merged, `W' = W + scale·B·A` for every
 * linear module of every layer, on the CPU from f32 base copies, uploaded in the device dtype).
 * The oldest waiting request picks the next adapter; its queued requests and any that arrive while
 * it is merged are served together (continuous batching), then the next switch.
 */
export async function serveMergeOnSwitch(p: ServeMergeParameters): Promise<MergeResult> {
  const { backend } = p;
  const config = backend.config;
  const device = backend.gpu.device;
  const base = new Map<string, Float32Array>();
  for (let l = 0; l < config.numLayers; l++) for (const m of config.modules) base.set(`${l}.${m.name}`, await p.weights.f32(moduleTensorName(config, l, m.name)));
  const scheduler = createScheduler({ maxRunning: p.maxRunning, maxBatchTokens: 512 }, { backend });
  const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
  let current = -1;
  let switches = 0;
  let switchTotal = 0;
  const merge = async (index: number) => {
    const t = performance.now();
    const w = await p.adapter(index);
    for (let l = 0; l < config.numLayers; l++) {
      for (const { name: proj, out, in: inF } of config.modules) {
        const merged = base.get(`${l}.${proj}`)!.slice(); // [out, in]
        const ab = w.layers[l]?.[proj];
        if (ab) {
          for (let o = 0; o < out; o++) {
            const row = o * inF;
            for (let j = 0; j < w.rank; j++) {
              const c = w.scale * ab.b[o * w.rank + j];
              const a = j * inF;
              for (let i = 0; i < inF; i++) merged[row + i] += c * ab.a[a + i];
            }
          }
        }
        const name = moduleTensorName(config, l, proj);
        const m = backend.weights.matrix(name); // q, k, v share one matrix (and gate, up): this projection's rows start at firstRow
        const first = backend.weights.firstRow(name);
        const values = new Float32Array(out * m.stride); // [out, stride]: rows zero-padded as on the device
        for (let o = 0; o < out; o++) values.set(merged.subarray(o * inF, (o + 1) * inF), o * m.stride);
        writeMatrixRows(device, m, first, m.dtype === 'f32' ? values : f32ArrayToHalfBits(values, new Uint16Array(values.length), m.dtype === 'f16' ? 'F16' : 'BF16'));
      }
    }
    await device.queue.onSubmittedWorkDone();
    switches++;
    switchTotal += performance.now() - t;
    current = index;
  };
  // Requests wait in arrival order; `gate` opens a request once its adapter is the merged one.
  const waiting: Array<{ r: TraceRequest; open: () => void }> = [];
  let active = 0;
  let busy = false;
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (waiting.length > 0 && active === 0) {
      const next = waiting[0].r.adapter;
      if (next !== current) await merge(next);
      for (const w of waiting.filter((x) => x.r.adapter === current)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.open();
      }
    }
    busy = false;
  };
  try {
    const result = await drive(p.trace, p.capMs, async (r, signal, onToken) => {
      let counted = false;
      const join = () => {
        counted = true;
        active++;
      };
      if (r.adapter === current && active > 0 && !busy) join();
      else {
        await new Promise<void>((resolve) => {
          const entry = {
            r,
            open: () => {
              join();
              resolve();
            },
          };
          waiting.push(entry);
          signal.addEventListener('abort', () => {
            const i = waiting.indexOf(entry);
            if (i >= 0) waiting.splice(i, 1);
            resolve();
          }, { once: true });
          void pump();
        });
      }
      try {
        if (signal.aborted) return;
        for await (const e of scheduler.submit({ promptIds: r.promptIds, maxTokens: r.maxTokens, sampling: greedy, signal })) if (e.type === 'token') onToken();
      } finally {
        if (counted) {
          active--;
          void pump();
        }
      }
    });
    return { ...result, switches, switchMs: switches ? switchTotal / switches : 0 };
  } finally {
    await scheduler.stop();
  }
}
