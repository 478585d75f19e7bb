/**
 * Engine benchmark (not a test): `npm run bench:engine [-- --out FILE]`.
 *
 * On bench-135m (f16, SmolLM2-135M shapes; generated into .openlora/cache/models if absent):
 * start-up (weight upload, then kernel compilation, which the backend does during load), the
 * warm-up workload (the 512-token prefill and one step of each decode batch) timed on first use
 * and again (the difference is what first use still costs), prefill tokens/s of a 512-token
 * prompt, time to first token, decode tokens/s at batch 1, 8 and 32, per-kernel GPU time of a
 * batch-1 decode step (timestamp queries), and weight bytes read per decode step / step time
 * beside a plain streaming kernel's read bandwidth on the same device (the roofline). The CPU
 * reference's batch-1 decode rate beside it. `--quantize q8_0|q4_0|q4_k` quantizes the matrices at
 * load (WebGPU reads the blocks), and then also loads the f16 model from the same weights and
 * measures batch-1 decode of both side by side (`--f16-rounds` interleaved rounds, the median of
 * each; the ratio against issue 17's goal for Q4 weights: >= 2x; beside it the ratio of the median
 * CPU milliseconds per step, steadier on a busy machine; `--skip-f16` leaves it out).
 * `--variants current,attentionBroadcast=false` (kernel shape overrides, `key=value` joined by
 * `+`, as in `bench:linear -- --b1`): the first variant runs every measurement, and the side-by-side
 * rounds interleave both models under each variant (one ratio per variant). `dawnPollMs=N` in a
 * variant sets how Dawn's promises are polled during its runs (0: Dawn's spin; process-wide, set
 * before each run; src/gpu/eventPolling.ts), e.g. `--variants current,dawnPollMs=0`.
 * `--profile-batches 1,32`: the per-kernel profile at each of these batches (default 1). Each decode
 * line adds the CPU milliseconds per step of the busiest threads besides the main thread (on a CPU
 * adapter the driver's, which run the kernels: busy for less than the step, they waited for dispatches).
 * When `--batches` holds 1 and 32, batch 32 / batch 1 is measured again in `--batch-rounds`
 * interleaved rounds (default 5) on the same backend: the median of each round's ratio (both
 * batches under the same load), and the ratio of tokens per CPU millisecond, against issue 17's goal >= 8x.
 * `--linear tiled|plain` forces the
 * tiled linear kernel from 8 rows or the plain one at every row count (default: the device's plan).
 */
import { loadavg } from 'node:os';
import { writeFile } from 'node:fs/promises';
import type { Backend } from '../../src/engine/backend.ts';
import { createReferenceBackend } from '../../src/engine/reference/backend.ts';
import { createWebGpuBackend, type WebGpuBackend } from '../../src/engine/webgpu/backend.ts';
import { measureReadBandwidth } from '../../src/engine/webgpu/roofline.ts';
import { acquireGpu } from '../../src/gpu/device.ts';
import { dawnPollingMs, setDawnPolling } from '../../src/gpu/eventPolling.ts';
import { loadModel } from '../../src/model/load.ts';
import { QUANTIZE_TYPES } from '../../src/model/quant/index.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';
import { benchModelDir } from './lib/models.ts';
import { parseVariant } from './lib/linearB1.ts';
import { batchRatio, benchKvBlocks, cpuMs, decodeRun, interleavedRuns, prefillRun } from './lib/engineRuns.ts';
import { median } from './lib/stats.ts';
import { threadsPerStepText } from './lib/threadCpu.ts';

/** Issue 17's goal: with Q4 weights, batch-1 decode at least this many times the f16 model's. */
const Q4_GOAL = 2;
/** Issue 17's goal: batch-32 decode at least this many times batch 1's tokens/s. */
const BATCH32_GOAL = 8;

