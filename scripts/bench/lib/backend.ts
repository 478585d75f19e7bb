/**
 * The engine a scheduler benchmark runs on (`--backend auto|webgpu|cpu|reference`, `auto` as the
 * node resolves it): WebGPU with passes wide enough for the whole batch, the CPU backend on every
 * core (`pageBytes`: unified memory, adapters in pages of the KV pool), or the reference.
 */
import type { Backend } from '../../../src/engine/backend.ts';
import { BACKEND_CHOICES, resolveBackend, type BackendChoice } from '../../../src/engine/chooseBackend.ts';
import { createCpuBackend } from '../../../src/engine/cpu/backend.ts';
import { createReferenceBackend } from '../../../src/engine/reference/backend.ts';
import { createWebGpuBackend } from '../../../src/engine/webgpu/backend.ts';
import type { Gpu } from '../../../src/gpu/device.ts';
import type { LoadedModel } from '../../../src/model/load.ts';

/** Creates the backend `choice` names for `model`; throws naming the choices on anything else. */
export async function benchBackend(choice: string, p: { model: LoadedModel; numKvBlocks: number; maxRows: number; maxContext: number; loraSlots?: number; maxLoraRank?: number; pageBytes?: number; gpu?: Gpu }): Promise<Backend> {
  if (!(BACKEND_CHOICES as readonly string[]).includes(choice)) throw new Error(`--backend must be one of ${BACKEND_CHOICES.join(', ')}, got ${choice}`);
  const { kind } = await resolveBackend(choice as BackendChoice);
  const common = { model: p.model, numKvBlocks: p.numKvBlocks, loraSlots: p.loraSlots, maxLoraRank: p.maxLoraRank };
  if (kind === 'cpu') return createCpuBackend({ ...common, maxRows: p.maxRows, pageBytes: p.pageBytes });
  if (kind === 'reference') return createReferenceBackend(common);
  return createWebGpuBackend(p);
}
