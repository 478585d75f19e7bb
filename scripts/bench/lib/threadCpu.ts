/**
 * CPU time per thread of this process (Linux: `/proc/self/task/<tid>/schedstat`, its first field),
 * for the benchmarks: on a CPU adapter (lavapipe) the kernels run on the driver's own threads, so
 * how busy those are during a step tells the step's kernel work from the time its threads wait
 * (each dispatch handed to them, docs/engine.md "What a dispatch costs on lavapipe").
 */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU milliseconds of one thread (`tid`; default: the main thread); undefined where the kernel does not say (not Linux). */
export function threadCpuMs(tid: number = process.pid): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return undefined;
  }
}

/** CPU milliseconds of every thread of this process by thread id; undefined where the kernel does not say. */
export function threadsCpuMs(): Map<number, number> | undefined {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return undefined;
  }
  const out = new Map<number, number>();
  for (const t of tids) {
    const ms = threadCpuMs(Number(t));
    if (ms !== undefined) out.set(Number(t), ms); // a thread may end between the listing and the read
  }
  return out;
}

/** What each thread ran between two {@link threadsCpuMs} snapshots: the main thread's milliseconds, and the others' busiest first (threads that ended between them left out). */
export function threadCpuBetween(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>, mainTid: number = process.pid): { mainMs: number; othersMs: number[] } {
  let mainMs = 0;
  const othersMs: number[] = [];
  for (const [tid, ms] of after) {
    const d = ms - (before.get(tid) ?? 0);
    if (tid === mainTid) mainMs = d;
    else othersMs.push(d);
  }
  return { mainMs, othersMs: othersMs.sort((a, b) => b - a) };
}

/** Threads printed beside a step: at most this many of the busiest besides the main thread. */
const SHOWN_THREADS = 4;
/** ...each at least this share of the step's wall time (the rest are Node's and Dawn's idle helpers). */
const SHOWN_SHARE = 0.05;

/**
 * A step's threads (a run's {@link threadCpuBetween} divided by its steps) against the step's
 * `stepMs` wall milliseconds, for a bench line: "31.3, 31.1 ms (63%, 63% of the step), main thread 3.9 ms".
 */
export function threadsPerStepText(perStep: { mainMs: number; othersMs: readonly number[] }, stepMs: number): string {
  const shown = perStep.othersMs.filter((ms, i) => i < SHOWN_THREADS && ms >= SHOWN_SHARE * stepMs);
  const busy = shown.length ? `${shown.map((ms) => ms.toFixed(1)).join(', ')} ms (${shown.map((ms) => `${((100 * ms) / stepMs).toFixed(0)}%`).join(', ')} of the step), ` : '';
  return `${busy}main thread ${perStep.mainMs.toFixed(1)} ms`;
}
