/**
 * Kernel warm-up at model load: every kernel the forward pass asked for is compiled, in parallel,
 * before the backend is returned, so no request pays for compilation.
 *
 * Where compilation happens depends on the driver. GPU drivers compile in pipeline creation,
 * which Dawn runs on its worker threads for `createComputePipelineAsync`: the pipeline cache
 * already compiles in parallel there. Mesa's lavapipe compiles (LLVM) at a pipeline's first
 * dispatch, on its device's one queue thread, so one device compiles one kernel at a time. To use
 * more cores, a few helper devices take kernels from the same queue as the main device: the
 * driver keeps what it compiles in its on-disk shader cache (Mesa's, keyed by the shader), so when
 * the main device then warms the ones the helpers did, it finds them there. The same cache makes a second process's
 * warm-up (a restart) short. Dawn's own blob cache is out of reach from Node: the `webgpu`
 * package's bindings give Dawn neither a caching platform nor `DawnCacheDeviceDescriptor`'s
 * load/store callbacks, and no instance toggle supplies one.
 */
import { availableParallelism } from 'node:os';
import { BaseError } from '../../errors.ts';
import { acquireGpu, type Gpu } from '../../gpu/device.ts';
import { createLogger } from '../../log.ts';
import { createPipelineCache, type Kernel, type PipelineCache } from './pipelines.ts';

/** Most helper devices a warm-up uses (each is a lavapipe context with its own thread pool). */
export const MAX_WARMUP_HELPERS = 7;

/** What a warm-up did. */
export interface KernelWarmup {
  /** Kernels warmed (compiled and dispatched once). */
  kernels: number;
  /** Milliseconds from start to every kernel ready. */
  ms: number;
  /** Helper devices that compiled shares in parallel (0: the main device alone). */
  helperDevices: number;
}

/** Parameters of {@link warmUpKernels}. */
export interface WarmUpKernelsParameters {
  gpu: Gpu;
  pipelines: PipelineCache;
  /** Helper devices; default {@link defaultWarmupHelpers}. Used only for what is still cold, at most one per kernel but one. */
  helperDevices?: number;
  signal?: AbortSignal;
}

/**
 * Helper devices worth using on `gpu`: on CPU adapters (lavapipe) one per core beyond the first,
 * up to {@link MAX_WARMUP_HELPERS}, unless Mesa's shader cache is switched off (helpers would only
 * compile twice); none on GPUs, whose drivers compile in Dawn's worker threads.
 * `OPENLORA_WARMUP_HELPERS` sets the number instead (the test suite sets 0: its two workers keep
 * both cores busy, and a lavapipe warm-up with one helper took 3x the CPU time of one without).
 */
export function defaultWarmupHelpers(gpu: Pick<Gpu, 'summary'>, env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): number {
  const set = env.OPENLORA_WARMUP_HELPERS;
  if (set !== undefined && set !== '') {
    const n = Number(set);
    if (!Number.isInteger(n) || n < 0 || n > MAX_WARMUP_HELPERS) {
      throw new BaseError('OPENLORA_ENGINE_WARMUP_HELPERS', `OPENLORA_WARMUP_HELPERS=${JSON.stringify(set)} is not a number of helper devices.`, {
        hint: `Set it to an integer from 0 to ${MAX_WARMUP_HELPERS}, or unset it (one helper per spare core on CPU adapters).`,
      });
    }
    return n;
  }
  if (!gpu.summary.software) return 0;
  const off = (v: string | undefined) => v !== undefined && /^(1|true|yes)$/i.test(v);
  if (off(env.MESA_SHADER_CACHE_DISABLE) || off(env.MESA_GLSL_CACHE_DISABLE)) return 0;
  return Math.max(0, Math.min(cores - 1, MAX_WARMUP_HELPERS));
}

/** Warms every cold kernel of `pipelines` (see the file comment); resolves when all are ready. */
export async function warmUpKernels(p: WarmUpKernelsParameters): Promise<KernelWarmup> {
  const started = performance.now();
  const cold = p.pipelines.cold();
  const wanted = Math.max(0, Math.min(p.helperDevices ?? defaultWarmupHelpers(p.gpu), cold.length - 1));
  const helpers: Gpu[] = [];
  try {
    for (let i = 0; i < wanted; i++) {
      try {
        helpers.push(await acquireGpu());
      } catch (err) {
        // Fewer helpers only make the warm-up slower.
        createLogger({ name: 'pipelines' }).warn({ err, helpers: helpers.length }, 'no more helper devices for the kernel warm-up');
        break;
      }
    }
    if (helpers.length > 0) {
      // One queue, largest source first (a proxy for compile time); each device takes the next
      // kernel when it is done with one, so no device idles while another has a backlog.
      const queue = [...cold].sort((a, b) => b.sourceBytes - a.sourceBytes);
      const drain = async (warmOne: (k: Kernel) => Promise<void>) => {
        for (let k = queue.shift(); k; k = queue.shift()) await warmOne(k);
      };
      await Promise.all([
        drain((k) => p.pipelines.warm({ kernels: [k], signal: p.signal })),
        ...helpers.map((h) => {
          const cache = createPipelineCache(h.device);
          const mirror = new Map(cold.map((k) => [k, cache.kernel(k.variant.file, k.variant.bindings, k.variant.defines)]));
          return drain((k) => cache.warm({ kernels: [mirror.get(k)!], signal: p.signal }));
        }),
      ]);
    }
  } finally {
    for (const h of helpers) h.destroy();
  }
  await p.pipelines.warm({ signal: p.signal });
  return { kernels: cold.length, ms: performance.now() - started, helperDevices: helpers.length };
}
