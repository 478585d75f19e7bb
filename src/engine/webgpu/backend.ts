import { availableParallelism } from 'node:os';
import type { Backend, LoadProgress, StepOutput, StepSequence } from '../backend.ts';
import type { ModelConfig } from '../../model/config.ts';
import type { WeightStore } from '../../model/weights.ts';
import { defaultDeviceDtype } from '../../model/deviceTensor.ts';
import type { DeviceDtype } from '../../model/dtype.ts';
import type { QuantizeType } from '../../model/quant/formats.ts';
import { acquireGpu, type Gpu } from '../../gpu/device.ts';
import { GpuValidationError } from '../../gpu/errors.ts';
import { AbortedError } from '../../errors.ts';
import { KV_BLOCK_SIZE, MAX_TOP_LOGPROBS, kvBlockBytes } from '../backend.ts';
import { EngineUnsupportedError } from '../errors.ts';
import { resolveLoraDtype, UNIFIED_LORA_DTYPE_HINT, type LoraDtypeSetting } from '../../lora/dtype.ts';
import { createForward, type Forward } from './forward.ts';
import { createGpuLora, type GpuLora } from './lora/runner.ts';
import { createGpuLoraSlotPool, type GpuLoraSlotPool } from './lora/slotPool.ts';
import { createGpuLoraPagePool } from './lora/pagePool.ts';
import { createGpuKvCache, type GpuKvCache } from './kvCache.ts';
import { planPasses, type PassPlan } from './passPlan.ts';
import { createPipelineCache, type PipelineCache } from './pipelines.ts';
import { warmUpKernels, type KernelWarmup } from './warmup.ts';
import { linearShape, PACKED_DOT, type LinearShape } from './linearPlan.ts';
import { createPassRecorder, createProfiler, type Profiler } from './recorder.ts';
import { uploadWeights, type GpuWeights } from './weights.ts';
import { webgpuRecipe } from './fusedRecipe.ts';

/** Defaults of {@link CreateWebGpuBackendParameters}. */
export const WEBGPU_DEFAULTS = {
  /** Rows (tokens) per GPU pass; longer prompts run in several passes. */
  maxRows: 512,
  /** Context cap when the model allows more (bounds the RoPE table and block tables). */
  maxContext: 8192,
  /** Bytes of the logits buffer at most (bounds rows that get logits per pass). */
  logitsBytes: 64 * 2 ** 20,
  /** KV cache bytes when `numKvBlocks` is not given. */
  kvBytes: 512 * 2 ** 20,
  /** LoRA adapter slots on the device. */
  loraSlots: 8,
  /** Largest LoRA rank a slot holds (slots are padded to it). */
  maxLoraRank: 64,
} as const;

