/**
 * Batched decode with distinct adapters (`bench:lora`'s section 1, and `--variants`): `batch`
 * sequences, row i on slot i % distinct (none with 0 distinct), greedy; and the same workload on
 * one backend per kernel-shape variant in interleaved rounds, so a shape change is measured
 * side by side against the device's own on the same machine state.
 */
import { loadavg } from 'node:os';
import type { Backend, LoraWeights, StepSequence } from '../../../src/engine/backend.ts';
import { moduleNames, type ModelConfig } from '../../../src/model/config.ts';
import type { WebGpuBackend } from '../../../src/engine/webgpu/backend.ts';
import { benchIds, cpuMs } from './engineRuns.ts';
import { uniform } from './loraTraffic.ts';
import { median } from './stats.ts';

const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };

/** Random rank-r weights on the `targets` modules (default every linear module), A ~ U(±1/√in), B scaled like createAdapter. */
export function randomLoraWeights(config: ModelConfig, seed: number, rank: number, targets: readonly string[] = moduleNames(config)): LoraWeights {
  const u = uniform(seed);
  const fill = (n: number, s: number) => Float32Array.from({ length: n }, () => (u() * 2 - 1) * s);
  const layers = Array.from({ length: config.numLayers }, () => {
    const layer: LoraWeights['layers'][number] = {};
    for (const { name, out, in: inF } of config.modules.filter((m) => targets.includes(m.name))) layer[name] = { a: fill(rank * inF, 1 / Math.sqrt(inF)), b: fill(out * rank, 0.3 / Math.sqrt(rank)) };
    return layer;
  });
  return { rank, scale: 2, layers };
}

/** The decode workload: `batch` sequences of a `prompt`-token prompt, each in its own `perSeqBlocks` KV blocks. */
export interface LoraDecodeShape {
  batch: number;
  prompt: number;
  perSeqBlocks: number;
  /** Timed decode steps (after one untimed). */
  steps: number;
}

/**
 * Prefills the batch, runs one untimed decode step (the first compiles any pipeline the warm-up
 * missed), then times `steps` steps: each step's wall ms, this process's CPU ms over them (all
 * threads: lavapipe's kernels run on them), and every row's tokens.
 */
export async function loraDecodeRun(b: Backend, shape: LoraDecodeShape, distinct: number, beforeSteps?: () => void): Promise<{ stepMs: number[]; cpuMs: number; tokens: number[][] }> {
  const slotOf = (i: number) => (distinct === 0 ? -1 : i % distinct);
  const seqs = Array.from({ length: shape.batch }, (_, i) => ({ blockTable: Array.from({ length: shape.perSeqBlocks }, (_, j) => i * shape.perSeqBlocks + j), tokens: benchIds(shape.prompt, i + 1, b.config.vocabSize) }));
  const step = (k: number, tokens: (i: number) => number[]) =>
    b.step(seqs.map((s, i): StepSequence => ({ tokens: tokens(i), startPos: k === 0 ? 0 : shape.prompt + k - 1, blockTable: s.blockTable, adapterSlot: slotOf(i), sample: { ...greedy, step: k } })));
  let outs = await step(0, (i) => seqs[i].tokens);
  outs = await step(1, (i) => [outs[i].token!]);
  const tokens = outs.map((o) => [o.token!]);
  beforeSteps?.();
  const stepMs: number[] = [];
  const c = cpuMs();
  for (let k = 2; k <= shape.steps + 1; k++) {
    const t = performance.now();
    outs = await step(k, (i) => [outs[i].token!]);
    stepMs.push(performance.now() - t);
    outs.forEach((o, i) => tokens[i].push(o.token!));
  }
  return { stepMs, cpuMs: cpuMs() - c, tokens };
}

