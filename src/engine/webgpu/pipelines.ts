/**
 * The kernel cache: one compute pipeline per shader variant, compiled in the background from the
 * moment an op asks for it and made ready for dispatch by {@link PipelineCache.warm}.
 *
 * Which kernels a model needs is decided in one place: the ops. Each `xxxOp(ctx, ...)` asks
 * `ctx.pipelines.kernel(...)` for every variant it may dispatch while the forward pass is
 * prepared (never while recording a step), so after `createForward` the cache holds exactly the
 * kernels of this model's forward pass (its dtype, biases, LoRA and row tiles) and the backend
 * warms them all during load. A new kernel joins that list by being asked for in its op's
 * preparation; one asked for only later is compiled on the spot, logged and listed in
 * {@link PipelineCache.late} (tests assert that list stays empty).
 */
import { AbortedError } from '../../errors.ts';
import { createLogger } from '../../log.ts';
import { GpuValidationError } from '../../gpu/errors.ts';
import { shaderSource, variantName, type ShaderDefines } from './shaderSource.ts';

/** How a kernel binds one resource: uniform, read-only storage or read-write storage. */
export type BindingKind = 'uniform' | 'read' | 'storage';

/** What a kernel is made from: a WGSL file, its bindings in order and the defines of the variant. */
export interface KernelVariant {
  readonly file: string;
  readonly bindings: readonly BindingKind[];
  readonly defines: ShaderDefines;
}

/** A kernel with its explicit bind group layout (shared by every variant with the same bindings). */
export interface Kernel {
  /** The variant's name, e.g. `linear.wgsl[F16,ROWS=8]`. */
  readonly name: string;
  readonly variant: KernelVariant;
  readonly layout: GPUBindGroupLayout;
  /** Bytes of the preprocessed WGSL: a proxy for what compiling it costs. */
  readonly sourceBytes: number;
  /**
   * The compiled pipeline. Ready once {@link PipelineCache.warm} has covered this kernel; asked
   * for earlier, it is compiled synchronously there and then (and listed in `late`).
   */
  readonly pipeline: GPUComputePipeline;
}

/** Parameters of {@link PipelineCache.warm}. */
export interface WarmKernelsParameters {
  /** Kernels to warm (default: every kernel asked for so far). */
  kernels?: readonly Kernel[];
  signal?: AbortSignal;
}

/** Creates kernels once per variant name and reuses them. */
export interface PipelineCache {
  /** The kernel of a variant; the first call starts compiling it (`createComputePipelineAsync`). */
  kernel(file: string, bindings: readonly BindingKind[], defines?: ShaderDefines): Kernel;
  /** Every kernel asked for so far, in order. */
  readonly kernels: readonly Kernel[];
  /** Kernels not yet warm. */
  cold(): Kernel[];
  /**
   * Waits for the kernels' pipelines (compiled in parallel) and dispatches each once on scratch
   * buffers (one workgroup whose bounds guard returns at once): drivers that compile at first
   * dispatch, like Mesa's lavapipe, compile then instead of inside the first request. Rejects with
   * a `GpuValidationError` naming a kernel that does not compile.
   */
  warm(p?: WarmKernelsParameters): Promise<void>;
  /** Names of kernels whose pipeline was needed before they were warmed (each compiled on the spot). */
  readonly late: readonly string[];
  /** Kernels asked for so far. */
  readonly size: number;
}

/** Bytes of each scratch buffer bound by a warming dispatch (above every uniform struct and array element the shaders declare). */
const SCRATCH_BYTES = 1024;

