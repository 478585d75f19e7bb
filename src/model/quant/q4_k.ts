/**
 * Q4_K: super-blocks of 256 values in 8 sub-blocks of 32. Each sub-block has a 6-bit scale and a
 * 6-bit min (packed into 12 bytes), times the super-block's f16 `d` and `dmin`:
 * `x = d·sc · q - dmin·m`, `q` 4 bits. ggml `quantize_row_q4_K_ref` (sub-block fits by
 * `make_qkx2_quants`, weighted by `sqrt(mean x²) + |x|`), `dequantize_row_q4_K`.
 */
import { fr, getHalf, nearestInt, putHalf } from './round.ts';

const QK_K = 256;
const BYTES = 144;

/** The 6-bit scale and min of sub-block `j` from the 12 packed bytes at `s` (ggml `get_scale_min_k4`). */
export function scaleMinK4(j: number, bytes: Uint8Array, s: number): [number, number] {
  if (j < 4) return [bytes[s + j] & 63, bytes[s + j + 4] & 63];
  return [(bytes[s + j + 4] & 0xf) | ((bytes[s + j - 4] >> 6) << 4), (bytes[s + j + 4] >> 4) | ((bytes[s + j] >> 6) << 4)];
}

/**
 * ggml `make_qkx2_quants`: a scale and min (`x ≈ scale · L - min`, `L` in [0, nmax]) minimizing the
 * weighted error over `nstep + 1` candidate scales. Writes `L`; returns [scale, min].
 */
export function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array, L: Uint8Array, lo: number,
  rmin: number, rdelta: number, nstep: number, useMad: boolean,
): [number, number] {
  const Laux = new Uint8Array(n);
  let min = x[xo];
  let max = x[xo];
  let sumW = weights[0];
  let sumX = fr(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const v = x[xo + i];
    if (v < min) min = v;
    if (v > max) max = v;
    const w = weights[i];
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    return [0, -min];
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  const err = (s: number, m: number, l: number, v: number, w: number): number => {
    const diff = fr(fr(fr(s * l) + m) - v);
    return fr(w * (useMad ? Math.abs(diff) : fr(diff * diff)));
  };
  for (let i = 0; i < n; i++) {
    const l = nearestInt(fr(iscale * fr(x[xo + i] - min)));
    L[lo + i] = Math.max(0, Math.min(nmax, l));
    bestError = fr(bestError + err(scale, min, L[lo + i], x[xo + i], weights[i]));
  }
  if (nstep < 1) return [scale, -min];
  for (let is = 0; is <= nstep; is++) {
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXl = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[xo + i] - min)))));
      Laux[i] = l;
      const wl = fr(weights[i] * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXl = fr(sumXl + fr(wl * x[xo + i]));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXl) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXl)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXl / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) curError = fr(curError + err(thisScale, thisMin, Laux[i], x[xo + i], weights[i]));
      if (curError < bestError) {
        L.set(Laux, lo);
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/** Quantizes `x` (length a multiple of 256) into `out` (`x.length / 256 · 144` bytes). */
export function quantizeQ4_K(x: Float32Array, out: Uint8Array): Uint8Array {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const L = new Uint8Array(QK_K);
  const weights = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  for (let b = 0; b < x.length / QK_K; b++) {
    const xo = b * QK_K;
    const o = b * BYTES;
    out.fill(0, o, o + BYTES);
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xo + 32 * j + l] * x[xo + 32 * j + l]));
      const avX = fr(Math.sqrt(fr(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = fr(avX + Math.abs(x[xo + 32 * j + l]));
      [scales[j], mins[j]] = makeQkx2Quants(32, 15, x, xo + 32 * j, weights, L, 32 * j, -1, fr(0.1), 20, false);
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
    const s = o + 4; // scales[12]
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(fr(invScale * scales[j])) & 0xff);
      const lm = Math.min(63, nearestInt(fr(invMin * mins[j])) & 0xff);
      if (j < 4) {
        out[s + j] = ls;
        out[s + j + 4] = lm;
      } else {
        out[s + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
        out[s + j - 4] |= (ls >> 4) << 6;
        out[s + j] |= (lm >> 4) << 6;
      }
    }
    const dh = putHalf(view, o, fr(maxScale / 63));
    const dminh = putHalf(view, o + 2, fr(maxMin / 63));
    for (let j = 0; j < 8; j++) {
      const [sc, m] = scaleMinK4(j, out, s);
      const d = fr(dh * sc);
      if (!d) continue;
      const dm = fr(dminh * m);
      for (let ii = 0; ii < 32; ii++) L[32 * j + ii] = Math.max(0, Math.min(15, nearestInt(fr(fr(x[xo + 32 * j + ii] + dm) / d))));
    }
    const q = o + 16;
    for (let j = 0; j < QK_K; j += 64) {
      for (let l = 0; l < 32; l++) out[q + j / 2 + l] = L[j + l] | (L[j + l + 32] << 4);
    }
  }
  return out;
}

/** Dequantizes `count` values of Q4_K super-blocks. */
export function dequantizeQ4_K(data: Uint8Array, count: number, out: Float32Array = new Float32Array(count)): Float32Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let b = 0; b < count / QK_K; b++) {
    const o = b * BYTES;
    const d = getHalf(view, o);
    const min = getHalf(view, o + 2);
    let y = b * QK_K;
    for (let j = 0, is = 0; j < QK_K; j += 64, is += 2) {
      const q = o + 16 + j / 2;
      const [sc1, m1] = scaleMinK4(is, data, o + 4);
      const [sc2, m2] = scaleMinK4(is + 1, data, o + 4);
      const d1 = fr(d * sc1);
      const mm1 = fr(min * m1);
      const d2 = fr(d * sc2);
      const mm2 = fr(min * m2);
      for (let l = 0; l < 32; l++) out[y++] = fr(fr(d1 * (data[q + l] & 0xf)) - mm1);
      for (let l = 0; l < 32; l++) out[y++] = fr(fr(d2 * (data[q + l] >> 4)) - mm2);
    }
  }
  return out;
}
