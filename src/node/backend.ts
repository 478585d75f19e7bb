import type { Backend, LoadProgress } from '../engine/backend.ts';
import { createReferenceBackend } from '../engine/reference/backend.ts';
import { createWebGpuBackend } from '../engine/webgpu/backend.ts';
import type { LoadedModel } from '../model/load.ts';
import type { KernelWarmup } from '../engine/webgpu/warmup.ts';

export interface CreateBackendParameters {
  model: LoadedModel;
  kind: 'webgpu' | 'cpu';
  numKvBlocks: number;
  loraSlots: number;
  maxLoraRank: number;
  onProgress?: LoadProgress;
  signal?: AbortSignal;
}

/**
 * The engine backend a node runs: WebGPU, or the CPU reference (`--backend cpu`). Returns it with
 * the context it serves and, for WebGPU, its warm-up (kernels compiled, a first pass run: done
 * before this resolves, so the node serves only once the engine runs at full speed).
 */
export async function createBackend(p: CreateBackendParameters): Promise<{ backend: Backend; maxContext: number; warmup?: KernelWarmup & { firstPassMs: number } }> {
  if (p.kind === 'cpu') {
    const backend = await createReferenceBackend({ model: p.model, numKvBlocks: p.numKvBlocks, loraSlots: p.loraSlots, maxLoraRank: p.maxLoraRank, onProgress: p.onProgress, signal: p.signal });
    return { backend, maxContext: p.model.config.maxPositionEmbeddings };
  }
  const backend = await createWebGpuBackend({ model: p.model, numKvBlocks: p.numKvBlocks, loraSlots: p.loraSlots, maxLoraRank: p.maxLoraRank, onProgress: p.onProgress, signal: p.signal });
  return { backend, maxContext: backend.maxContext, warmup: { ...backend.startup.warmup, firstPassMs: backend.startup.firstPassMs } };
}
