/**
 * Closed-loop load generator shared by the benchmarks: `concurrency` workers each run one request
 * after another until a time or request budget is spent; latencies summarised as p50/p99.
 */
import { percentile } from './stats.ts';

/** Latency summary of one phase. */
export interface Phase {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  tokensPerSecond: number;
}

/** Runs `one` (which resolves with the tokens it produced) from `concurrency` workers until `ms` have passed or `limit` requests started. */
export async function drive(concurrency: number, ms: number, limit: number, one: () => Promise<number>): Promise<Phase> {
  const latencies: number[] = [];
  let tokens = 0;
  let started = 0;
  const t0 = performance.now();
  const deadline = t0 + ms;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (started < limit && performance.now() < deadline) {
      started++;
      const t = performance.now();
      const produced = await one();
      tokens += produced;
      latencies.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  return { requests: latencies.length, seconds, rps: latencies.length / seconds, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), tokensPerSecond: tokens / seconds };
}