const args = benchArgs(import.meta.url, {
  model: { type: 'string' },
  preset: { type: 'string', default: 'bench-135m' },
  out: { type: 'string' },
  'prompt-len': { type: 'string', default: '512' },
  'decode-steps': { type: 'string', default: '8' },
  batches: { type: 'string', default: '1,8,32' },
  'cpu-steps': { type: 'string', default: '3' },
  'skip-cpu': { type: 'boolean', default: false },
  quantize: { type: 'string' },
  'f16-rounds': { type: 'string', default: '7' },
  'batch-rounds': { type: 'string', default: '5' },
  'skip-f16': { type: 'boolean', default: false },
  linear: { type: 'string', default: 'default' },
  variants: { type: 'string', default: 'current' },
  'profile-batches': { type: 'string', default: '1' },
});
if (!['default', 'tiled', 'plain'].includes(args.linear!)) throw new Error(`--linear ${args.linear}: use default (the device's plan), tiled (the tiled kernel from 8 rows) or plain (the register-tile kernel for every row count)`);
const promptLen = positiveNumber('prompt-len', args['prompt-len']);
const decodeSteps = positiveNumber('decode-steps', args['decode-steps']);
const batches = args.batches!.split(',').map(Number);
const profileBatches = args['profile-batches']!.split(',').map((b) => positiveNumber('profile-batches', b));
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

const dir = await benchModelDir({ model: args.model, preset: args.preset! }, log);
const quantize = QUANTIZE_TYPES.find((t) => t === args.quantize);
if (args.quantize !== undefined && !quantize) throw new Error(`--quantize ${args.quantize}: use one of ${QUANTIZE_TYPES.join(', ')}`);
const model = await loadModel({ dir, quantize });
const gpu = await acquireGpu();
const maxBatch = Math.max(...batches);
const { numKvBlocks, perSeqBlocks } = benchKvBlocks(promptLen, maxBatch, decodeSteps);
const t0 = performance.now();
const cpu0 = cpuMs();
const backendOptions = { gpu, numKvBlocks, maxRows: Math.max(promptLen, maxBatch), maxContext: Math.max(promptLen + 16, 256), tiledLinear: args.linear === 'default' ? undefined : args.linear === 'tiled' };
const variants = args.variants!.split(',');
const defaultPollMs = dawnPollingMs();
// A variant's `dawnPollMs` is how this process waits on the GPU during its runs, not a kernel shape.
const parsedVariants = variants.map((v) => {
  const { dawnPollMs, ...shape } = parseVariant(v) as ReturnType<typeof parseVariant> & { dawnPollMs?: number };
  return { shape, pollMs: dawnPollMs ?? defaultPollMs };
});
const shapes = parsedVariants.map((v) => v.shape);
setDawnPolling(parsedVariants[0].pollMs);
const backend = await createWebGpuBackend({ ...backendOptions, model, shape: shapes[0] });
const backendMs = performance.now() - t0;
const backendCpuMs = cpuMs() - cpu0;
const { uploadMs, warmup: kernelWarmup } = backend.startup;
const startup = { backendMs, backendCpuMs, uploadMs, compileMs: kernelWarmup.ms, firstPassMs: backend.startup.firstPassMs, kernels: kernelWarmup.kernels, helperDevices: kernelWarmup.helperDevices };
log(
  `webgpu backend ready in ${backendMs.toFixed(0)} ms (${backend.dtype}, ${(backend.weightBytes / 2 ** 20).toFixed(0)} MiB weights uploaded in ${uploadMs.toFixed(0)} ms; ` +
    `${startup.kernels} kernels compiled in ${startup.compileMs.toFixed(0)} ms on ${1 + startup.helperDevices} devices; first pass ${startup.firstPassMs.toFixed(0)} ms) on ${gpu.summary.description}`,
);

const decode = (b: Backend, batch: number, steps: number, beforeSteps?: () => void) => decodeRun(b, { batch, steps, promptLen, perSeqBlocks, beforeSteps });
const prefill = (b: WebGpuBackend) => prefillRun(b, promptLen);

