import { lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, globals } from 'webgpu';
import { createLogger } from '../log.ts';
import { defaultDawnPolling, setDawnPolling } from './eventPolling.ts';
import { GpuAdapterNotFoundError, GpuDeviceLostError, GpuFeatureMissingError } from './errors.ts';
import { filterNativeStderr } from './nativeStderr.ts';

// Dawn's constants (GPUBufferUsage, GPUShaderStage, GPUMapMode, ...) as globals, as in a browser.
Object.assign(globalThis, globals);

/** Features the engine uses when the adapter has them. */
export const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

/** Limits that matter to the engine, reported by `doctor` and requested at their maximum. */
export const REPORTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxBindGroups',
] as const;

/** What is known of an adapter before a device is made. */
export interface GpuAdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU implementations (lavapipe/llvmpipe, SwiftShader). */
  software: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
}

/** An acquired device with its adapter facts. Call `destroy()` so the process can exit. */
export interface Gpu {
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  readonly summary: GpuAdapterSummary;
  readonly features: ReadonlySet<string>;
  readonly limits: Readonly<Record<(typeof REPORTED_LIMITS)[number], number>>;
  readonly hasF16: boolean;
  readonly hasSubgroups: boolean;
  readonly hasTimestamps: boolean;
  /** WGSL language extensions the implementation offers (`navigator.gpu.wgslLanguageFeatures`), e.g. `packed_4x8_integer_dot_product`. */
  readonly wgslFeatures: ReadonlySet<string>;
  /** Resolves with the loss error when the device is lost; never rejects. */
  readonly lost: Promise<GpuDeviceLostError | undefined>;
  /** Destroys the device; idempotent. */
  destroy(): void;
}

export interface AcquireGpuParameters {
  /** Features that must exist, else `GpuFeatureMissingError`. */
  requiredFeatures?: readonly GPUFeatureName[];
  /** Called once if the device is lost while not being destroyed. */
  onLost?: (error: GpuDeviceLostError) => void;
  /** Dawn toggles, e.g. `['enable-dawn-features=allow_unsafe_apis']`. */
  dawnOptions?: string[];
  /**
   * Milliseconds between Dawn's event polls while a promise waits on the GPU, process-wide (0:
   * Dawn's own `setImmediate` spin; `src/gpu/eventPolling.ts`). Unset: {@link CPU_ADAPTER_POLL_MS}
   * on a CPU adapter, whose kernels the spin would take a core from, unless chosen already; Dawn's
   * spin on GPUs, where a millisecond is a large part of a step.
   */
  eventPollMs?: number;
}

/** Dawn's event polling interval on CPU adapters (ms): at most this much later per wait, and the main thread asleep meanwhile. */
export const CPU_ADAPTER_POLL_MS = 1;

let instance: GPU | undefined;

/**
 * Points `env.XDG_RUNTIME_DIR` (the Vulkan loader warns on every start without it) at a private
 * directory when it is unset: `openlora-xdg-<uid>` under `base`, created with mode 0700 when
 * missing. An existing one is used only when it is a real directory owned by this user, and is
 * never chmod'ed; a value already set is left alone. Returns the directory in use, if any.
 */
export function ensureRuntimeDir(env: NodeJS.ProcessEnv = process.env, base: string = tmpdir()): string | undefined {
  if (env.XDG_RUNTIME_DIR) return env.XDG_RUNTIME_DIR;
  const uid = process.getuid?.();
  const dir = join(base, `openlora-xdg-${uid ?? 0}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
    const st = lstatSync(dir);
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) return undefined;
  }
  env.XDG_RUNTIME_DIR = dir;
  return dir;
}

/** The process-wide Dawn instance. */
export function gpuInstance(dawnOptions: string[] = []): GPU {
  ensureRuntimeDir();
  instance ??= create(dawnOptions);
  return instance;
}

function summarize(adapter: GPUAdapter): GpuAdapterSummary {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean; subgroupMinSize?: number; subgroupMaxSize?: number };
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software: info.isFallbackAdapter === true || /llvmpipe|lavapipe|swiftshader|software/.test(text),
    subgroupMinSize: info.subgroupMinSize,
    subgroupMaxSize: info.subgroupMaxSize,
  };
}

/** Asks Dawn for the high-performance adapter; `undefined` when there is none. */
export async function requestAdapter(dawnOptions?: string[]): Promise<GPUAdapter | undefined> {
  // The adapter's limits are read (and Dawn's limit notices printed) within this synchronous call.
  const adapter = await filterNativeStderr(() => gpuInstance(dawnOptions).requestAdapter({ powerPreference: 'high-performance' }));
  return adapter ?? undefined;
}

/** Adapter facts without creating a device (for `doctor`). */
export async function probeAdapter(): Promise<
  { available: false } | { available: true; adapter: GpuAdapterSummary; features: string[]; limits: Record<string, number> }
> {
  const adapter = await requestAdapter();
  if (!adapter) return { available: false };
  const limits: Record<string, number> = {};
  for (const name of REPORTED_LIMITS) limits[name] = adapter.limits[name];
  return { available: true, adapter: summarize(adapter), features: [...adapter.features].sort(), limits };
}

/**
 * Acquires a device with the adapter's full limits and every wanted feature it offers
 * (WebGPU hands out default limits unless asked: 128 MiB bindings need asking).
 */
export async function acquireGpu(parameters: AcquireGpuParameters = {}): Promise<Gpu> {
  const log = createLogger({ name: 'gpu' });
  if (parameters.eventPollMs !== undefined) setDawnPolling(parameters.eventPollMs);
  const adapter = await requestAdapter(parameters.dawnOptions);
  if (!adapter) throw new GpuAdapterNotFoundError();
  const available = [...adapter.features];
  for (const feature of parameters.requiredFeatures ?? []) {
    if (!adapter.features.has(feature)) throw new GpuFeatureMissingError(feature, available);
  }
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  for (const f of parameters.requiredFeatures ?? []) if (!features.includes(f)) features.push(f);
  const requiredLimits: Record<string, number> = {};
  for (const name of REPORTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  const summary = summarize(adapter);
  if (parameters.eventPollMs === undefined && summary.software) defaultDawnPolling(CPU_ADAPTER_POLL_MS);
  let destroyed = false;
  const lost = device.lost.then((info) => {
    if (destroyed || info.reason === 'destroyed') return undefined;
    const error = new GpuDeviceLostError(info.reason, info.message);
    log.error({ err: error }, 'GPU device lost');
    parameters.onLost?.(error);
    return error;
  });
  device.addEventListener('uncapturederror', (event) => {
    log.error({ gpuError: (event as GPUUncapturedErrorEvent).error.message }, 'uncaptured WebGPU error');
  });
  const limits = Object.fromEntries(REPORTED_LIMITS.map((n) => [n, device.limits[n]])) as Gpu['limits'];
  log.debug({ adapter: summary, features, limits }, 'GPU device acquired');
  return {
    adapter,
    device,
    summary,
    features: new Set(features),
    limits,
    hasF16: features.includes('shader-f16'),
    hasSubgroups: features.includes('subgroups'),
    hasTimestamps: features.includes('timestamp-query'),
    wgslFeatures: new Set(gpuInstance(parameters.dawnOptions).wgslLanguageFeatures),
    lost,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      device.destroy();
    },
  };
}
