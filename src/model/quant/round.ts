/**
 * float32 arithmetic helpers shared by the quantizers, so that TypeScript (float64) computes what
 * ggml's C reference computes in float: every intermediate is rounded with `Math.fround`, in the C
 * expression's evaluation order (left to right, no fused multiply-add).
 */
import { f16BitsToF32, f32ToF16Bits } from '../dtype.ts';

export const fr = Math.fround;

/** ggml's `nearest_int`: round to nearest, ties to even, via the 1.5·2^23 trick in f32 (|v| <= 4194303). */
export function nearestInt(v: number): number {
  return fr(v + 12582912) - 12582912;
}

/** C `roundf`: half away from zero. */
export function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** `GGML_FP32_TO_FP16` (round to nearest even) written at `offset`, returning the half's f32 value (`GGML_FP16_TO_FP32` of it). */
export function putHalf(view: DataView, offset: number, v: number): number {
  const h = f32ToF16Bits(v);
  view.setUint16(offset, h, true);
  return f16BitsToF32(h);
}

/** `GGML_FP16_TO_FP32` of the half at `offset`. */
export function getHalf(view: DataView, offset: number): number {
  return f16BitsToF32(view.getUint16(offset, true));
}

/** `GROUP_MAX_EPS` of ggml-quants.c: blocks whose largest magnitude is below it are all zero. */
export const GROUP_MAX_EPS = fr(1e-15);
