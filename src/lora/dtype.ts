/**
 * The adapter precision rule (docs/engine.md): the dtype LoRA factors A and B are held in on every
 * backend (`lora.dtype`). f32 (the default) keeps them as loaded; f16 halves a slot's bytes (as
 * vLLM's `--lora-dtype` serves them in the base model's 16 bits) and the words the LoRA kernels
 * load (what it gains on lavapipe with 32 distinct adapters: docs/engine.md, "Where 32 adapters'
 * time goes"). Every backend computes with
 * exactly the values the device holds: the WebGPU slots hold f16 bits, and the CPU backends hold
 * the same values rounded the same way (round to nearest even, {@link f16RoundedValues}), so they
 * still agree within the f32 tolerance. A finite value beyond f16's range is refused (its f16 copy
 * would be infinite), naming the tensor.
 */
import type { LoraWeights } from '../engine/backend.ts';
import { F16_MAX, f16RoundedValues } from '../model/dtype.ts';
import { LoraDtypeRangeError } from './errors.ts';

/** Dtypes adapter factors are held in. */
export const LORA_DTYPES = ['f32', 'f16'] as const;

/** A dtype adapter factors are held in. */
export type LoraDtype = (typeof LORA_DTYPES)[number];

/** `lora.dtype` when none is given: f32, the values as loaded. */
export const DEFAULT_LORA_DTYPE: LoraDtype = 'f32';

/** Throws {@link LoraDtypeRangeError} when `dtype` cannot hold a finite value of `weights` (f16: beyond ±65504). */
export function checkLoraDtypeRange(weights: LoraWeights, dtype: LoraDtype): void {
  if (dtype === 'f32') return;
  weights.layers.forEach((layer, l) => {
    for (const [module, t] of Object.entries(layer)) {
      for (const [factor, values] of [['lora_A', t!.a], ['lora_B', t!.b]] as const) {
        const i = firstBeyondF16(values);
        if (i >= 0) throw new LoraDtypeRangeError(`layers.${l}.${module}.${factor}`, i, values[i], dtype);
      }
    }
  });
}

/** Index of the first finite value of `values` beyond f16's range, or -1 (a loop of its own: inside the check's loops over tensors it ran at 28 ns a value, 150 ms per rank-16 adapter). */
function firstBeyondF16(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if ((v > F16_MAX || v < -F16_MAX) && Number.isFinite(v)) return i;
  }
  return -1;
}

/** The weights as a pool of `dtype` holds them: `weights` itself for f32, else a copy with A and B rounded to f16 values. */
export function loraDeviceWeights(weights: LoraWeights, dtype: LoraDtype): LoraWeights {
  if (dtype === 'f32') return weights;
  return { ...weights, layers: weights.layers.map((layer) => Object.fromEntries(Object.entries(layer).map(([module, t]) => [module, { a: f16RoundedValues(t!.a), b: f16RoundedValues(t!.b) }]))) };
}

/** What to do when f16 factors meet unified memory, whose pages hold adapters in f32 only (the page kernels read f32 runs). */
export const UNIFIED_LORA_DTYPE_HINT = 'Adapters in pages of unified memory are f32: set lora.dtype: f32 (--set lora.dtype=f32), or engine.memory.mode: split to serve f16 factors in slots.';
