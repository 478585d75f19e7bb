/**
 * `bench:lora`'s adapter load latency (section 3, and `--loads` alone): as a request waits for an
 * adapter, from asking the node's slot manager for it until the GPU has run its upload
 * (`onSubmittedWorkDone`: the copies a step submitted after them would read), cold (disk read,
 * parse and pack on the loader thread, then the upload) and warm (host cache → slot). Each pool has
 * one slot, so each load evicts the last adapter; the host cache keeps them all, so the second and
 * later loads of each are warm. With several upload variants (one pool each, `--upload`), the
 * samples are interleaved: each variant loads the same adapter in turn, the order reversed every
 * other sample.
 */
import type { ModelConfig } from '../../../src/model/config.ts';
import type { GpuLoraSlotPool } from '../../../src/engine/webgpu/lora/slotPool.ts';
import { createHostCache, type HostCache } from '../../../src/lora/hostCache.ts';
import { adapterIdOfDir } from '../../../src/lora/id.ts';
import type { PeftLoader } from '../../../src/lora/peftLoader.ts';
import { createSlotManager, type SlotManager } from '../../../src/lora/slots.ts';
import { createAdapterStore, type AdapterEntry } from '../../../src/lora/store.ts';
import { percentile } from './stats.ts';

/** Phases of a warm load (p50 ms): slot manager, pool (`LoraUploadProfile`), GPU. */
export const WARM_PHASES = ['manager', 'pack', 'staging', 'copy', 'submit', 'gpu'] as const;
/** Phases of a cold load (p50 ms): the loader thread's (`AdapterLoadTimings`), the rest on the way to the pool (request, message, store, slot manager), the pool's and the GPU's. */
export const COLD_PHASES = ['read', 'parse', 'hash', 'pack', 'rest', 'upload', 'gpu'] as const;
type Phases<K extends string> = Record<K, number>;

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
  coldP50: Phases<(typeof COLD_PHASES)[number]>;
  warmP50: Phases<(typeof WARM_PHASES)[number]>;
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
  /** Upload variants: a name and its one-slot pool. */
  variants: Array<{ name: string; pool: GpuLoraSlotPool }>;
  ranks: number[];
  /** Adapters per rank, each loaded cold once per variant. */
  adapters: number;
  warmSamples: number;
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
  cold: number[];
  warm: number[];
  coldCpu: number[];
  warmCpu: number[];
  coldPhases: Array<Phases<(typeof COLD_PHASES)[number]>>;
  warmPhases: Array<Phases<(typeof WARM_PHASES)[number]>>;
  via: Record<string, number>;
}