/** Parameters of {@link createWebGpuBackend}. */
export interface CreateWebGpuBackendParameters {
  /** A loaded model (`loadModel`): its config and weight store. */
  model: { config: ModelConfig; weights: WeightStore; dtype?: DeviceDtype; quantize?: QuantizeType };
  /** Device to use; acquired (and destroyed with the backend) when omitted. */
  gpu?: Gpu;
  /** Weight dtype on the device; default the model's (the checkpoint's: `src/model/deviceTensor.ts`). */
  dtype?: DeviceDtype;
  /** KV blocks of 16 positions; default what {@link WEBGPU_DEFAULTS}.kvBytes holds (binding-limited). */
  numKvBlocks?: number;
  /** Default {@link WEBGPU_DEFAULTS}.maxRows. */
  maxRows?: number;
  /** Default min(max_position_embeddings, {@link WEBGPU_DEFAULTS}.maxContext). */
  maxContext?: number;
  /**
   * LoRA adapter slots (default {@link WEBGPU_DEFAULTS}.loraSlots; 0 = base model only). Each
   * (layer, projection) keeps all slots' A and B^T in one buffer, which must fit the device's
   * storage-binding limit (`maxStorageBufferBindingSize`).
   */
  loraSlots?: number;
  /**
   * Unified memory (`engine.memory.mode: unified`): bytes of a page, `kvBlockBytes(config)` (the
   * `numKvBlocks` KV blocks are the budget's pages). Adapters are then written into the pages the
   * adapter tier gives `lora.load` (`lora/pagePool.ts`), and no slot buffers are allocated.
   */
  pageBytes?: number;
  /** Largest adapter rank, 1..128 (default {@link WEBGPU_DEFAULTS}.maxLoraRank); device bytes per slot grow with it. */
  maxLoraRank?: number;
  /**
   * `lora.dtype`, the dtype of the adapter slots (`src/lora/dtype.ts`): f16 (needs `shader-f16`;
   * split memory only) halves the words the LoRA kernels load, rounding A and B to nearest even as
   * the CPU backends do with the same option; auto (the default) is f16 on a 16-bit or quantized
   * base where the device has `shader-f16` and memory is split, else f32 (`resolveLoraDtype`).
   */
  loraDtype?: LoraDtypeSetting;
  /**
   * The tiled linear kernel for row tiles of 8 rows and more (`linearPlan.ts`): default on GPUs,
   * off on CPU adapters (lavapipe, where it measured no faster); true asks for it where the device
   * has a tiled shape, false keeps the plain kernel for every tile (`npm run bench:linear` compares them).
   */
  tiledLinear?: boolean;
  /** Overrides of the device's kernel shapes (`linearPlan.ts`), for benchmarks comparing variants end to end. */
  shape?: Partial<LinearShape>;
  /** Start with per-kernel timing on (see {@link WebGpuBackend.setProfiling}). */
  profile?: boolean;
  /** Extra devices that compile kernels in parallel during load (default `defaultWarmupHelpers`: CPU adapters only). */
  warmupHelpers?: number;
  /**
   * A kernel cache on `gpu`'s device shared with other backends (tests that build many backends
   * on one device compile each kernel once, not once per backend: ~3 s of CPU per lavapipe
   * backend). Default a cache of this backend's own, which then holds exactly its forward pass's
   * kernels (`pipelines`).
   */
  pipelines?: PipelineCache;
  /** Weight upload progress, per decoder layer. */
  onProgress?: LoadProgress;
  signal?: AbortSignal;
}

/** The WebGPU backend with its device facts and profiling. */
export interface WebGpuBackend extends Backend {
  readonly kind: 'webgpu';
  readonly gpu: Gpu;
  readonly maxContext: number;
  /** Bytes of weights on the device (read once per decode step). */
  readonly weightBytes: number;
  /** Weight bytes one decode step reads: all but an untied embedding table (gathered by row). */
  readonly decodeWeightBytes: number;
  readonly kvBytes: number;
  /** The LoRA slot pool on the device (`bytesPerSlot × slots` bytes). */
  readonly lora: GpuLoraSlotPool;
  /** The model's weights on the device (tools: e.g. the merge-on-switch baseline of `bench:lora` rewrites projections). */
  readonly weights: GpuWeights;
  /** The forward pass's kernels: every one asked for while preparing it, all warmed during load (`late` lists any that were not). */
  readonly pipelines: PipelineCache;
  /**
   * What load took, milliseconds: weight upload, the kernel warm-up (compilation), and one 1-row
   * pass over every buffer of the forward pass (Dawn zeroes a buffer at its first use, the KV pool
   * included, and the pages are faulted in), so the first request runs at full speed.
   */
  readonly startup: { uploadMs: number; warmup: KernelWarmup; firstPassMs: number };
  /**
   * Times every kernel with timestamp queries (one compute pass per dispatch, so steps run a
   * little slower), per kernel or, `byOp`, per kernel and op (a projection summed over the layers).
   * Returns false when the device lacks `timestamp-query`.
   */
  setProfiling(on: boolean, options?: { byOp?: boolean }): boolean;
  /**
   * Dispatches a pass of `rows` rows (`outRows` with logits) records: in the decoder layers and in
   * all; `oneRowEach` for decode passes; LoRA shrinks as the last pass's adapter rows need them.
   */
  dispatches(rows: number, outRows: number, oneRowEach: boolean): { layers: number; total: number };
  /** Per-kernel milliseconds since the last reset while profiling, else undefined. */
  profile(): Record<string, number> | undefined;
  resetProfile(): void;
}

