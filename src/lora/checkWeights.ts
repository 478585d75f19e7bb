/**
 * Shape checks shared by the slot pools: an adapter's {@link LoraWeights} must fit the model and
 * the pool's `maxRank` before any byte is written into a slot.
 */
import type { LoraWeights } from '../engine/backend.ts';
import { PROJECTIONS, projectionShape, type ModelConfig } from '../model/config.ts';
import { LoraRankUnsupportedError, LoraSlotLayoutError } from './errors.ts';

/** Parameters of {@link checkLoraWeights}. */
export interface CheckLoraWeightsParameters {
  config: ModelConfig;
  maxRank: number;
  weights: LoraWeights;
}

/** Throws {@link LoraRankUnsupportedError} / {@link LoraSlotLayoutError} when `weights` does not fit. */
export function checkLoraWeights(p: CheckLoraWeightsParameters): void {
  const { config, maxRank, weights } = p;
  const r = weights.rank;
  if (!Number.isSafeInteger(r) || r < 1 || r > maxRank) throw new LoraRankUnsupportedError('for this slot pool', r, maxRank);
  if (!Number.isFinite(weights.scale)) throw new LoraSlotLayoutError(`adapter scale ${weights.scale} is not finite`);
  if (weights.layers.length !== config.numLayers) throw new LoraSlotLayoutError(`adapter has ${weights.layers.length} layers, the model ${config.numLayers}`);
  weights.layers.forEach((layer, i) => {
    for (const proj of PROJECTIONS) {
      const t = layer[proj];
      if (!t) continue;
      const [out, inF] = projectionShape(config, proj);
      if (t.a.length !== r * inF || t.b.length !== out * r) {
        throw new LoraSlotLayoutError(`layer ${i} ${proj}: A has ${t.a.length} values (need ${r} x ${inF}), B ${t.b.length} (need ${out} x ${r})`);
      }
    }
  });
}

/** f32 elements of one slot with every projection padded to `maxRank`: sum over layers and projections of maxRank (in + out). */
export function slotElements(config: ModelConfig, maxRank: number): number {
  let perLayer = 0;
  for (const proj of PROJECTIONS) {
    const [out, inF] = projectionShape(config, proj);
    perLayer += maxRank * (inF + out);
  }
  return perLayer * config.numLayers;
}