/** One variant's figures at one number of distinct adapters. */
export interface LoraVariantFigure {
  variant: string;
  distinct: number;
  /** Median over rounds of each round's median step. */
  tokensPerSecond: number;
  /** Median over rounds of CPU ms per step. */
  cpuMsPerStep: number;
  rounds: number[];
  /** tokens/s over the first distinct count's (base only) of the same variant, median of the per-round ratios. */
  ofBase: number;
  /** tokens/s over the first variant's at the same count, median of the per-round ratios. */
  overFirst: number;
  /** CPU ms per step of the first variant over this one's (> 1: this one costs less CPU). */
  cpuOverFirst: number;
  /** CPU ms per step of the same variant's base only over this one's: the rate this count keeps of base by CPU per step (the steadier figure on a shared machine). */
  cpuOfBase: number;
  /** Greedy tokens identical to the first variant's. */
  sameTokens: boolean;
  /** Per-kernel GPU ms per step (`--profile`), else undefined. */
  kernelsMs?: Record<string, number>;
}

/**
 * Each backend (one per variant) runs the decode at every `distinct` count once per round, the
 * variants' order reversed every other round; per round and variant the distinct counts run in a
 * row, so ratios to base come from the same machine state. With `profile`, one more profiled run
 * per variant and count (timestamp queries) gives the per-kernel GPU time.
 */
export async function compareLoraVariants(p: { backends: WebGpuBackend[]; variants: string[]; distincts: number[]; rounds: number; shape: LoraDecodeShape; profile: boolean; log: (line: string) => void }): Promise<{ figures: LoraVariantFigure[]; loadAverages: number[] }> {
  const { backends, variants, distincts, shape } = p;
  const key = (v: number, d: number) => v * distincts.length + d;
  const rate: number[][] = variants.flatMap(() => distincts.map(() => []));
  const cpu: number[][] = variants.flatMap(() => distincts.map(() => []));
  const tokens: number[][][] = [];
  const loadAverages: number[] = [];
  for (let r = 0; r < p.rounds; r++) {
    const order = variants.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const v of order) {
      for (let d = 0; d < distincts.length; d++) {
        const run = await loraDecodeRun(backends[v], shape, distincts[d]);
        rate[key(v, d)].push((shape.batch * 1000) / median(run.stepMs));
        cpu[key(v, d)].push(run.cpuMs / run.stepMs.length);
        tokens[key(v, d)] = run.tokens;
      }
    }
    loadAverages.push(loadavg()[0]);
    p.log(`round ${r + 1}/${p.rounds}: ${variants.map((name, v) => `${name} ${distincts.map((d, i) => `${d}: ${rate[key(v, i)][r].toFixed(1)}`).join(' ')}`).join(' | ')} tokens/s, load ${loadAverages[r].toFixed(2)}`);
  }
  const ratio = (a: number[], b: number[]) => median(a.map((x, i) => x / b[i]));
  const figures = variants.flatMap((variant, v) =>
    distincts.map((distinct, d): LoraVariantFigure => ({
      variant,
      distinct,
      tokensPerSecond: median(rate[key(v, d)]),
      cpuMsPerStep: median(cpu[key(v, d)]),
      rounds: rate[key(v, d)],
      ofBase: ratio(rate[key(v, d)], rate[key(v, 0)]),
      overFirst: ratio(rate[key(v, d)], rate[key(0, d)]),
      cpuOverFirst: median(cpu[key(0, d)]) / median(cpu[key(v, d)]),
      cpuOfBase: median(cpu[key(v, 0)]) / median(cpu[key(v, d)]),
      sameTokens: JSON.stringify(tokens[key(v, d)]) === JSON.stringify(tokens[key(0, d)]),
    })),
  );
  if (p.profile) {
    for (const f of figures) {
      const b = backends[variants.indexOf(f.variant)];
      if (!b.setProfiling(true, { byOp: true })) break;
      await loraDecodeRun(b, shape, f.distinct, () => b.resetProfile());
      f.kernelsMs = Object.fromEntries(Object.entries(b.profile() ?? {}).map(([k, ms]) => [k, ms / shape.steps]));
      b.setProfiling(false);
    }
  }
  return { figures, loadAverages };
}
