/**
 * The main thread's garbage-collection pauses (`PerformanceObserver` 'gc' entries), so a benchmark
 * can say how much of a slow sample was the collector: each pause's start and length on the
 * `performance.now()` clock, and the milliseconds of pauses within a window.
 */
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/** One pause: start and end on the `performance.now()` clock. */
export interface GcPause {
  start: number;
  end: number;
}

/** Records pauses from `start()` until `stop()`. */
export interface GcPauses {
  /** Milliseconds of the pauses recorded so far that overlap `[from, to]` (their overlapping parts). */
  within(from: number, to: number): number;
  /** Every pause recorded so far, in order. */
  pauses(): readonly GcPause[];
  stop(): void;
}

/** Milliseconds of `pauses` (sorted by start) that overlap `[from, to]`. */
export function pauseMsWithin(pauses: readonly GcPause[], from: number, to: number): number {
  let ms = 0;
  for (const p of pauses) {
    if (p.start >= to) break;
    ms += Math.max(0, Math.min(p.end, to) - Math.max(p.start, from));
  }
  return ms;
}

/** Starts recording the main thread's GC pauses. */
export function recordGcPauses(): GcPauses {
  const pauses: GcPause[] = [];
  const add = (entries: PerformanceEntry[]) => {
    for (const e of entries) pauses.push({ start: e.startTime, end: e.startTime + e.duration });
    pauses.sort((a, b) => a.start - b.start);
  };
  const observer = new PerformanceObserver((list) => add(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  /** Entries not yet delivered to the callback (it runs asynchronously). */
  const flush = () => add(observer.takeRecords());
  return {
    within(from, to) {
      flush();
      return pauseMsWithin(pauses, from, to);
    },
    pauses() {
      flush();
      return pauses;
    },
    stop() {
      flush();
      observer.disconnect();
    },
  };
}