/** Cold and warm load latency per variant and rank (see the file comment). */
export async function measureLoadLatency(p: MeasureLoadLatencyParameters): Promise<LoadFigures[]> {
  const out: LoadFigures[] = [];
  for (const r of p.ranks) {
    const dirs: string[] = [];
    for (let k = 0; k < p.adapters; k++) dirs.push(await p.adapterDir(k, r));
    const lanes: Lane[] = [];
    for (const v of p.variants) {
      const store = createAdapterStore({ dir: p.root(r), config: p.config, maxRank: v.pool.maxRank, loader: p.loader, slotImage: v.pool.imageLayout });
      const hostCache = createHostCache({ load: (id, signal) => store.load(id, signal) });
      const slots = createSlotManager({ pool: v.pool, store, hostCache });
      const entries: AdapterEntry[] = [];
      for (const [k, dir] of dirs.entries()) entries.push(await store.register({ path: dir, name: `l${k}` }));
      lanes.push({ name: v.name, pool: v.pool, slots, hostCache, entries, cold: [], warm: [], coldCpu: [], warmCpu: [], coldPhases: [], warmPhases: [], via: {} });
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
      return { total: done - t, onCpu: resident - t, gpu: done - resident, inPool, u, cpuMs: (used.user + used.system) / 1000 };
    };
    const hash: number[] = [];
    for (let k = 0; k < dirs.length; k++) {
      for (const lane of k % 2 ? [...lanes].reverse() : lanes) {
        const s = await timed(lane, lane.entries[k].id); // disk read + parse + pack on the loader thread + upload
        lane.cold.push(s.total);
        lane.coldCpu.push(s.cpuMs);
        const t = (await lane.hostCache.get(lane.entries[k].id)).timings;
        const worker = t ? t.readMs + t.parseMs + t.hashMs + t.packMs : Number.NaN;
        lane.coldPhases.push({ read: t?.readMs ?? Number.NaN, parse: t?.parseMs ?? Number.NaN, hash: t?.hashMs ?? Number.NaN, pack: t?.packMs ?? Number.NaN, rest: s.onCpu - worker - s.inPool, upload: s.inPool, gpu: s.gpu });
      }
      const t = performance.now();
      await adapterIdOfDir({ dir: dirs[k] }); // read + keccak of the files: the content-id check of a changed file
      hash.push(performance.now() - t);
    }
    for (let k = 0; k < p.warmSamples; k++) {
      for (const lane of k % 2 ? [...lanes].reverse() : lanes) {
        const s = await timed(lane, lane.entries[k % dirs.length].id); // host-cached, not resident: the one-slot pool holds the previous
        lane.warm.push(s.total);
        lane.warmCpu.push(s.cpuMs);
        const u = s.u;
        lane.warmPhases.push({ manager: s.onCpu - s.inPool, pack: u?.packMs ?? Number.NaN, staging: u?.stagingMs ?? Number.NaN, copy: u?.copyMs ?? Number.NaN, submit: u?.submitMs ?? Number.NaN, gpu: s.gpu });
        if (u) lane.via[u.via] = (lane.via[u.via] ?? 0) + 1;
      }
    }
    for (const lane of lanes) {
      const st = lane.slots.stats();
      lane.slots.stop();
      if (st.host.misses !== dirs.length) throw new Error(`${lane.name}: expected ${dirs.length} host-cache misses (the cold loads), got ${st.host.misses}: warm loads were not host hits`);
      const p50 = <K extends string>(keys: readonly K[], xs: Array<Phases<K>>) => Object.fromEntries(keys.map((key) => [key, percentile(xs.map((x) => x[key]), 0.5)])) as Phases<K>;
      out.push({
        variant: lane.name,
        rank: r,
        cold: { p50: percentile(lane.cold, 0.5), p99: percentile(lane.cold, 0.99) },
        warm: { p50: percentile(lane.warm, 0.5), p99: percentile(lane.warm, 0.99) },
        cpuMs: { cold: percentile(lane.coldCpu, 0.5), warm: percentile(lane.warmCpu, 0.5) },
        readAndHashP50: percentile(hash, 0.5),
        samples: { cold: lane.cold.length, warm: lane.warm.length },
        fileBytes: lane.entries[0].fileBytes,
        coldP50: p50(COLD_PHASES, lane.coldPhases),
        warmP50: p50(WARM_PHASES, lane.warmPhases),
        via: lane.via,
        bytes: lane.pool.lastUpload?.bytes ?? Number.NaN,
        copies: lane.pool.lastUpload?.copies ?? Number.NaN,
      });
      p.log(`3. ${lane.name} rank ${r}: cold p50 ${out.at(-1)!.cold.p50.toFixed(1)} ms, warm p50 ${out.at(-1)!.warm.p50.toFixed(1)} ms`);
    }
  }
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
  for (const l of loads.filter((x) => x.rank === rank)) {
    lines.push(`   cold rank ${rank}${name(l)}, p50 ms: ${COLD_PHASES.map((k) => `${k} ${f(l.coldP50[k], 2)}`).join(', ')}`);
    lines.push(`   warm rank ${rank}${name(l)}, p50 ms: ${WARM_PHASES.map((k) => `${k} ${f(l.warmP50[k], 2)}`).join(', ')} (${Object.entries(l.via).map(([k, v]) => `${v} via ${k}`).join(', ') || 'no pool profile'}; ${f(l.bytes / 2 ** 20)} MiB in ${l.copies} copies)`);
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
