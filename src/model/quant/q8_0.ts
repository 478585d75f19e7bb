/**
 * Q8_0: blocks of 32 values as one f16 scale `d = max|x| / 127` and 32 signed bytes
 * `q = roundf(x / d)` (ggml `quantize_row_q8_0_ref`, `dequantize_row_q8_0`).
 */
import { fr, getHalf, putHalf, roundAway } from './round.ts';

const QK = 32;
const BYTES = 34;

/** Quantizes `x` (length a multiple of 32) into `out` (`x.length / 32 · 34` bytes). */
export function quantizeQ8_0(x: Float32Array, out: Uint8Array): Uint8Array {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let b = 0; b < x.length / QK; b++) {
    const xo = b * QK;
    const o = b * BYTES;
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    putHalf(view, o, d);
    for (let j = 0; j < QK; j++) view.setInt8(o + 2 + j, roundAway(fr(x[xo + j] * id)));
  }
  return out;
}

/** Dequantizes `count` values of Q8_0 blocks: `x = q · d`. */
export function dequantizeQ8_0(data: Uint8Array, count: number, out: Float32Array = new Float32Array(count)): Float32Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let b = 0; b < count / QK; b++) {
    const o = b * BYTES;
    const d = getHalf(view, o);
    for (let j = 0; j < QK; j++) out[b * QK + j] = fr(view.getInt8(o + 2 + j) * d);
  }
  return out;
}