/** The warm-up workload: every row tile and kernel the measurements below use. */
async function workload(): Promise<{ ms: number; cpuMs: number }> {
  const t = performance.now();
  const c = cpuMs();
  await prefill(backend);
  for (const batch of batches) await decode(backend, batch, 1);
  return { ms: performance.now() - t, cpuMs: cpuMs() - c };
}
log('warm-up: the workload on first use, then again');
const first = await workload();
const again = await workload();
const warmup = { firstMs: first.ms, repeatMs: again.ms, overheadMs: Math.max(0, first.ms - again.ms), firstCpuMs: first.cpuMs, repeatCpuMs: again.cpuMs };
log(`warm-up: first ${warmup.firstMs.toFixed(0)} ms, again ${warmup.repeatMs.toFixed(0)} ms`);

const prefillMs = await prefill(backend);
log(`prefill ${promptLen} tokens: ${prefillMs.toFixed(0)} ms`);
// Wall time per step, and this process's CPU time per step (all threads: lavapipe runs the kernels
// on them), which a busy machine inflates far less than wall time: compare runs by both.
// Per thread too (where the OS says): on a CPU adapter the driver's threads run the kernels, and
// how busy they are tells a step's kernel work from the time they wait for each dispatch.
const decodeRows: { batch: number; stepMs: number; medianStepMs: number; cpuMsPerStep: number; tokensPerSecond: number; threadsCpuMsPerStep?: { mainMs: number; othersMs: number[] } }[] = [];
for (const batch of batches) {
  const r = await decode(backend, batch, decodeSteps);
  const stepMs = r.ms / decodeSteps;
  const threadsCpuMsPerStep = r.threads && { mainMs: r.threads.mainMs / decodeSteps, othersMs: r.threads.othersMs.map((ms) => ms / decodeSteps) };
  decodeRows.push({ batch, stepMs, medianStepMs: median(r.stepMs), cpuMsPerStep: r.cpuMs / decodeSteps, tokensPerSecond: (batch * 1000) / stepMs, ...(threadsCpuMsPerStep ? { threadsCpuMsPerStep } : {}) });
  log(`decode batch ${batch}: ${stepMs.toFixed(1)} ms/step, ${(r.cpuMs / decodeSteps).toFixed(1)} CPU ms/step`);
}

// Batch 32 against batch 1 in interleaved rounds: one run after the other drifts with the machine's load.
const batchRounds = positiveNumber('batch-rounds', args['batch-rounds']);
let batch32SideBySide: (Awaited<ReturnType<typeof batchRatio>> & { rounds: number; loadAverage: number }) | undefined;
if (batches.includes(1) && batches.includes(32)) {
  log(`batch 32 against batch 1: ${batchRounds} interleaved rounds of ${decodeSteps} steps`);
  const r = await batchRatio((batch) => decode(backend, batch, decodeSteps), 32, batchRounds);
  batch32SideBySide = { ...r, rounds: batchRounds, loadAverage: loadavg()[0] };
}

/** Per-kernel GPU ms per decode step, per batch of `--profile-batches`. */
const profiles: Record<number, Record<string, number>> = {};
if (backend.setProfiling(true)) {
  for (const batch of profileBatches) {
    // Decode steps only: the profile is reset after decode()'s prefill step.
    await decode(backend, batch, decodeSteps, () => backend.resetProfile());
    profiles[batch] = Object.fromEntries(Object.entries(backend.profile()!).map(([k, v]) => [k, v / decodeSteps]));
  }
  backend.setProfiling(false);
}
const kernels: Record<string, number> | undefined = profiles[1];