/** Creates a {@link PipelineCache} on `device`. */
export function createPipelineCache(device: GPUDevice): PipelineCache {
  const log = createLogger({ name: 'pipelines' });
  type Entry = { kernel: Kernel; compiled?: GPUComputePipeline; pending: Promise<GPUComputePipeline>; warm: boolean };
  const entries = new Map<string, Entry>();
  const byKernel = new Map<Kernel, Entry>();
  const kernels: Kernel[] = [];
  const late: string[] = [];
  const layouts = new Map<string, GPUBindGroupLayout>();
  const layoutFor = (bindings: readonly BindingKind[]): GPUBindGroupLayout => {
    const key = bindings.join(',');
    let layout = layouts.get(key);
    if (!layout) {
      layout = device.createBindGroupLayout({
        label: key,
        entries: bindings.map((kind, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: kind === 'uniform' ? 'uniform' : kind === 'read' ? 'read-only-storage' : 'storage' },
        })),
      });
      layouts.set(key, layout);
    }
    return layout;
  };

  const create = (file: string, bindings: readonly BindingKind[], defines: ShaderDefines): Entry => {
    const name = variantName(file, defines);
    const layout = layoutFor(bindings);
    const code = shaderSource(file, defines);
    const descriptor: GPUComputePipelineDescriptor = {
      label: name,
      layout: device.createPipelineLayout({ label: name, bindGroupLayouts: [layout] }),
      compute: { module: device.createShaderModule({ label: name, code }), entryPoint: 'main' },
    };
    const entry = {} as Entry;
    entry.warm = false;
    entry.pending = device.createComputePipelineAsync(descriptor).then(
      (pipeline) => (entry.compiled = pipeline),
      (cause: unknown) => {
        throw new GpuValidationError(`kernel ${name}`, cause instanceof Error ? cause.message : String(cause));
      },
    );
    entry.pending.catch(() => {}); // reported by warm(); not an unhandled rejection meanwhile
    entry.kernel = {
      name,
      variant: { file, bindings: [...bindings], defines: { ...defines } },
      layout,
      sourceBytes: code.length,
      get pipeline() {
        if (entry.compiled && entry.warm) return entry.compiled;
        if (!entry.warm) {
          late.push(name);
          log.warn({ kernel: name }, 'kernel used before it was warmed: compiling it now (ask for it while the op is prepared)');
          entry.warm = true;
        }
        entry.compiled ??= device.createComputePipeline(descriptor);
        return entry.compiled;
      },
    };
    return entry;
  };

  /** Buffers for one warming pass (zero-filled at creation, as every WebGPU buffer is): a kernel reads `Step.rows = 0`, `n = 0`, ... and its bounds guard returns at once. */
  const scratchBuffers = () => {
    const made: GPUBuffer[] = [];
    const make = (label: string, usage: number) => {
      const b = device.createBuffer({ label, size: SCRATCH_BYTES, usage });
      made.push(b);
      return b;
    };
    const uniform = make('warm.uniform', GPUBufferUsage.UNIFORM);
    const read = make('warm.read', GPUBufferUsage.STORAGE);
    const storage: GPUBuffer[] = [];
    return {
      // Read-only bindings may share a buffer; each writable binding needs its own.
      for: (bindings: readonly BindingKind[]) => bindings.map((kind, i) => (kind === 'uniform' ? uniform : kind === 'read' ? read : (storage[i] ??= make(`warm.storage${i}`, GPUBufferUsage.STORAGE)))),
      destroy: () => made.forEach((b) => b.destroy()),
    };
  };

  return {
    kernel(file, bindings, defines = {}) {
      const name = variantName(file, defines);
      let entry = entries.get(name);
      if (!entry) {
        entry = create(file, bindings, defines);
        entries.set(name, entry);
        byKernel.set(entry.kernel, entry);
        kernels.push(entry.kernel);
      } else if (entry.kernel.variant.bindings.join(',') !== bindings.join(',')) {
        // The same file and defines make the same shader code, so one variant has one binding list;
        // a second list would get a pipeline with the first one's layout and fail at dispatch.
        throw new GpuValidationError(`kernel ${name}`, `asked for with bindings [${bindings.join(', ')}] after [${entry.kernel.variant.bindings.join(', ')}]: give the variant a define that tells the two apart`);
      }
      return entry.kernel;
    },
    kernels,
    cold: () => kernels.filter((k) => !byKernel.get(k)!.warm),
    async warm(p = {}) {
      const unwarmed = (p.kernels ?? kernels).map((k) => byKernel.get(k)).filter((e): e is Entry => e !== undefined && !e.warm);
      if (!unwarmed.length) return;
      const pipelines = await Promise.all(unwarmed.map((e) => e.pending));
      if (p.signal?.aborted) throw new AbortedError('kernel warm-up', p.signal.reason);
      const scratch = scratchBuffers();
      try {
        const encoder = device.createCommandEncoder({ label: 'warm' });
        const pass = encoder.beginComputePass({ label: 'warm' });
        unwarmed.forEach((e, i) => {
          pass.setPipeline(pipelines[i]);
          pass.setBindGroup(0, bindBuffers(device, e.kernel, scratch.for(e.kernel.variant.bindings)));
          pass.dispatchWorkgroups(1);
        });
        pass.end();
        device.queue.submit([encoder.finish()]);
        await device.queue.onSubmittedWorkDone();
      } finally {
        scratch.destroy();
      }
      for (const e of unwarmed) e.warm = true;
    },
    late,
    get size() {
      return kernels.length;
    },
  };
}

/** What separates a bind group's kernel name from the op it serves in its label. */
export const OP_LABEL = ' @';

/**
 * A bind group of `kernel` over whole buffers, in binding order, labelled with the kernel's name
 * and, given, the op it serves (`linear.wgsl[...] @layers.3.qkv`: a profile by op reads it, see
 * {@link OP_LABEL}).
 */
export function bindBuffers(device: GPUDevice, kernel: Kernel, buffers: readonly GPUBuffer[], op?: string): GPUBindGroup {
  return device.createBindGroup({
    label: op === undefined ? kernel.name : `${kernel.name}${OP_LABEL}${op}`,
    layout: kernel.layout,
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
}
