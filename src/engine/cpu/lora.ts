/**
 * The CPU backend's LoRA slots in shared memory: per slot and (layer, module), A `[rank, in]` and
 * B `[out, rank]` f32 (the adapter precision rule), so shrink and expand are f32 matmul tasks over
 * the rows of each slot's segment (SGMV).
 */
import { checkLoraWeights, slotElements } from '../../lora/checkWeights.ts';
import type { ModelConfig } from '../../model/config.ts';
import type { LoraSlotPool, LoraWeights } from '../backend.ts';
import { EngineLoraWeightsError } from '../errors.ts';
import type { CpuMemory } from './memory.ts';

/** Where one module's factors of one slot live. */
export interface CpuLoraFactors {
  a: number;
  b: number;
}

/** The pool with the lookups the forward pass needs. */
export interface CpuWasmLoraPool extends LoraSlotPool {
  /** Rank and scale of the adapter in `slot`, or undefined (empty slot, or -1). */
  adapter(slot: number): { rank: number; scale: number; layers: LoraWeights['layers'] } | undefined;
  /** A and B of `module` at `layer` in `slot`, when the adapter targets it. */
  factors(slot: number, layer: number, module: string): CpuLoraFactors | undefined;
}

/** Parameters of {@link createCpuWasmLoraPool}. */
export interface CreateCpuWasmLoraPoolParameters {
  config: ModelConfig;
  mem: CpuMemory;
  slots: number;
  maxRank: number;
}

/** Allocates `slots` slots of `maxRank`. */
export function createCpuWasmLoraPool(p: CreateCpuWasmLoraPoolParameters): CpuWasmLoraPool {
  const { config, mem, slots, maxRank } = p;
  const perSlot = slotElements(config, maxRank) * 4;
  const base = slots > 0 ? mem.alloc(perSlot * slots) : 0;
  const held: (LoraWeights | undefined)[] = Array.from({ length: slots }, () => undefined);
  const where: Map<string, CpuLoraFactors>[] = Array.from({ length: slots }, () => new Map());
  const checkSlot = (slot: number) => {
    if (!Number.isInteger(slot) || slot < 0 || slot >= slots) throw new EngineLoraWeightsError(`slot ${slot} is outside the pool [0, ${slots})`);
  };
  return {
    slots,
    maxRank,
    bytesPerSlot: perSlot,
    adapter: (slot) => (slot >= 0 && slot < slots ? held[slot] : undefined),
    factors: (slot, layer, module) => (slot >= 0 && slot < slots && held[slot] ? where[slot].get(`${layer}.${module}`) : undefined),
    async load(slot, weights) {
      checkSlot(slot);
      checkLoraWeights({ config, maxRank, weights });
      held[slot] = undefined;
      where[slot].clear();
      const f32 = mem.f32();
      let at = base + slot * perSlot;
      weights.layers.forEach((layer, l) => {
        for (const m of config.modules) {
          const ab = layer[m.name];
          if (!ab) continue;
          f32.set(ab.a, at / 4);
          f32.set(ab.b, at / 4 + ab.a.length);
          where[slot].set(`${l}.${m.name}`, { a: at, b: at + ab.a.length * 4 });
          at += (ab.a.length + ab.b.length) * 4;
        }
      });
      held[slot] = weights;
    },
    unload(slot) {
      checkSlot(slot);
      held[slot] = undefined;
      where[slot].clear();
    },
  };
}
