/**
 * `bench:lora`'s adapter load latency (section 3, and `--loads` alone): as a request waits for an
 * adapter, from asking the node's slot manager for it until the GPU has run its upload
 * (`onSubmittedWorkDone`: the copies a step submitted after them would read), cold (disk read,
 * parse and pack on the loader thread, then the upload) and warm (host cache → slot). Each pool has
 * one slot, so each load evicts the last adapter; the host cache keeps them all, so the second and
 * later loads of each are warm. With several upload variants (one pool each, `--upload`), the
 * samples are interleaved: each variant loads the same adapter in turn, the order reversed every
 * other sample. Every sample's phases are kept (`perSample`), with the main thread's GC pauses
 * within it (`gc`, part of whichever phase they fell in), and the report gives the phases of the
 * tail (the samples at or above the p95) beside the medians: where the p99 went.
 */
import type { ModelConfig } from '../../../src/model/config.ts';
import type { GpuLoraSlotPool } from '../../../src/engine/webgpu/lora/slotPool.ts';
import { createHostCache, type HostCache } from '../../../src/lora/hostCache.ts';
import { adapterIdOfDir } from '../../../src/lora/id.ts';
import type { PeftLoader } from '../../../src/lora/peftLoader.ts';
import { createSlotManager, type SlotManager } from '../../../src/lora/slots.ts';
import { createAdapterStore, type AdapterEntry } from '../../../src/lora/store.ts';
import { recordGcPauses } from './gcPauses.ts';
import { percentile } from './stats.ts';

/** Phases of a warm load (p50 ms): slot manager, pool (`LoraUploadProfile`), GPU. */
export const WARM_PHASES = ['manager', 'pack', 'staging', 'copy', 'submit', 'gpu'] as const;
/** Phases of a cold load (p50 ms): the loader thread's (`AdapterLoadTimings`), the rest on the way to the pool (request, message, store, slot manager), the pool's (`LoraUploadProfile`: taking a staging buffer, the memcpy, encoding and submitting) and the GPU's. */
export const COLD_PHASES = ['read', 'parse', 'hash', 'pack', 'rest', 'staging', 'copy', 'submit', 'gpu'] as const;
type Phases<K extends string> = Record<K, number>;
type ColdPhases = Phases<(typeof COLD_PHASES)[number]>;
type WarmPhases = Phases<(typeof WARM_PHASES)[number]>;

/** One load: its latency, the process's CPU ms, the main thread's GC pauses within it (ms) and its phases (which sum to `ms`). */
export interface LoadSample<P> {
  /** Which adapter (index among the rank's). */
  adapter: number;
  /** Start and end on the `performance.now()` clock. */
  start: number;
  end: number;
  ms: number;
  cpuMs: number;
  gcMs: number;
  phases: P;
  /** The pool's path (`LoraUploadProfile.via`), and whether the upload made its staging buffer. */
  via?: string;
  created?: boolean;
}

/** Where the tail's time went: the mean phases of the samples at or above the p95 (at least one), and the slowest few samples. */
export interface LoadTail<P> {
  count: number;
  ms: number;
  gcMs: number;
  phases: P;
  slowest: Array<LoadSample<P>>;
}

/** One variant's figures at one rank. */
export interface LoadFigures {
  variant: string;
  rank: number;
  cold: { p50: number; p99: number };
  warm: { p50: number; p99: number };
  /** CPU ms of the whole process (every thread: main, loader, lavapipe's, GC) per load, p50: steadier than wall time on a busy machine. */
  cpuMs: { cold: number; warm: number };
  /** Reading and hashing the files again (what a changed file costs on top), p50 ms. */
  readAndHashP50: number;
  samples: { cold: number; warm: number };
  fileBytes: number;
  coldP50: ColdPhases;
  warmP50: WarmPhases;
  /** GC pauses on the main thread within a load, p50 ms. */
  gcP50: { cold: number; warm: number };
  coldTail: LoadTail<ColdPhases>;
  warmTail: LoadTail<WarmPhases>;
  /** Every sample, in the order taken. */
  perSample: { cold: Array<LoadSample<ColdPhases>>; warm: Array<LoadSample<WarmPhases>> };
  /** Warm uploads per pool path (`LoraUploadProfile.via`). */
  via: Record<string, number>;
  bytes: number;
  copies: number;
}

