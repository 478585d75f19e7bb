/**
 * Which engine runs: `--backend auto` (the default) takes WebGPU on a hardware adapter and the
 * WebAssembly CPU backend otherwise, since a software adapter (Mesa lavapipe, SwiftShader) runs
 * WebGPU on the same cores, slower than the CPU backend; `webgpu`, `cpu` and `reference` force one.
 */
import { probeAdapter } from '../gpu/device.ts';
import type { BackendKind } from './backend.ts';

/** What `--backend` / `model.backend` accept. */
export const BACKEND_CHOICES = ['auto', 'webgpu', 'cpu', 'reference'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** The engine a choice resolves to, and why. */
export interface ResolvedBackend {
  kind: BackendKind;
  reason: string;
}

/** Resolves `auto` by probing the WebGPU adapter (no device is created). */
export async function resolveBackend(choice: BackendChoice): Promise<ResolvedBackend> {
  if (choice !== 'auto') return chooseBackend(choice, undefined);
  return chooseBackend(choice, await probeAdapter());
}

/** The choice given an adapter probe (`probeAdapter`; unused unless `auto`). */
export function chooseBackend(choice: BackendChoice, probe: Awaited<ReturnType<typeof probeAdapter>> | undefined): ResolvedBackend {
  if (choice !== 'auto') return { kind: choice, reason: `--backend ${choice} (model.backend) forces it` };
  if (!probe?.available) return { kind: 'cpu', reason: 'no WebGPU adapter: the WebAssembly CPU backend runs' };
  if (probe.adapter.software) return { kind: 'cpu', reason: `the WebGPU adapter is a software renderer (${probe.adapter.description}): the CPU backend is faster on the same cores` };
  return { kind: 'webgpu', reason: `hardware WebGPU adapter: ${probe.adapter.description}` };
}