/** The quantized model's batch-1 decode beside the f16 model's (same weights, same device), in interleaved rounds, per variant. */
type SideBySide = { variant: string; dtype: string; ratio: number; quantizedTokS: number; f16TokS: number; rounds: number; roundsTokS: { quantized: number[]; f16: number[] }; cpuMsPerStep: { quantized: number; f16: number }; cpuRatio: number; goal?: number; loadAverage: number };
let sideBySide: SideBySide[] = [];
if (quantize && !args['skip-f16']) {
  const rounds = positiveNumber('f16-rounds', args['f16-rounds']);
  log(`loading the f16 model for batch-1 decode side by side (${rounds} rounds, variants ${variants.join(', ')})`);
  const f16Model = await loadModel({ dir });
  const pairs: Backend[][] = [];
  const pollOf = new Map<Backend, number>();
  for (const [vi, shape] of shapes.entries()) {
    const q = vi === 0 ? backend : await createWebGpuBackend({ ...backendOptions, model, shape });
    const f16 = await createWebGpuBackend({ ...backendOptions, model: f16Model, shape });
    for (const b of [q, f16]) await decode(b, 1, 1);
    pairs.push([q, f16]);
    for (const b of [q, f16]) pollOf.set(b, parsedVariants[vi].pollMs);
  }
  const r = await interleavedRuns(
    pairs.flat().map((b) => () => {
      setDawnPolling(pollOf.get(b)!);
      return decode(b, 1, decodeSteps);
    }),
    rounds,
  );
  setDawnPolling(parsedVariants[0].pollMs);
  for (const b of pairs.flat()) if (b !== backend) b.destroy();
  await f16Model.close();
  const loadAverage = loadavg()[0];
  sideBySide = variants.map((variant, vi) => {
    const [quantizedTokS, f16TokS] = [r.stepsPerSecond[2 * vi], r.stepsPerSecond[2 * vi + 1]];
    return { variant, dtype: quantize, ratio: quantizedTokS / f16TokS, quantizedTokS, f16TokS, rounds, roundsTokS: { quantized: r.rounds[2 * vi], f16: r.rounds[2 * vi + 1] }, cpuMsPerStep: { quantized: r.cpuMsPerStep[2 * vi], f16: r.cpuMsPerStep[2 * vi + 1] }, cpuRatio: r.cpuMsPerStep[2 * vi + 1] / r.cpuMsPerStep[2 * vi], goal: quantize.startsWith('q4') ? Q4_GOAL : undefined, loadAverage };
  });
}
const quantizedOverF16 = sideBySide[0];

const streamBytes = Math.min(gpu.limits.maxStorageBufferBindingSize, 128 * 2 ** 20);
const rooflineWall = await measureReadBandwidth({ device: gpu.device, bytes: streamBytes });
const rooflineGpu = gpu.hasTimestamps ? await measureReadBandwidth({ device: gpu.device, bytes: streamBytes, timestamps: true }) : undefined;
const roofline = Math.max(rooflineWall.gbPerSecond, rooflineGpu?.gbPerSecond ?? 0);
// Each pattern's best over both timings; the grid-stride one alone was the roofline before the per-invocation runs were measured too.
const rooflinePatterns = { stride: Math.max(rooflineWall.patterns.stride, rooflineGpu?.patterns.stride ?? 0), runs: Math.max(rooflineWall.patterns.runs, rooflineGpu?.patterns.runs ?? 0) };
const b1 = decodeRows.find((r) => r.batch === 1);
const achieved = b1 ? backend.decodeWeightBytes / b1.stepMs / 1e6 : undefined;
await decode(backend, 1, 1); // the LoRA-free plan of a batch-1 decode pass is the last one run
const dispatchCounts = backend.dispatches(1, 1, true);
backend.destroy();

let cpu: { tokensPerSecond: number } | undefined;
if (!args['skip-cpu']) {
  log('cpu reference decode (batch 1)');
  const cpuBackend = await createReferenceBackend({ model, numKvBlocks });
  const cpuSteps = positiveNumber('cpu-steps', args['cpu-steps']);
  const r = await decode(cpuBackend, 1, cpuSteps);
  cpu = { tokensPerSecond: (cpuSteps * 1000) / r.ms };
  cpuBackend.destroy();
}
await model.close();
gpu.destroy();

const b32 = decodeRows.find((r) => r.batch === 32);

