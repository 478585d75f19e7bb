/**
 * Shape checks shared by the slot pools: an adapter's {@link LoraWeights} must fit the model and
 * the pool's `maxRank` before any byte is written into a slot.
 */
import type { LoraWeights } from '../engine/backend.ts';
import type { ModelConfig } from '../model/config.ts';
import { checkLoraDtypeRange, type LoraDtype } from './dtype.ts';
import { LoraRankUnsupportedError, LoraSlotLayoutError } from './errors.ts';

/** Parameters of {@link checkLoraWeights}. */
export interface CheckLoraWeightsParameters {
  config: ModelConfig;
  maxRank: number;
  weights: LoraWeights;
  /** The dtype the pool holds factors in (`lora.dtype`); default f32. */
  dtype?: LoraDtype;
}

/** Throws {@link LoraRankUnsupportedError} / {@link LoraSlotLayoutError} / `LoraDtypeRangeError` when `weights` does not fit. */
export function checkLoraWeights(p: CheckLoraWeightsParameters): void {
  const { config, maxRank, weights } = p;
  const r = weights.rank;
  checkLoraRankAndScale(r, weights.scale, maxRank);
  if (weights.layers.length !== config.numLayers) throw new LoraSlotLayoutError(`adapter has ${weights.layers.length} layers, the model ${config.numLayers}`);
  weights.layers.forEach((layer, i) => {
    for (const name of Object.keys(layer)) {
      const module = config.modules.find((m) => m.name === name);
      if (!module) throw new LoraSlotLayoutError(`layer ${i} targets ${name}, which ${config.architecture} layers do not have (${config.modules.map((m) => m.name).join(', ')})`);
      const t = layer[name]!;
      if (t.a.length !== r * module.in || t.b.length !== module.out * r) {
        throw new LoraSlotLayoutError(`layer ${i} ${name}: A has ${t.a.length} values (need ${r} x ${module.in}), B ${t.b.length} (need ${module.out} x ${r})`);
      }
    }
  });
  checkLoraDtypeRange(weights, p.dtype ?? 'f32');
}

/** Throws {@link LoraRankUnsupportedError} unless `rank` is a whole number in 1..`maxRank`, {@link LoraSlotLayoutError} unless `scale` is finite. */
export function checkLoraRankAndScale(rank: number, scale: number, maxRank: number): void {
  if (!Number.isSafeInteger(rank) || rank < 1 || rank > maxRank) throw new LoraRankUnsupportedError('for this slot pool', rank, maxRank);
  if (!Number.isFinite(scale)) throw new LoraSlotLayoutError(`adapter scale ${scale} is not finite`);
}

/** f32 elements of one slot with every projection padded to `maxRank`: sum over layers and projections of maxRank (in + out). */
export function slotElements(config: ModelConfig, maxRank: number): number {
  let perLayer = 0;
  for (const m of config.modules) perLayer += maxRank * (m.in + m.out);
  return perLayer * config.numLayers;
}
