/**
 * The CPU reference's LoRA slot pool: adapters held as f32 arrays per slot, applied unmerged as
 * `y += scale * B (A x)` ({@link loraShrink} then {@link loraExpand}).
 */
import { PROJECTIONS, projectionShape, type ModelConfig, type Projection } from '../../model/config.ts';
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
}

/** Creates an empty pool of `slots` slots. */
export function createCpuLoraPool(p: CreateCpuLoraPoolParameters): CpuLoraPool {
  const { config, slots, maxRank } = p;
  const held: (LoraWeights | undefined)[] = Array.from({ length: slots }, () => undefined);
  let perRank = 0;
  for (const proj of PROJECTIONS) {
    const [out, inFeatures] = projectionShape(config, proj);
    perRank += out + inFeatures;
  }
  const checkSlot = (slot: number) => {
    if (!Number.isInteger(slot) || slot < 0 || slot >= slots) throw new EngineLoraWeightsError(`slot ${slot} is outside the pool [0, ${slots})`);
  };
  return {
    slots,
    maxRank,
    bytesPerSlot: perRank * maxRank * config.numLayers * 4,
    get: (slot) => (slot >= 0 && slot < slots ? held[slot] : undefined),
    load: async (slot, weights) => {
      checkSlot(slot);
      const { rank } = weights;
      if (!Number.isInteger(rank) || rank < 1 || rank > maxRank) throw new EngineLoraWeightsError(`rank ${rank} is outside [1, ${maxRank}]`);
      if (weights.layers.length !== config.numLayers) throw new EngineLoraWeightsError(`it has ${weights.layers.length} layers, the model ${config.numLayers}`);
      weights.layers.forEach((layer, i) => {
        for (const [proj, ab] of Object.entries(layer) as [Projection, { a: Float32Array; b: Float32Array }][]) {
          const [out, inFeatures] = projectionShape(config, proj);
          if (ab.a.length !== rank * inFeatures || ab.b.length !== out * rank) {
            throw new EngineLoraWeightsError(`layer ${i} ${proj}: A has ${ab.a.length} values (want ${rank}×${inFeatures}), B has ${ab.b.length} (want ${out}×${rank})`);
          }
        }
      });
      held[slot] = weights;
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
  projection: Projection;
  config: ModelConfig;
}

/** Adds the adapter's delta for one projection, if it targets it. */
export function applyLora(p: ApplyLoraParameters): void {
  const ab = p.adapter?.layers[p.layer]?.[p.projection];
  if (!ab || !p.adapter) return;
  const [out, inFeatures] = projectionShape(p.config, p.projection);
  const v = loraShrink({ x: p.x, a: ab.a, rows: p.rows, inFeatures, rank: p.adapter.rank });
  loraExpand({ y: p.y, v, b: ab.b, rows: p.rows, rank: p.adapter.rank, outFeatures: out, scale: p.adapter.scale });
}
