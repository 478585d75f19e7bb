/**
 * The engine benchmarks' workloads on a backend: a prefill of one prompt into the first KV blocks,
 * and greedy decode steps of a batch of sequences whose blocks follow the prefill's.
 */
import type { Backend, StepSequence } from '../../../src/engine/backend.ts';
import { median } from './stats.ts';
import { threadCpuBetween, threadsCpuMs } from './threadCpu.ts';

const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };

/** `n` token ids, deterministic per `salt`, below 49000 (every preset's vocabulary holds them) and below `vocab` (the tiny test model's 264). */
export const benchIds = (n: number, salt: number, vocab: number) => Array.from({ length: n }, (_, i) => (i * 7919 + salt * 104729 + 11) % Math.min(49000, vocab));

/** Prompt length of each decode sequence. */
export const DECODE_PROMPT = 16;

/** KV blocks a prefill of `promptLen` and decode batches up to `maxBatch` of `steps` steps need. */
export function benchKvBlocks(promptLen: number, maxBatch: number, steps: number): { numKvBlocks: number; perSeqBlocks: number } {
  const perSeqBlocks = Math.ceil((DECODE_PROMPT + steps + 1) / 16);
  return { numKvBlocks: Math.ceil((promptLen + 1) / 16) + maxBatch * perSeqBlocks, perSeqBlocks };
}

/** CPU milliseconds of this process, all threads (lavapipe runs kernels on its own threads). */
export const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * Prefills `batch` sequences (blocks after the prefill region of `promptLen`), then times `steps`
 * decode steps; returns their tokens too, and the CPU milliseconds each thread ran during them
 * (`threads`, where the OS says: the main thread apart, the others busiest first). `beforeSteps`
 * runs between the prefill and the first timed step (e.g. to reset a per-kernel profile so it
 * holds decode steps only).
 */
export async function decodeRun(b: Backend, p: { batch: number; steps: number; promptLen: number; perSeqBlocks: number; beforeSteps?: () => void }): Promise<{ ms: number; stepMs: number[]; cpuMs: number; tokens: number[][]; threads?: { mainMs: number; othersMs: number[] } }> {
  const base = Math.ceil((p.promptLen + 1) / 16);
  const seqs = Array.from({ length: p.batch }, (_, i) => ({
    blockTable: Array.from({ length: p.perSeqBlocks }, (_, j) => base + i * p.perSeqBlocks + j),
    tokens: benchIds(DECODE_PROMPT, i + 1, b.config.vocabSize),
  }));
  let outs = await b.step(seqs.map((s, i): StepSequence => ({ tokens: s.tokens, startPos: 0, blockTable: s.blockTable, adapterSlot: -1, sample: { ...greedy, seed: i, step: 0 } })));
  const tokens = outs.map((o) => [o.token!]);
  p.beforeSteps?.();
  const stepMs: number[] = [];
  const c = cpuMs();
  const threads0 = threadsCpuMs();
  for (let k = 1; k <= p.steps; k++) {
    const t = performance.now();
    outs = await b.step(seqs.map((s, i): StepSequence => ({ tokens: [outs[i].token!], startPos: DECODE_PROMPT + k - 1, blockTable: s.blockTable, adapterSlot: -1, sample: { ...greedy, seed: i, step: k } })));
    stepMs.push(performance.now() - t);
    outs.forEach((o, i) => tokens[i].push(o.token!));
  }
  const threads1 = threadsCpuMs();
  const threads = threads0 && threads1 ? threadCpuBetween(threads0, threads1) : undefined;
  return { ms: stepMs.reduce((a, x) => a + x, 0), stepMs, cpuMs: cpuMs() - c, tokens, ...(threads ? { threads } : {}) };
}

/** Milliseconds of one prefill of `promptLen` tokens (its first token sampled). */
export async function prefillRun(b: Backend, promptLen: number): Promise<number> {
  const t = performance.now();
  await b.step([{ tokens: benchIds(promptLen, 0, b.config.vocabSize), startPos: 0, blockTable: Array.from({ length: Math.ceil((promptLen + 1) / 16) }, (_, i) => i), adapterSlot: -1, sample: { ...greedy, step: 0 } }]);
  return performance.now() - t;
}

/** What one run of an interleaved measurement returns: each step's wall milliseconds and the run's CPU milliseconds. */
export type TimedRun = { stepMs: number[]; cpuMs: number };

/**
 * Steps per second of each run, measured side by side: `rounds` rounds, each calling every run
 * once, the order reversed every other round (so none always runs first on a machine whose load
 * drifts); per run the median over rounds of 1000 / its median step ms, each round's value, and the
 * median CPU milliseconds per step of this process (all threads: on a CPU adapter the kernels'
 * work, which other jobs on the cores slow far less than the wall time).
 */
export async function interleavedRuns(runs: (() => Promise<TimedRun>)[], rounds: number): Promise<{ stepsPerSecond: number[]; rounds: number[][]; cpuMsPerStep: number[] }> {
  const perRound: number[][] = runs.map(() => []);
  const cpuRound: number[][] = runs.map(() => []);
  for (let r = 0; r < rounds; r++) {
    const order = runs.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const i of order) {
      const { stepMs, cpuMs } = await runs[i]();
      perRound[i].push(1000 / median(stepMs));
      cpuRound[i].push(cpuMs / stepMs.length);
    }
  }
  return { stepsPerSecond: perRound.map(median), rounds: perRound, cpuMsPerStep: cpuRound.map(median) };
}

/**
 * Batch 32 (or any `big`) against batch 1 on one backend, side by side: interleaved rounds of both
 * (`interleavedRuns`), the ratio of tokens/s taken within each round (both measured under the same
 * load) and its median, the ratio of the median tokens/s, and the ratio of tokens per CPU
 * millisecond (the steadiest on a shared machine).
 */
export async function batchRatio(run: (batch: number) => Promise<TimedRun>, big: number, rounds: number): Promise<{ ratio: number; roundRatios: number[]; medianTokensPerSecond: { batch1: number; big: number }; cpuRatio: number; cpuMsPerStep: { batch1: number; big: number } }> {
  const r = await interleavedRuns([() => run(1), () => run(big)], rounds);
  const roundRatios = r.rounds[1].map((s, i) => (s * big) / r.rounds[0][i]);
  const [cpu1, cpuBig] = r.cpuMsPerStep;
  return { ratio: median(roundRatios), roundRatios, medianTokensPerSecond: { batch1: r.stepsPerSecond[0], big: r.stepsPerSecond[1] * big }, cpuRatio: (big / cpuBig) / (1 / cpu1), cpuMsPerStep: { batch1: cpu1, big: cpuBig } };
}