/** Parameters of {@link measureLoadLatency}. */
export interface MeasureLoadLatencyParameters {
  device: GPUDevice;
  config: ModelConfig;
  loader: PeftLoader;
  /** Upload variants: a name, its one-slot pool and the loader its store reads with (default `loader`). */
  variants: Array<{ name: string; pool: GpuLoraSlotPool; loader?: PeftLoader }>;
  ranks: number[];
  /** Adapters per rank, each loaded cold once per variant. */
  adapters: number;
  warmSamples: number;
  /** Warm loads cycle over the first this many of the rank's adapters (default all): how many images the staging ring is asked to hold. */
  warmAdapters?: number;
  /** Directory of adapter `index` of rank `r` (files written before, so reads come from the page cache). */
  adapterDir: (index: number, rank: number) => Promise<string>;
  /** Store root (adapters are registered by path). */
  root: (rank: number) => string;
  log: (line: string) => void;
}

interface Lane {
  name: string;
  pool: GpuLoraSlotPool;
  slots: SlotManager;
  hostCache: HostCache;
  entries: AdapterEntry[];
  cold: Array<LoadSample<ColdPhases>>;
  warm: Array<LoadSample<WarmPhases>>;
  via: Record<string, number>;
}

/** The tail of `samples` (see {@link LoadTail}). */
export function loadTail<P extends Record<string, number>>(samples: Array<LoadSample<P>>, keys: readonly (keyof P)[], slowest = 3): LoadTail<P> {
  const p95 = percentile(samples.map((x) => x.ms), 0.95);
  const tail = samples.filter((x) => x.ms >= p95);
  const mean = (f: (x: LoadSample<P>) => number) => tail.reduce((a, x) => a + f(x), 0) / tail.length;
  return {
    count: tail.length,
    ms: mean((x) => x.ms),
    gcMs: mean((x) => x.gcMs),
    phases: Object.fromEntries(keys.map((k) => [k, mean((x) => x.phases[k])])) as P,
    slowest: [...samples].sort((a, b) => b.ms - a.ms).slice(0, slowest),
  };
}

