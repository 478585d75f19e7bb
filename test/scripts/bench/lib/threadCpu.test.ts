/** Per-thread CPU time for the engine benchmarks (scripts/bench/lib/threadCpu.ts). */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { threadCpuBetween, threadCpuMs, threadsCpuMs, threadsPerStepText } from '../../../../scripts/bench/lib/threadCpu.ts';

describe('per-thread CPU time', () => {
  it.runIf(process.platform === 'linux')("reads this process's threads, and a busy thread's time grows by what it ran", async () => {
    const before = threadsCpuMs()!;
    expect(before.has(process.pid)).toBe(true);
    // A worker thread spins until its own CPU time (its thread's schedstat) grew by 150 ms, then
    // stays (idle) until terminated, so its thread is still there when the main thread looks; the
    // main thread waits without running.
    const own = 'Number(require("node:fs").readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6';
    const worker = new Worker(`const t = ${own}; while (${own} - t < 150) {} require("node:worker_threads").parentPort.postMessage(0); setInterval(() => {}, 60000);`, { eval: true });
    await new Promise((resolve) => worker.once('message', resolve));
    const during = threadsCpuMs()!;
    await worker.terminate();
    const { mainMs, othersMs } = threadCpuBetween(before, during);
    expect(othersMs[0]).toBeGreaterThan(100); // the worker's, busiest first
    expect(othersMs).toEqual([...othersMs].sort((a, b) => b - a));
    expect(mainMs).toBeLessThan(othersMs[0]);
    expect(threadCpuMs()).toBeGreaterThanOrEqual(before.get(process.pid)!);
  });

  it('is undefined for a thread that is not there', () => {
    expect(threadCpuMs(2 ** 31 - 1)).toBeUndefined();
  });

  it('takes differences per thread, the main thread apart, and leaves out threads that ended', () => {
    const before = new Map([[1, 10], [2, 5], [3, 100]]);
    const after = new Map([[1, 14], [2, 65], [4, 30]]); // 3 ended, 4 started
    expect(threadCpuBetween(before, after, 1)).toEqual({ mainMs: 4, othersMs: [60, 30] });
  });

  it('prints the busiest threads per step with their share of the step, at most 4 of at least 5%', () => {
    // A step of 50 ms: 32 and 31 ms (64%, 62%), 3 ms (6%), 2 ms (4%: left out).
    expect(threadsPerStepText({ mainMs: 3.9, othersMs: [32, 31, 3, 2] }, 50)).toBe('32.0, 31.0, 3.0 ms (64%, 62%, 6% of the step), main thread 3.9 ms');
    expect(threadsPerStepText({ mainMs: 10, othersMs: [600, 500, 400, 300, 200] }, 1000)).toBe('600.0, 500.0, 400.0, 300.0 ms (60%, 50%, 40%, 30% of the step), main thread 10.0 ms');
    expect(threadsPerStepText({ mainMs: 10, othersMs: [1] }, 100)).toBe('main thread 10.0 ms');
  });
});