const result = {
  model: args.preset,
  quantize: args.quantize,
  linear: args.linear,
  /** 1-minute load average at the end of the run (the machine is shared: compare runs side by side). */
  loadAverage: loadavg()[0],
  device: gpu.summary.description,
  /** Milliseconds between Dawn's event polls in the first variant's runs (0: Dawn's spin; src/gpu/eventPolling.ts). */
  dawnPollMs: parsedVariants[0].pollMs,
  dtype: backend.dtype,
  weightBytes: backend.weightBytes,
  decodeWeightBytes: backend.decodeWeightBytes,
  startup,
  /** Compilation and the first pass at load, plus what first use still costs: the time until the engine runs at full speed. */
  warmup: { ...warmup, totalMs: startup.compileMs + startup.firstPassMs + warmup.overheadMs },
  /** CPU time from the start of load until the engine runs at full speed: load and what the first run of the workload cost over the second. */
  coldStartCpuMs: backendCpuMs + Math.max(0, first.cpuMs - again.cpuMs),
  prefill: { promptTokens: promptLen, ms: prefillMs, tokensPerSecond: (promptLen * 1000) / prefillMs, timeToFirstTokenMs: prefillMs },
  decode: decodeRows,
  kernelsMsPerDecodeStep: kernels,
  /** `--profile-batches`: per-kernel GPU ms per decode step at each batch. */
  kernelsMsPerDecodeStepByBatch: profiles,
  roofline: { streamBytes, wallGbPerSecond: rooflineWall.gbPerSecond, gpuGbPerSecond: rooflineGpu?.gbPerSecond, gbPerSecond: roofline, patterns: rooflinePatterns },
  batch1: achieved === undefined ? undefined : { weightGbPerSecond: achieved, fractionOfRoofline: achieved / roofline, fractionOfStrideRoofline: achieved / rooflinePatterns.stride },
  /** Batch-32 over batch-1 decode tokens/s: the median of the per-round ratios of `--batch-rounds` interleaved rounds (goal >= 8). */
  batch32OverBatch1: batch32SideBySide?.ratio,
  /** Those rounds: each round's ratio, the median tokens/s of each batch, and the ratio of tokens per CPU millisecond. */
  batch32SideBySide,
  /** The same ratio from the single `decode` runs above, one after the other. */
  batch32OverBatch1Sequential: b1 && b32 ? b32.tokensPerSecond / b1.tokensPerSecond : undefined,
  /** Dispatches a batch-1 decode step records per decoder layer (goal <= 5), and in all. */
  dispatchesPerLayer: dispatchCounts.layers / model.config.numLayers,
  dispatchesPerStep: dispatchCounts.total,
  /** `--quantize`: batch-1 decode tokens/s of this model over the f16 model's, medians of interleaved rounds in this run (the first variant's). */
  quantizedOverF16,
  /** Every variant's side-by-side figures (`--variants`). */
  variants: sideBySide.length > 1 ? sideBySide : undefined,
  cpu,
};