/** Cold and warm load latency per variant and rank (see the file comment). */
export async function measureLoadLatency(p: MeasureLoadLatencyParameters): Promise<LoadFigures[]> {
  const out: LoadFigures[] = [];
  const gc = recordGcPauses();
  for (const r of p.ranks) {
    const dirs: string[] = [];
    for (let k = 0; k < p.adapters; k++) dirs.push(await p.adapterDir(k, r));
    const lanes: Lane[] = [];
    for (const v of p.variants) {
      const store = createAdapterStore({ dir: p.root(r), config: p.config, maxRank: v.pool.maxRank, loader: v.loader ?? p.loader, slotImage: v.pool.imageLayout });
      const hostCache = createHostCache({ load: (id, signal) => store.load(id, signal) });
      const slots = createSlotManager({ pool: v.pool, store, hostCache });
      const entries: AdapterEntry[] = [];
      for (const [k, dir] of dirs.entries()) entries.push(await store.register({ path: dir, name: `l${k}` }));
      lanes.push({ name: v.name, pool: v.pool, slots, hostCache, entries, cold: [], warm: [], via: {} });
    }
    /** One load through the slot manager, until the GPU ran it. */
    const timed = async (lane: Lane, id: string) => {
      const cpu = process.cpuUsage();
      const t = performance.now();
      await lane.slots.load(id);
      const resident = performance.now();
      await p.device.queue.onSubmittedWorkDone();
      const done = performance.now();
      const used = process.cpuUsage(cpu);
      const u = lane.pool.lastUpload;
      const inPool = u ? u.packMs + u.stagingMs + u.copyMs + u.submitMs : Number.NaN;
      return { start: t, end: done, total: done - t, onCpu: resident - t, gpu: done - resident, inPool, u, cpuMs: (used.user + used.system) / 1000 };
    };
    const hash: number[] = [];
    for (let k = 0; k < dirs.length; k++) {
      for (const lane of k % 2 ? [...lanes].reverse() : lanes) {
        const s = await timed(lane, lane.entries[k].id); // disk read + parse + pack on the loader thread + upload
        const t = (await lane.hostCache.get(lane.entries[k].id)).timings;
        const worker = t ? t.readMs + t.parseMs + t.hashMs + t.packMs : Number.NaN;
        const u = s.u;
        const phases = { read: t?.readMs ?? Number.NaN, parse: t?.parseMs ?? Number.NaN, hash: t?.hashMs ?? Number.NaN, pack: t?.packMs ?? Number.NaN, rest: s.onCpu - worker - s.inPool, staging: u?.stagingMs ?? Number.NaN, copy: u ? u.packMs + u.copyMs : Number.NaN, submit: u?.submitMs ?? Number.NaN, gpu: s.gpu };
        lane.cold.push({ adapter: k, start: s.start, end: s.end, ms: s.total, cpuMs: s.cpuMs, gcMs: Number.NaN, phases, via: s.u?.via, created: s.u?.created });
      }
    }
    // Read + keccak of the files (the content-id check of a changed file), after the cold loads: between them, its 2.6 s of
    // keccak and 9.8 MB read per file left the next loads a full GC to run (cold GC p50 2.5-19 ms against 0 without, load 7-10).
    for (const dir of dirs) {
      const t = performance.now();
      await adapterIdOfDir({ dir });
      hash.push(performance.now() - t);
    }
    const cycle = Math.min(p.warmAdapters ?? dirs.length, dirs.length);
    for (let k = 0; k < p.warmSamples; k++) {
      for (const lane of k % 2 ? [...lanes].reverse() : lanes) {
        const s = await timed(lane, lane.entries[k % cycle].id); // host-cached, not resident: the one-slot pool holds the previous
        const u = s.u;
        const phases = { manager: s.onCpu - s.inPool, pack: u?.packMs ?? Number.NaN, staging: u?.stagingMs ?? Number.NaN, copy: u?.copyMs ?? Number.NaN, submit: u?.submitMs ?? Number.NaN, gpu: s.gpu };
        lane.warm.push({ adapter: k % cycle, start: s.start, end: s.end, ms: s.total, cpuMs: s.cpuMs, gcMs: Number.NaN, phases, via: u?.via, created: u?.created });
        if (u) lane.via[u.via] = (lane.via[u.via] ?? 0) + 1;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // V8 reports a GC pause in a task after it
    for (const lane of lanes) for (const x of [...lane.cold, ...lane.warm]) x.gcMs = gc.within(x.start, x.end);
    for (const lane of lanes) {
      const st = lane.slots.stats();
      lane.slots.stop();
      if (st.host.misses !== dirs.length) throw new Error(`${lane.name}: expected ${dirs.length} host-cache misses (the cold loads), got ${st.host.misses}: warm loads were not host hits`);
      const p50 = <K extends string>(keys: readonly K[], xs: Array<LoadSample<Phases<K>>>) => Object.fromEntries(keys.map((key) => [key, percentile(xs.map((x) => x.phases[key]), 0.5)])) as Phases<K>;
      const at = (xs: Array<LoadSample<unknown>>, q: number, f: (x: LoadSample<unknown>) => number = (x) => x.ms) => percentile(xs.map(f), q);
      out.push({
        variant: lane.name,
        rank: r,
        cold: { p50: at(lane.cold, 0.5), p99: at(lane.cold, 0.99) },
        warm: { p50: at(lane.warm, 0.5), p99: at(lane.warm, 0.99) },
        cpuMs: { cold: at(lane.cold, 0.5, (x) => x.cpuMs), warm: at(lane.warm, 0.5, (x) => x.cpuMs) },
        readAndHashP50: percentile(hash, 0.5),
        samples: { cold: lane.cold.length, warm: lane.warm.length },
        fileBytes: lane.entries[0].fileBytes,
        coldP50: p50(COLD_PHASES, lane.cold),
        warmP50: p50(WARM_PHASES, lane.warm),
        gcP50: { cold: at(lane.cold, 0.5, (x) => x.gcMs), warm: at(lane.warm, 0.5, (x) => x.gcMs) },
        coldTail: loadTail(lane.cold, COLD_PHASES),
        warmTail: loadTail(lane.warm, WARM_PHASES),
        perSample: { cold: lane.cold, warm: lane.warm },
        via: lane.via,
        bytes: lane.pool.lastUpload?.bytes ?? Number.NaN,
        copies: lane.pool.lastUpload?.copies ?? Number.NaN,
      });
      p.log(`3. ${lane.name} rank ${r}: cold p50 ${out.at(-1)!.cold.p50.toFixed(1)} ms, warm p50 ${out.at(-1)!.warm.p50.toFixed(1)} ms`);
    }
  }
  gc.stop();
  return out;
}

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

/** Section 3's lines: per variant and rank the latencies, the phases of rank `rank`'s loads, each later variant's ratio to the first, the load average. */
export function loadReportLines(loads: LoadFigures[], rank: number, loadAverage: string): string[] {
  const variants = [...new Set(loads.map((l) => l.variant))];
  const name = (l: LoadFigures) => (variants.length > 1 ? ` ${l.variant}` : '');
  const width = Math.max(...variants.map((v) => v.length)) + 1;
  const lines = [`3. load latency ms${variants.length > 1 ? ' '.repeat(width) : ''}       cold p50 / p99     warm p50 / p99   CPU ms p50 cold / warm   (file; of cold: read + keccak p50)`];
  for (const l of loads) lines.push(`   rank ${String(l.rank).padEnd(3)}${variants.length > 1 ? name(l).padEnd(width) : ''}           ${f(l.cold.p50).padStart(7)} / ${f(l.cold.p99).padEnd(7)}  ${f(l.warm.p50).padStart(6)} / ${f(l.warm.p99).padEnd(6)}  ${f(l.cpuMs.cold).padStart(9)} / ${f(l.cpuMs.warm).padEnd(11)}  ${(l.fileBytes / 2 ** 20).toFixed(0)} MiB; ${f(l.readAndHashP50)} ms`);
  const phases = <P extends Record<string, number>>(keys: readonly (keyof P & string)[], x: P) => keys.map((k) => `${k} ${f(x[k], 2)}`).join(', ');
  const slow = <P extends Record<string, number>>(keys: readonly (keyof P & string)[], t: LoadTail<P>) => t.slowest.map((x) => `     ${f(x.ms).padStart(6)} ms (adapter ${x.adapter}${x.via ? ` via ${x.via}` : ''}${x.created ? ', new staging buffer' : ''}, CPU ${f(x.cpuMs)}, GC ${f(x.gcMs, 2)}): ${phases(keys, x.phases)}`);
  for (const l of loads.filter((x) => x.rank === rank)) {
    lines.push(`   cold rank ${rank}${name(l)}, p50 ms: ${phases(COLD_PHASES, l.coldP50)}; GC ${f(l.gcP50.cold, 2)}`);
    lines.push(`   cold rank ${rank}${name(l)}, tail (${l.coldTail.count} at or above p95, mean ${f(l.coldTail.ms)} ms): ${phases(COLD_PHASES, l.coldTail.phases)}; GC ${f(l.coldTail.gcMs, 2)}; slowest:`, ...slow(COLD_PHASES, l.coldTail));
    lines.push(`   warm rank ${rank}${name(l)}, p50 ms: ${phases(WARM_PHASES, l.warmP50)}; GC ${f(l.gcP50.warm, 2)} (${Object.entries(l.via).map(([k, v]) => `${v} via ${k}`).join(', ') || 'no pool profile'}; ${f(l.bytes / 2 ** 20)} MiB in ${l.copies} copies)`);
    lines.push(`   warm rank ${rank}${name(l)}, tail (${l.warmTail.count} at or above p95, mean ${f(l.warmTail.ms)} ms): ${phases(WARM_PHASES, l.warmTail.phases)}; GC ${f(l.warmTail.gcMs, 2)}; slowest:`, ...slow(WARM_PHASES, l.warmTail));
  }
  for (const v of variants.slice(1)) {
    for (const l of loads.filter((x) => x.variant === v)) {
      const first = loads.find((x) => x.variant === variants[0] && x.rank === l.rank)!;
      lines.push(`   rank ${l.rank} ${v} / ${variants[0]}: cold p50 ${f(l.cold.p50 / first.cold.p50, 2)}x p99 ${f(l.cold.p99 / first.cold.p99, 2)}x, warm p50 ${f(l.warm.p50 / first.warm.p50, 2)}x p99 ${f(l.warm.p99 / first.warm.p99, 2)}x; CPU ms cold ${f(l.cpuMs.cold / first.cpuMs.cold, 2)}x, warm ${f(l.cpuMs.warm / first.cpuMs.warm, 2)}x`);
    }
  }
  lines.push(`   load average ${loadAverage}`);
  return lines;
}
