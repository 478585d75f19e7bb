/**
 * What distinct adapters add to the bytes a batched decode step reads: every row of its own
 * adapter reads that adapter's A and B on each targeted projection of each layer, while the base
 * weights are read once for all rows. A step bound by the bytes it reads (decode on a GPU at
 * memory bandwidth) keeps at most base / (base + adapters) of the base-only rate, whatever its
 * kernels do; `bench:lora` prints that bound beside the measured rate (issue 17's "32 distinct
 * adapters >= 85% of base"), so a figure is read against what the workload allows.
 */
import type { ModelConfig } from '../../../src/model/config.ts';

/** Bytes of one f32 / f16 adapter factor element. */
const LORA_ELEMENT_BYTES = { f32: 4, f16: 2 } as const;

export interface AdapterReadShare {
  /** Elements of A and B per adapter over all layers and targeted modules: rank x (in + out). */
  elementsPerAdapter: number;
  /** Bytes of adapter factors a step reads: `distinct` adapters, in the slots' dtype. */
  adapterBytes: number;
  /** The rate a step bound by the bytes it reads keeps of base only: base / (base + adapters). */
  boundOfBase: number;
}

/**
 * `baseBytes`: the weights a decode step reads (the backend's `weightBytes`: every matrix, the
 * LM head included); `targets`: the modules the adapters target (`config.modules` names).
 */
export function adapterReadShare(p: { config: ModelConfig; rank: number; distinct: number; targets: readonly string[]; dtype: keyof typeof LORA_ELEMENT_BYTES; baseBytes: number }): AdapterReadShare {
  const modules = p.config.modules.filter((m) => p.targets.includes(m.name));
  const elementsPerAdapter = p.config.numLayers * modules.reduce((sum, m) => sum + p.rank * (m.in + m.out), 0);
  const adapterBytes = p.distinct * elementsPerAdapter * LORA_ELEMENT_BYTES[p.dtype];
  return { elementsPerAdapter, adapterBytes, boundOfBase: p.baseBytes / (p.baseBytes + adapterBytes) };
}