const f = (n: number | undefined, d = 1) => (n === undefined ? '-' : n.toFixed(d));
const lines = [
  `openlora engine benchmark: ${result.model} (${result.dtype}, ${result.linear} linear kernel) on ${result.device}, load average ${f(result.loadAverage, 2)}, ${result.dawnPollMs ? `Dawn's events polled every ${result.dawnPollMs} ms` : "Dawn's event spin"}`,
  `  start-up                    ${f(backendMs, 0)} ms: weights ${f(uploadMs, 0)} ms, kernels ${f(startup.compileMs, 0)} ms (${startup.kernels} on ${1 + startup.helperDevices} devices), first pass ${f(startup.firstPassMs, 0)} ms`,
  `  warm-up                     ${f(result.warmup.totalMs, 0)} ms = kernels ${f(startup.compileMs, 0)} + first pass ${f(startup.firstPassMs, 0)} at load + first use ${f(warmup.overheadMs, 0)} (workload ${f(warmup.firstMs, 0)} ms first, ${f(warmup.repeatMs, 0)} ms again)`,
  `  cold start, CPU time        ${f(result.coldStartCpuMs, 0)} ms (load ${f(backendCpuMs, 0)} ms + first use ${f(Math.max(0, first.cpuMs - again.cpuMs), 0)} ms)`,
  `  prefill ${promptLen} tokens        ${f(result.prefill.tokensPerSecond)} tokens/s   (time to first token ${f(prefillMs, 0)} ms)`,
  ...decodeRows.map((r) => `  decode batch ${String(r.batch).padEnd(3)}             ${f(r.tokensPerSecond)} tokens/s   (${f(r.stepMs)} ms/step, median ${f(r.medianStepMs)}, ${f(r.cpuMsPerStep)} CPU ms/step${r.threadsCpuMsPerStep ? `; threads' CPU per step: ${threadsPerStepText(r.threadsCpuMsPerStep, r.stepMs)}` : ''})`),
  `  cpu reference batch 1       ${f(cpu?.tokensPerSecond, 2)} tokens/s`,
  `  weights read / step time    ${f(achieved, 2)} GB/s of roofline ${f(roofline, 2)} GB/s (wall ${f(rooflineWall.gbPerSecond, 2)}, gpu ${f(rooflineGpu?.gbPerSecond, 2)}) = ${f((result.batch1?.fractionOfRoofline ?? NaN) * 100, 0)}%`,
  `  roofline per pattern        grid-stride ${f(rooflinePatterns.stride, 2)}, runs per invocation ${f(rooflinePatterns.runs, 2)} GB/s (of grid-stride alone, the probe before: ${f((result.batch1?.fractionOfStrideRoofline ?? NaN) * 100, 0)}%)`,
  ...sideBySide.map(
    (v) =>
      `  batch 1 decode ${v.dtype} / f16   ${f(v.ratio, 2)}x (${f(v.quantizedTokS)} / ${f(v.f16TokS)} tokens/s, medians of ${v.rounds} interleaved rounds${variants.length > 1 ? `, variant ${v.variant}` : ''}; CPU ms per step ${f(v.cpuRatio, 2)}x: ${f(v.cpuMsPerStep.f16, 1)} / ${f(v.cpuMsPerStep.quantized, 1)}; load average ${f(v.loadAverage, 2)}${v.goal === undefined ? '' : `; goal >= ${v.goal}x: ${v.ratio >= v.goal ? 'met' : 'not met'}`})`,
  ),
  batch32SideBySide
    ? `  batch 32 / batch 1 throughput ${f(batch32SideBySide.ratio, 2)}x (median of ${batch32SideBySide.rounds} interleaved rounds' ratios ${batch32SideBySide.roundRatios.map((x) => f(x, 2)).join(', ')}; ${f(batch32SideBySide.medianTokensPerSecond.batch1)} / ${f(batch32SideBySide.medianTokensPerSecond.big)} tokens/s; per CPU ms ${f(batch32SideBySide.cpuRatio, 2)}x: ${f(batch32SideBySide.cpuMsPerStep.batch1, 1)} / ${f(batch32SideBySide.cpuMsPerStep.big, 1)} CPU ms per step; load average ${f(batch32SideBySide.loadAverage, 2)}; goal >= ${BATCH32_GOAL}x: ${batch32SideBySide.ratio >= BATCH32_GOAL ? 'met' : 'not met'}; one run after the other ${f(result.batch32OverBatch1Sequential, 2)}x)`
    : `  batch 32 / batch 1 throughput ${f(result.batch32OverBatch1Sequential, 2)}x (one run after the other)`,
  `  dispatches per decode step   ${result.dispatchesPerStep} (${f(result.dispatchesPerLayer, 1)} per layer)`,
  ...Object.entries(profiles).flatMap(([batch, profile]) => [
    `  per-kernel GPU ms per batch-${batch} decode step:`,
    ...Object.entries(profile)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `    ${k.padEnd(12)} ${f(v, 2)} ms`),
  ]),
];
process.stdout.write(lines.join('\n') + '\n');
if (args.out) await writeFile(args.out, JSON.stringify(result, null, 2) + '\n');
