/**
 * The CPU reference's LoRA slot pool: adapters held as f32 arrays per slot (f16 values with
 * `lora.dtype: f16`, `src/lora/dtype.ts`), applied unmerged as
 * `y += scale * B (A x)` ({@link loraShrink} then {@link loraExpand}).
 */
import type { LinearModule, ModelConfig } from '../../model/config.ts';
import { checkLoraWeights, slotElements } from '../../lora/checkWeights.ts';
import { loraDeviceWeights, type LoraDtype } from '../../lora/dtype.ts';
import { EngineLoraWeightsError } from '../errors.ts';
import type { LoraSlotPool, LoraWeights } from '../backend.ts';
import { loraExpand, loraShrink } from './ops.ts';

/** The CPU pool, with the lookup the forward pass needs. */
export interface CpuLoraPool extends LoraSlotPool {
  /** The adapter in `slot`, or undefined when the slot is empty or -1. */
  get(slot: number): LoraWeights | undefined;
}

/** Parameters of {@link createCpuLoraPool}. */
export interface CreateCpuLoraPoolParameters {
  config: ModelConfig;
  slots: number;
  maxRank: number;
  /** `lora.dtype` as the backend resolved it (`resolveLoraDtype`): f16 holds A and B rounded to f16 values, as the WebGPU slots do; default f32, the values as loaded. */
  dtype?: LoraDtype;
}

/** Creates an empty pool of `slots` slots. */
export function createCpuLoraPool(p: CreateCpuLoraPoolParameters): CpuLoraPool {
  const { config, slots, maxRank } = p;
  const dtype = p.dtype ?? 'f32';
  const held: (LoraWeights | undefined)[] = Array.from({ length: slots }, () => undefined);
  const checkSlot = (slot: number) => {
    if (!Number.isInteger(slot) || slot < 0 || slot >= slots) throw new EngineLoraWeightsError(`slot ${slot} is outside the pool [0, ${slots})`);
  };
  return {
    slots,
    maxRank,
    bytesPerSlot: slotElements(config, maxRank) * 4,
    dtype,
    get: (slot) => (slot >= 0 && slot < slots ? held[slot] : undefined),
    load: async (slot, weights) => {
      checkSlot(slot);
      checkLoraWeights({ config, maxRank, weights, dtype });
      held[slot] = loraDeviceWeights(weights, dtype);
    },
    unload: (slot) => {
      checkSlot(slot);
      held[slot] = undefined;
    },
  };
}

/** Parameters of {@link applyLora}. */
export interface ApplyLoraParameters {
  /** Projection output, updated in place. `// [rows, out] f32` */
  y: Float32Array;
  /** Projection input. `// [rows, in] f32` */
  x: Float32Array;
  rows: number;
  adapter: LoraWeights | undefined;
  layer: number;
  module: LinearModule;
}

/** Adds the adapter's delta for one projection, if it targets it. */
export function applyLora(p: ApplyLoraParameters): void {
  const ab = p.adapter?.layers[p.layer]?.[p.module.name];
  if (!ab || !p.adapter) return;
  const v = loraShrink({ x: p.x, a: ab.a, rows: p.rows, inFeatures: p.module.in, rank: p.adapter.rank }); // [rows, r]
  loraExpand({ y: p.y, v, b: ab.b, rows: p.rows, rank: p.adapter.rank, outFeatures: p.module.out, scale: p.adapter.scale });
}