/**
 * Uploads the model, prepares every buffer and bind group of the forward pass, and compiles every
 * kernel it uses (in parallel; see `warmup.ts`): the first step runs at full speed.
 */
export async function createWebGpuBackend(p: CreateWebGpuBackendParameters): Promise<WebGpuBackend> {
  const gpu = p.gpu ?? (await acquireGpu());
  const ownsGpu = p.gpu === undefined;
  const { device } = gpu;
  const config = p.model.config;
  const dtype = p.dtype ?? p.model.dtype ?? defaultDeviceDtype(config.torchDtype);
  const maxBindingBytes = gpu.limits.maxStorageBufferBindingSize;
  const maxRows = p.maxRows ?? WEBGPU_DEFAULTS.maxRows;
  const maxContext = p.maxContext ?? Math.min(config.maxPositionEmbeddings, WEBGPU_DEFAULTS.maxContext);
  const maxOutRows = Math.max(1, Math.min(maxRows, Math.floor(Math.min(WEBGPU_DEFAULTS.logitsBytes, maxBindingBytes) / (config.vocabSize * 4))));
  const blockBytes = config.numKvHeads * config.headDim * KV_BLOCK_SIZE * 4; // per layer, K or V
  const numKvBlocks = p.numKvBlocks ?? Math.max(1, Math.min(Math.floor(WEBGPU_DEFAULTS.kvBytes / (blockBytes * 2 * config.numLayers)), Math.floor(maxBindingBytes / blockBytes)));
  const maxBlockEntries = Math.min(maxRows * Math.ceil(maxContext / KV_BLOCK_SIZE), 1 << 20);

  device.pushErrorScope('validation');
  const stepBuffer = device.createBuffer({ label: 'step', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  let weights: GpuWeights | undefined;
  let forward: Forward | undefined;
  let kv: GpuKvCache | undefined;
  let loraPool: GpuLoraSlotPool | undefined;
  let loraRunner: GpuLora | undefined;
  let failure: { error: unknown } | undefined;
  const pipelines = p.pipelines ?? createPipelineCache(device);
  let uploadMs = 0;
  let warmup: KernelWarmup | undefined;
  try {
    const uploadStarted = performance.now();
    // Fewer, larger dispatches (fuse.ts): q|k|v and gate|up share a matrix, norms run in the
    // projections' prologues, GLU in gate|up's epilogue.
    const recipe = webgpuRecipe(config);
    const shape = linearShape({ software: gpu.summary.software, subgroups: gpu.hasSubgroups, subgroupMinSize: gpu.summary.subgroupMinSize, subgroupMaxSize: gpu.summary.subgroupMaxSize, workgroupBytes: device.limits.maxComputeWorkgroupStorageSize, tiled: p.tiledLinear, threads: availableParallelism(), packedDot: gpu.wgslFeatures.has(PACKED_DOT) });
    const ctx = { device, pipelines, stepBuffer, maxRows, ...shape, ...p.shape };
    weights = await uploadWeights({ device, config, recipe, weights: p.model.weights, dtype, quantize: p.model.quantize, layout: ctx, maxBindingBytes, onProgress: p.onProgress, signal: p.signal });
    uploadMs = performance.now() - uploadStarted;
    // Adapters are held in lora.dtype on every backend; auto follows the base model (docs/engine.md, "Adapter precision rule").
    const loraDtype = resolveLoraDtype({ setting: p.loraDtype, model: { dtype, quantize: p.model.quantize, weights: p.model.weights }, unified: p.pageBytes !== undefined, f16Slots: gpu.hasF16 });
    if (loraDtype === 'f16' && !gpu.hasF16) throw new EngineUnsupportedError(`lora.dtype f16 on ${gpu.summary.description}, which lacks shader-f16`, 'Set lora.dtype: f32 (--lora-dtype f32) on this device.');
    kv = createGpuKvCache({ device, config, blocks: numKvBlocks, maxBindingBytes });
    const loraSlots = { slots: p.loraSlots ?? WEBGPU_DEFAULTS.loraSlots, maxRank: p.maxLoraRank ?? WEBGPU_DEFAULTS.maxLoraRank };
    if (p.pageBytes !== undefined) {
      if (p.pageBytes !== kvBlockBytes(config)) throw new EngineUnsupportedError(`A page of ${p.pageBytes} bytes for KV blocks of ${kvBlockBytes(config)} bytes`, 'Pages of unified memory are kvBlockBytes(config) bytes (src/engine/backend.ts).');
      if (loraDtype === 'f16') throw new EngineUnsupportedError('lora.dtype f16 with adapters in pages of unified memory (engine.memory.mode: unified)', UNIFIED_LORA_DTYPE_HINT);
      loraPool = createGpuLoraPagePool({ device, config, recipe, ...loraSlots, kv });
    } else loraPool = createGpuLoraSlotPool({ device, config, recipe, ...loraSlots, dtype: loraDtype, maxBindingBytes, bRank8: ctx.loraB8 });
    loraRunner = loraPool.slots > 0 ? createGpuLora({ device, pool: loraPool, maxRows, pipelines, cpu: gpu.summary.software, broadcast: ctx.loraBroadcast === true, pairs: ctx.loraShrinkPairs === true }) : undefined;
    forward = createForward({ ctx, config, weights, kv, maxRows, maxOutRows, maxContext, maxBlockEntries, lora: loraRunner });
    warmup = await warmUpKernels({ gpu, pipelines, helperDevices: p.warmupHelpers, signal: p.signal });
  } catch (error) {
    failure = { error };
  }
  const gpuError = await device.popErrorScope();
  if (failure || gpuError || !forward || !weights || !loraPool || !warmup || !kv) {
    forward?.destroy();
    loraRunner?.destroy();
    loraPool?.destroy();
    kv?.destroy();
    weights?.destroy();
    stepBuffer.destroy();
    if (ownsGpu) gpu.destroy();
    throw failure ? failure.error : new GpuValidationError('the forward pass pipelines', gpuError?.message ?? 'unknown');
  }
  const fwd = forward;
  const lora = loraPool;
  const runner = loraRunner;
  const kvCache = kv;
  const resultStaging = device.createBuffer({ label: 'resultStaging', size: maxOutRows * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const topStaging = device.createBuffer({ label: 'topStaging', size: maxOutRows * MAX_TOP_LOGPROBS * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  let logitsStaging: GPUBuffer | undefined;
  let profiler: Profiler | undefined;
  let profiling = false;
  const setProfiling = (on: boolean, options?: { byOp?: boolean }): boolean => {
    if (on && !gpu.hasTimestamps) return false;
    if (on) {
      profiler ??= createProfiler(device);
      profiler.byOp = options?.byOp === true;
    }
    profiling = on;
    return true;
  };
  if (p.profile) setProfiling(true);
  let destroyed = false;

  const plan = (sequences: readonly StepSequence[], lastRowLogits: boolean): PassPlan[] =>
    planPasses({ sequences, vocabSize: config.vocabSize, maxContext, numKvBlocks, maxRows, maxOutRows, maxBlockEntries, loraSlots: lora.slots, lastRowLogits });

  /** What a pass's command buffer depends on besides buffer contents: its shape, the LoRA tiles' grid, whether top logprobs are copied back, and the adjustment buffer bound (replaced when it grows). */
  const shapeKey = (pass: PassPlan): string => `${pass.rows},${pass.outRows},${pass.oneRowEach},${pass.wantsTop},${fwd.adjustCapacity},${runner?.plan?.count ?? 0},${runner?.plan?.maxRank ?? 0}`;
  /** Records a pass (and the copies of its results, and logits when asked) into a command buffer. */
  const encodePass = (pass: PassPlan, withLogits: boolean, prof: Profiler | undefined): GPUCommandBuffer => {
    const encoder = device.createCommandEncoder({ label: 'step' });
    const rec = prof ? prof.recorder(encoder) : createPassRecorder(encoder);
    fwd.record(rec, pass.rows, pass.outRows, pass.oneRowEach);
    rec.end();
    prof?.resolve(encoder);
    const resultBytes = pass.outRows * 8;
    const logitsBytes = pass.outRows * config.vocabSize * 4;
    if (resultBytes) encoder.copyBufferToBuffer(fwd.result, 0, resultStaging, 0, resultBytes);
    const topBytes = pass.wantsTop ? pass.outRows * MAX_TOP_LOGPROBS * 8 : 0;
    if (topBytes) encoder.copyBufferToBuffer(fwd.top, 0, topStaging, 0, topBytes);
    if (withLogits && logitsBytes) {
      logitsStaging ??= device.createBuffer({ label: 'logitsStaging', size: maxOutRows * config.vocabSize * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      encoder.copyBufferToBuffer(fwd.logits, 0, logitsStaging, 0, logitsBytes);
    }
    return encoder.finish();
  };
  /**
   * The next decode pass's commands, recorded while the GPU runs the current one (decode steps
   * repeat their shape): used when the next pass has the same shape, else dropped.
   */
  let prepared: { key: string; commands: GPUCommandBuffer } | undefined;

  /** Runs one pass; copies results (and logits when asked) to staging buffers. `alone`: the step's only pass. */
  const runPass = async (pass: PassPlan, withLogits: boolean, alone: boolean, signal?: AbortSignal): Promise<{ result: Uint32Array; logits?: Float32Array; top?: Uint32Array }> => {
    if (signal?.aborted) throw new AbortedError('WebGPU step', signal.reason);
    const q = device.queue;
    q.writeBuffer(fwd.stepBuffer, 0, new Uint32Array([pass.rows, pass.outRows, 0, 0]));
    q.writeBuffer(fwd.rowInfo, 0, pass.rowInfo);
    q.writeBuffer(fwd.blockTables, 0, pass.blockTables);
    if (pass.outRows) q.writeBuffer(fwd.outRows, 0, pass.outRowInfo);
    if (pass.maskRows > 0) q.writeBuffer(fwd.masks, 0, pass.masks);
    if (pass.adjustEntries > 0) {
      fwd.growAdjust(pass.adjustEntries);
      q.writeBuffer(fwd.adjust, 0, pass.adjust);
    }
    runner?.setRows(pass.rowSlots); // LoRA tiles of this pass (queued before its submit)
    const prof = profiling ? profiler : undefined;
    const key = shapeKey(pass);
    const reuse = !withLogits && !prof && prepared?.key === key;
    q.submit([reuse ? prepared!.commands : encodePass(pass, withLogits, prof)]);
    prepared = !withLogits && !prof && alone ? { key, commands: encodePass(pass, false, undefined) } : undefined;
    const resultBytes = pass.outRows * 8;
    const logitsBytes = pass.outRows * config.vocabSize * 4;
    const topBytes = pass.wantsTop ? pass.outRows * MAX_TOP_LOGPROBS * 8 : 0;
    let result = new Uint32Array(0);
    if (resultBytes) {
      await resultStaging.mapAsync(GPUMapMode.READ, 0, resultBytes);
      result = new Uint32Array(resultStaging.getMappedRange(0, resultBytes).slice(0));
      resultStaging.unmap();
    } else {
      await q.onSubmittedWorkDone();
    }
    let top: Uint32Array | undefined;
    if (topBytes) {
      await topStaging.mapAsync(GPUMapMode.READ, 0, topBytes);
      top = new Uint32Array(topStaging.getMappedRange(0, topBytes).slice(0));
      topStaging.unmap();
    }
    let logits: Float32Array | undefined;
    if (withLogits && logitsBytes && logitsStaging) {
      await logitsStaging.mapAsync(GPUMapMode.READ, 0, logitsBytes);
      logits = new Float32Array(logitsStaging.getMappedRange(0, logitsBytes).slice(0));
      logitsStaging.unmap();
    }
    await prof?.collect();
    return { result, logits, top };
  };

  const startup = { uploadMs, warmup, firstPassMs: 0 };
  const backend: WebGpuBackend = {
    kind: 'webgpu',
    config,
    lora,
    dtype,
    numKvBlocks,
    gpu,
    maxContext,
    weights,
    pipelines,
    startup,
    weightBytes: weights.bytes,
    decodeWeightBytes: weights.bytes - (config.tieWordEmbeddings ? 0 : config.vocabSize * config.hiddenSize * (weights.matrix(weights.recipe.embed.weight.name).dtype === 'f32' ? 4 : 2)),
    kvBytes: fwd.kvBytes,
    async step(sequences, signal) {
      const outputs: StepOutput[] = sequences.map((s) => (s.targets ? { targetLogprobs: new Float32Array(s.tokens.length) } : {}));
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      const passes = plan(sequences, false);
      for (const pass of passes) {
        const { result, top } = await runPass(pass, false, passes.length === 1, signal);
        pass.outputs.forEach((slot, o) => {
          u[0] = result[o * 2 + 1];
          if (slot.kind === 'target') outputs[slot.seq].targetLogprobs![slot.row] = f[0];
          else {
            outputs[slot.seq].token = result[o * 2];
            outputs[slot.seq].logprob = f[0];
            if (slot.top > 0 && top) outputs[slot.seq].top = topOf(top, o, Math.min(slot.top, config.vocabSize));
          }
        });
      }
      return outputs;
    },
    async logits(sequences) {
      const out: Float32Array[] = Array.from({ length: sequences.length }, () => new Float32Array(0));
      const vocab = config.vocabSize;
      for (const pass of plan(sequences, true)) {
        const { logits } = await runPass(pass, true, false);
        pass.outputs.forEach((slot, o) => {
          if (slot.kind === 'sample') out[slot.seq] = logits!.slice(o * vocab, (o + 1) * vocab);
        });
      }
      return out;
    },
    setProfiling,
    dispatches: (rows, outRows, oneRowEach) => fwd.dispatches(rows, outRows, oneRowEach),
    profile: () => profiler?.totals(),
    resetProfile: () => profiler?.reset(),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      fwd.destroy();
      runner?.destroy();
      lora.destroy();
      kvCache.destroy();
      weights.destroy();
      resultStaging.destroy();
      topStaging.destroy();
      logitsStaging?.destroy();
      profiler?.destroy();
      stepBuffer.destroy();
      if (ownsGpu) gpu.destroy();
    },
  };
  // The first pass: every buffer's lazy zeroing and page faults (hundreds of ms for a 512 MiB KV
  // pool on a CPU adapter) happen here, not in the first request. It writes K/V at block 0,
  // position 0, which any sequence holding that block writes itself before attention reads it.
  const firstPassStarted = performance.now();
  try {
    const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0, step: 0 };
    for (const pass of plan([{ tokens: [0], startPos: 0, blockTable: [0], adapterSlot: -1, sample: greedy }], false)) await runPass(pass, false, false, p.signal);
  } catch (error) {
    backend.destroy();
    throw error;
  }
  startup.firstPassMs = performance.now() - firstPassStarted;
  profiler?.reset(); // per-kernel totals count requests only
  return backend;
}

/** Row `o`'s top logprobs from the kernel's unordered `[outRows, MAX_TOP_LOGPROBS, 2]` output, most likely first (ties: lower id). */
function topOf(top: Uint32Array, o: number, k: number): { ids: Uint32Array; logprobs: Float32Array } {
  const bits = new Uint32Array(1);
  const value = new Float32Array(bits.buffer);
  const entries = Array.from({ length: k }, (_, i) => {
    bits[0] = top[(o * MAX_TOP_LOGPROBS + i) * 2 + 1];
    return { id: top[(o * MAX_TOP_LOGPROBS + i) * 2], logprob: value[0] };
  }).sort((a, b) => b.logprob - a.logprob || a.id - b.id);
  return { ids: Uint32Array.from(entries, (e) => e.id), logprobs: Float32Array.from(entries, (e) => e.logprob) };
}
