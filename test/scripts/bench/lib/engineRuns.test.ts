/**
 * The engine benchmarks' interleaved measurements (scripts/bench/lib/engineRuns.ts): the order of
 * runs within rounds, the medians, and batch 32 / batch 1 taken within each round.
 */
import { describe, expect, it } from 'vitest';
import { batchRatio, benchIds, interleavedRuns, type TimedRun } from '../../../../scripts/bench/lib/engineRuns.ts';

describe('bench prompts', () => {
  it('stay inside the model\'s vocabulary: the tiny test model\'s 264 ids as well as the presets\' 49,000', () => {
    const tiny = benchIds(500, 3, 264);
    expect(Math.max(...tiny)).toBeLessThan(264);
    expect(new Set(tiny).size).toBeGreaterThan(200);
    expect(Math.max(...benchIds(500, 3, 49152))).toBeGreaterThan(40000);
    expect(benchIds(16, 1, 49152)).toEqual(benchIds(16, 1, 128256)); // every preset sees the same prompt
  });
});

describe('interleaved engine runs', () => {
  it('reverses the order every other round and takes medians per run', async () => {
    const calls: string[] = [];
    const run = (name: string, stepMs: number[][], cpuMs: number[]) => {
      let n = 0;
      return async (): Promise<TimedRun> => {
        calls.push(name);
        return { stepMs: stepMs[n], cpuMs: cpuMs[n++] };
      };
    };
    const r = await interleavedRuns(
      [
        run('a', [[10, 20, 10], [5, 5, 5], [50, 40, 50]], [30, 60, 90]),
        run('b', [[100], [200], [250]], [10, 20, 30]),
      ],
      3,
    );
    expect(calls).toEqual(['a', 'b', 'b', 'a', 'a', 'b']);
    expect(r.rounds).toEqual([[100, 200, 20], [10, 5, 4]]);
    expect(r.stepsPerSecond).toEqual([100, 5]);
    expect(r.cpuMsPerStep).toEqual([20, 20]);
  });

  it('batch 32 / batch 1 is the median of the ratios within rounds, and per CPU ms', async () => {
    // Round 2 is slow for both batches (a busy machine): the ratio within it is unaffected.
    const stepMs: Record<number, number[]> = { 1: [100, 400, 100], 32: [400, 1600, 800] };
    const cpuMs: Record<number, number[]> = { 1: [150, 150, 150], 32: [600, 600, 600] };
    const seen: Record<number, number> = { 1: 0, 32: 0 };
    const r = await batchRatio(async (batch) => {
      const i = seen[batch]++;
      return { stepMs: [stepMs[batch][i]], cpuMs: cpuMs[batch][i] };
    }, 32, 3);
    expect(r.roundRatios).toEqual([8, 8, 4]);
    expect(r.ratio).toBe(8);
    expect(r.medianTokensPerSecond).toEqual({ batch1: 10, big: 40 });
    expect(r.cpuRatio).toBe(8);
    expect(r.cpuMsPerStep).toEqual({ batch1: 150, big: 600 });
  });
});
