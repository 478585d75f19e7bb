/**
 * How llama.cpp's CPU backend multiplies Q8_0 and Q4_0 weights (`ggml_vec_dot_q8_0_q8_0`,
 * `ggml_vec_dot_q4_0_q8_0`): each activation row is quantized to Q8_0 per 32 values (scale
 * `max|x| / 127` kept in f32, `q = round(x / d)`, ties to even as its SIMD path rounds), and each
 * block contributes `dw · dx · Σ qw·qx` (integer sum). The reference the CPU backend's kernels are
 * tested against.
 */
import { f16BitsToF32 } from '../dtype.ts';

/** Quantizes one row (length a multiple of 32) to i8 values and f32 block scales. */
export function quantizeActivationsQ8(x: ArrayLike<number>): { q: Int8Array; d: Float32Array } {
  const q = new Int8Array(x.length);
  const d = new Float32Array(x.length / 32);
  for (let b = 0; b < d.length; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const dd = Math.fround(amax / 127);
    const id = dd ? Math.fround(1 / dd) : 0;
    d[b] = dd;
    for (let j = 0; j < 32; j++) {
      const v = Math.fround(x[b * 32 + j] * id);
      const r = Math.round(v);
      q[b * 32 + j] = r - v === 0.5 && r % 2 !== 0 ? r - 1 : r; // ties to even
    }
  }
  return { q, d };
}

/** `Σ_blocks dw · dx · Σ qw·qx` of one Q8_0 or Q4_0 weight row (`blocks` bytes) and one activation row. */
export function dotQ8(type: 'q8_0' | 'q4_0', row: Uint8Array, x: { q: Int8Array; d: Float32Array }): number {
  const bb = type === 'q8_0' ? 34 : 18;
  let sum = 0;
  for (let b = 0; b < x.d.length; b++) {
    const o = b * bb;
    const dw = f16BitsToF32(row[o] | (row[o + 1] << 8));
    let s = 0;
    for (let j = 0; j < 32; j++) {
      let w: number;
      if (type === 'q8_0') w = (row[o + 2 + j] << 24) >> 24;
      else w = j < 16 ? (row[o + 2 + j] & 15) - 8 : (row[o + 2 + j - 16] >> 4) - 8;
      s += w * x.q[b * 32 + j];
    }
    sum += dw * x.d[b] * s;
  }
  return sum;
}
