import type { Backend, LoadProgress } from '../engine/backend.ts';
import { resolveBackend, type BackendChoice, type ResolvedBackend } from '../engine/chooseBackend.ts';
import { createCpuBackend } from '../engine/cpu/backend.ts';
import { createReferenceBackend } from '../engine/reference/backend.ts';
import { createWebGpuBackend } from '../engine/webgpu/backend.ts';
import type { LoadedModel } from '../model/load.ts';
import { resolveLoraDtype, type LoraDtypeSetting } from '../lora/dtype.ts';
import type { KernelWarmup } from '../engine/webgpu/warmup.ts';

export interface CreateBackendParameters {
  model: LoadedModel;
  /** `auto` (default): WebGPU on a hardware adapter, else the CPU backend (`src/engine/chooseBackend.ts`). */
  kind: BackendChoice;
  /** `kind` already resolved (the node resolves it first: its memory plan depends on the backend); default: resolved here. */
  resolved?: ResolvedBackend;
  numKvBlocks: number;
  /** Unified memory: bytes of a page (`numKvBlocks` pages shared by KV blocks and adapters). The CPU and WebGPU backends keep adapters in those pages; the reference keeps padded slots beside them. */
  pageBytes?: number;
  loraSlots: number;
  maxLoraRank: number;
  /** `lora.dtype`: what adapter factors are held in on every backend (`src/lora/dtype.ts`); default auto, the base model's (each backend resolves it: `backend.lora.dtype`). */
  loraDtype?: LoraDtypeSetting;
  /** CPU backend threads; default every core. */
  threads?: number;
  onProgress?: LoadProgress;
  signal?: AbortSignal;
}

/**
 * The engine backend a node runs (`auto`: WebGPU on a hardware adapter, else the WebAssembly CPU
 * backend), with the context it serves, why it was chosen and, for WebGPU, its warm-up (kernels
 * compiled, a first pass run: done before this resolves, so the node serves only once the engine
 * runs at full speed).
 */
export async function createBackend(p: CreateBackendParameters): Promise<{ backend: Backend; maxContext: number; reason: string; warmup?: KernelWarmup & { firstPassMs: number } }> {
  const { kind, reason } = p.resolved ?? (await resolveBackend(p.kind));
  // Unified memory holds adapters in f32 pages: auto resolves here for every backend (the reference keeps slots beside the pages); else each backend resolves it (WebGPU knows shader-f16).
  const loraDtype = p.pageBytes === undefined ? p.loraDtype : resolveLoraDtype({ setting: p.loraDtype, model: p.model, unified: true });
  const common = { model: p.model, numKvBlocks: p.numKvBlocks, loraSlots: p.loraSlots, maxLoraRank: p.maxLoraRank, loraDtype, onProgress: p.onProgress, signal: p.signal };
  if (kind === 'cpu') return { backend: await createCpuBackend({ ...common, threads: p.threads, pageBytes: p.pageBytes }), maxContext: p.model.config.maxPositionEmbeddings, reason };
  if (kind === 'reference') return { backend: await createReferenceBackend(common), maxContext: p.model.config.maxPositionEmbeddings, reason };
  const backend = await createWebGpuBackend({ ...common, pageBytes: p.pageBytes });
  return { backend, maxContext: backend.maxContext, reason, warmup: { ...backend.startup.warmup, firstPassMs: backend.startup.firstPassMs } };
}
