/**
 * Q6_K: super-blocks of 256 values in 16 sub-blocks of 16, each with a signed 8-bit scale times
 * the super-block's f16 `d`: `x = d · sc · (q - 32)`, `q` 6 bits split into `ql` (low 4) and `qh`
 * (high 2). ggml `quantize_row_q6_K_ref` (sub-block scales by `make_qx_quants`, rmse type 1),
 * `dequantize_row_q6_K`.
 */
import { fr, getHalf, GROUP_MAX_EPS, nearestInt, putHalf } from './round.ts';

const QK_K = 256;
const BYTES = 210;

/**
 * ggml `make_qx_quants` with `rmse_type` 1 and no importance weights: a signed scale for `n`
 * values (`L` in [0, 2·nmax), offset by nmax) maximizing the x²-weighted fit over 19 candidates.
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const fit = (iscale: number, store: boolean): [number, number] => {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[xo + i];
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * v))));
      if (store) L[lo + i] = l + nmax;
      const w = fr(v * v);
      sumlx = fr(sumlx + fr(fr(w * v) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    return [sumlx, suml2];
  };
  let [sumlx, suml2] = fit(fr(-nmax / max), true);
  let scale = suml2 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    [sumlx, suml2] = fit(iscale, false);
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      fit(iscale, true);
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** Quantizes `x` (length a multiple of 256) into `out` (`x.length / 256 · 210` bytes). */
export function quantizeQ6_K(x: Float32Array, out: Uint8Array): Uint8Array {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(16);
  for (let b = 0; b < x.length / QK_K; b++) {
    const xo = b * QK_K;
    const o = b * BYTES;
    out.fill(0, o, o + BYTES);
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      scales[ib] = makeQxQuants(16, 32, x, xo + 16 * ib, L, 16 * ib);
      if (Math.abs(scales[ib]) > maxAbsScale) {
        maxAbsScale = Math.abs(scales[ib]);
        maxScale = scales[ib];
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // all-zero block (d = 0)
    const iscale = fr(-128 / maxScale);
    const d = putHalf(view, o + 208, fr(1 / iscale));
    for (let ib = 0; ib < 16; ib++) view.setInt8(o + 192 + ib, Math.min(127, nearestInt(fr(iscale * scales[ib]))));
    for (let j = 0; j < 16; j++) {
      const dj = fr(d * view.getInt8(o + 192 + j));
      if (!dj) continue;
      for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = Math.max(-32, Math.min(31, nearestInt(fr(x[xo + 16 * j + ii] / dj)))) + 32;
    }
    for (let j = 0, ql = o, qh = o + 128; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const q1 = L[j + l];
        const q2 = L[j + l + 32];
        const q3 = L[j + l + 64];
        const q4 = L[j + l + 96];
        out[ql + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        out[ql + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
        out[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
  return out;
}

/** Dequantizes `count` values of Q6_K super-blocks. */
export function dequantizeQ6_K(data: Uint8Array, count: number, out: Float32Array = new Float32Array(count)): Float32Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let b = 0; b < count / QK_K; b++) {
    const o = b * BYTES;
    const d = getHalf(view, o + 208);
    for (let n = 0, ql = o, qh = o + 128, sc = o + 192; n < QK_K; n += 128, ql += 64, qh += 32, sc += 8) {
      const y = b * QK_K + n;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = data[qh + l];
        const q1 = ((data[ql + l] & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((data[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((data[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((data[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = fr(fr(d * view.getInt8(sc + is)) * q1);
        out[y + l + 32] = fr(fr(d * view.getInt8(sc + is + 2)) * q2);
        out[y + l + 64] = fr(fr(d * view.getInt8(sc + is + 4)) * q3);
        out[y + l + 96] = fr(fr(d * view.getInt8(sc + is + 6)) * q4);
      }
    }
  }
  return out;
}
