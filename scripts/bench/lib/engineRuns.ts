/**
 * The engine benchmarks' workloads on a backend: a prefill of one prompt into the first KV blocks,
 * and greedy decode steps of a batch of sequences whose blocks follow the prefill's.
 */
import type { Backend, StepSequence } from '../../../src/engine/backend.ts';
import { median } from './stats.ts';

const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };

/** `n` token ids, deterministic per `salt`, below 49000 (every preset's vocabulary holds them). */
export const benchIds = (n: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 7919 + salt * 104729 + 11) % 49000);

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
 * decode steps; returns their tokens too. `beforeSteps` runs between the prefill and the first
 * timed step (e.g. to reset a per-kernel profile so it holds decode steps only).
 */
export async function decodeRun(b: Backend, p: { batch: number; steps: number; promptLen: number; perSeqBlocks: number; beforeSteps?: () => void }): Promise<{ ms: number; stepMs: number[]; cpuMs: number; tokens: number[][] }> {
  const base = Math.ceil((p.promptLen + 1) / 16);
  const seqs = Array.from({ length: p.batch }, (_, i) => ({
    blockTable: Array.from({ length: p.perSeqBlocks }, (_, j) => base + i * p.perSeqBlocks + j),
    tokens: benchIds(DECODE_PROMPT, i + 1),
  }));
  let outs = await b.step(seqs.map((s, i): StepSequence => ({ tokens: s.tokens, startPos: 0, blockTable: s.blockTable, adapterSlot: -1, sample: { ...greedy, seed: i, step: 0 } })));
  const tokens = outs.map((o) => [o.token!]);
  p.beforeSteps?.();
  const stepMs: number[] = [];
  const c = cpuMs();
  for (let k = 1; k <= p.steps; k++) {
    const t = performance.now();
    outs = await b.step(seqs.map((s, i): StepSequence => ({ tokens: [outs[i].token!], startPos: DECODE_PROMPT + k - 1, blockTable: s.blockTable, adapterSlot: -1, sample: { ...greedy, seed: i, step: k } })));
    stepMs.push(performance.now() - t);
    outs.forEach((o, i) => tokens[i].push(o.token!));
  }
  return { ms: stepMs.reduce((a, x) => a + x, 0), stepMs, cpuMs: cpuMs() - c, tokens };
}

/** Milliseconds of one prefill of `promptLen` tokens (its first token sampled). */
export async function prefillRun(b: Backend, promptLen: number): Promise<number> {
  const t = performance.now();
  await b.step([{ tokens: benchIds(promptLen, 0), startPos: 0, blockTable: Array.from({ length: Math.ceil((promptLen + 1) / 16) }, (_, i) => i), adapterSlot: -1, sample: { ...greedy, step: 0 } }]);
  return performance.now() - t;
}

/**
 * Batch-1 decode tokens/s of each backend, measured side by side: `rounds` rounds, each running
 * `run` once per backend, the order reversed every other round (so neither always runs first on a
 * machine whose load drifts); the median per backend. Also the CPU milliseconds per step of this
 * process (all threads: on a CPU adapter the kernels' work, which other jobs on the cores slow far
 * less than the wall time), median per backend.
 */
export async function interleavedDecode(backends: Backend[], rounds: number, run: (b: Backend) => Promise<{ stepMs: number[]; cpuMs: number }>): Promise<{ tokensPerSecond: number[]; rounds: number[][]; cpuMsPerStep: number[] }> {
  const perRound: number[][] = backends.map(() => []);
  const cpuRound: number[][] = backends.map(() => []);
  for (let r = 0; r < rounds; r++) {
    const order = backends.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const i of order) {
      const { stepMs, cpuMs } = await run(backends[i]);
      perRound[i].push(1000 / median(stepMs));
      cpuRound[i].push(cpuMs / stepMs.length);
    }
  }
  return { tokensPerSecond: perRound.map(median), rounds: perRound, cpuMsPerStep: cpuRound.map(median) };
}
