/**
 * The adapter precision rule (docs/engine.md): the dtype LoRA factors A and B are held in on every
 * backend (`lora.dtype`). `auto` (the default, as vLLM's `--lora-dtype auto`: the base model's
 * dtype) resolves once per model and engine ({@link resolveLoraDtype}): f16 on a 16-bit or
 * quantized base, f32 on an f32 one. f32 keeps the factors as loaded; f16 halves a slot's bytes and
 * the words the LoRA kernels load (what it gains on lavapipe with 32 distinct adapters:
 * docs/engine.md, "Where 32 adapters' time goes"). Every backend computes with
 * exactly the values the device holds: the WebGPU slots hold f16 bits, and the CPU backends hold
 * the same values rounded the same way (round to nearest even, {@link f16RoundedValues}), so they
 * still agree within the f32 tolerance. A finite value beyond f16's range is refused (its f16 copy
 * would be infinite), naming the tensor.
 */
import type { LoraWeights } from '../engine/backend.ts';
import { F16_MAX, f16RoundedValues, type DeviceDtype } from '../model/dtype.ts';
import { isQuantType, type QuantizeType } from '../model/quant/formats.ts';
import type { WeightStore } from '../model/weights.ts';
import { LoraDtypeRangeError } from './errors.ts';

/** Dtypes adapter factors are held in. */
export const LORA_DTYPES = ['f32', 'f16'] as const;

/** A dtype adapter factors are held in. */
export type LoraDtype = (typeof LORA_DTYPES)[number];

/** What `lora.dtype` may say: a dtype, or `auto` (the base model's, {@link resolveLoraDtype}). */
export const LORA_DTYPE_SETTINGS = ['auto', ...LORA_DTYPES] as const;

/** A `lora.dtype` setting. */
export type LoraDtypeSetting = (typeof LORA_DTYPE_SETTINGS)[number];

/** `lora.dtype` when none is given: auto, the base model's dtype (as vLLM's `--lora-dtype auto`). */
export const DEFAULT_LORA_DTYPE: LoraDtypeSetting = 'auto';

/** What {@link resolveLoraDtype} reads of the base model (a `LoadedModel`). */
export interface LoraDtypeBase {
  /** The dtype its matrices are held in on the device (`src/model/deviceTensor.ts`). */
  dtype: DeviceDtype;
  /** Matrices quantized at load (`--quantize`). */
  quantize?: QuantizeType;
  /** Its tensors: a quantized one (a GGUF file's blocks) makes the base quantized. */
  weights: Pick<WeightStore, 'names' | 'info'>;
}

/** Parameters of {@link resolveLoraDtype}. */
export interface ResolveLoraDtypeParameters {
  /** `lora.dtype`; default {@link DEFAULT_LORA_DTYPE}. */
  setting?: LoraDtypeSetting;
  model: LoraDtypeBase;
  /** Adapters in pages of unified memory (`engine.memory.mode: unified`), which hold f32 only. */
  unified?: boolean;
  /** The backend can hold f16 slots (false: WebGPU without `shader-f16`); default true (the CPU backends round alike). */
  f16Slots?: boolean;
}

/**
 * The dtype adapter factors are held in: an explicit f32 or f16 as it is (the backends refuse f16
 * where they cannot hold it); `auto` f16 when the base's matrices are 16-bit (f16, bf16) or quantized
 * (a GGUF file's blocks, `--quantize`) and the backend can hold f16 slots, else f32 (an f32 base,
 * unified memory, WebGPU without `shader-f16`). Decided by the model, so the CPU and WebGPU
 * backends agree wherever both can hold f16.
 */
export function resolveLoraDtype(p: ResolveLoraDtypeParameters): LoraDtype {
  const setting = p.setting ?? DEFAULT_LORA_DTYPE;
  if (setting !== 'auto') return setting;
  if (p.unified || p.f16Slots === false) return 'f32';
  return baseHoldsF16(p.model) ? 'f16' : 'f32';
}

/** True when the base model's matrices are 16-bit or quantized (`auto` then holds adapters in f16). */
export function baseHoldsF16(model: LoraDtypeBase): boolean {
  if (model.dtype !== 'f32' || model.quantize !== undefined) return true;
  return model.weights.names().some((name) => isQuantType(model.weights.info(name).dtype));
}

/** Throws {@link LoraDtypeRangeError} when `dtype` cannot hold a finite value of `weights` (f16: beyond ±65504). */
export function checkLoraDtypeRange(weights: LoraWeights, dtype: LoraDtype): void {
  if (dtype === 'f32') return;
  weights.layers.forEach((layer, l) => {
    for (const [module, t] of Object.entries(layer)) {
      for (const [factor, values] of [['lora_A', t!.a], ['lora_B', t!.b]] as const) checkFactorDtypeRange(values, `layers.${l}.${module}.${factor}`, dtype);
    }
  });
}

/** Throws {@link LoraDtypeRangeError} naming the tensor `name` when `dtype` cannot hold a finite value of `values`. */
export function checkFactorDtypeRange(values: Float32Array, name: string, dtype: LoraDtype): void {
  if (dtype === 'f32') return;
  const i = firstBeyondF16(values);
  if (i >= 0) throw new LoraDtypeRangeError(name, i, values[i], dtype);
}

/**
 * Index of the first finite value of `values` beyond f16's range, or -1. A loop of its own (inside
 * the check's loops over tensors it ran at 28 ns a value, 150 ms per rank-16 adapter), first only
 * the largest magnitude (NaN never counts, an infinity sends it to the exact scan), with the limit
 * in a local: 8.7 against 30.9 CPU ms per rank-16 adapter of bench-135m (4.9 M values, median of 12
 * interleaved passes, load 6.8) for the loop reading the imported `F16_MAX` at every value.
 */
function firstBeyondF16(values: Float32Array): number {
  const limit = F16_MAX;
  const n = values.length;
  let largest = 0;
  for (let i = 0; i < n; i++) {
    const v = Math.abs(values[i]);
    if (v > largest) largest = v;
  }
  if (!(largest > limit)) return -1;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if ((v > limit || v < -limit) && Number.isFinite(v)) return i;
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
