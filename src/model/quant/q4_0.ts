/**
 * Q4_0: blocks of 32 values as one f16 scale `d = max / -8` (`max` the value of largest
 * magnitude, sign kept) and 16 bytes of 4-bit `q = min(15, trunc(x / d + 8.5))`; byte j holds
 * element j in its low nibble and element j + 16 in its high nibble (ggml `quantize_row_q4_0_ref`,
 * `dequantize_row_q4_0`).
 */
import { fr, getHalf, putHalf } from './round.ts';

const QK = 32;
const BYTES = 18;

/** Quantizes `x` (length a multiple of 32) into `out` (`x.length / 32 · 18` bytes). */
export function quantizeQ4_0(x: Float32Array, out: Uint8Array): Uint8Array {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let b = 0; b < x.length / QK; b++) {
    const xo = b * QK;
    const o = b * BYTES;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = x[xo + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    putHalf(view, o, d);
    for (let j = 0; j < QK / 2; j++) {
      const q0 = Math.min(15, Math.trunc(fr(fr(x[xo + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(fr(x[xo + QK / 2 + j] * id) + 8.5)));
      out[o + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** Dequantizes `count` values of Q4_0 blocks: `x = (q - 8) · d`. */
export function dequantizeQ4_0(data: Uint8Array, count: number, out: Float32Array = new Float32Array(count)): Float32Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let b = 0; b < count / QK; b++) {
    const o = b * BYTES;
    const d = getHalf(view, o);
    for (let j = 0; j < QK / 2; j++) {
      const q = data[o + 2 + j];
      out[b * QK + j] = fr(((q & 0x0f) - 8) * d);
      out[b * QK + j + QK / 2] = fr(((q >> 4) - 8) * d);
    }
  }
  return out;
}
