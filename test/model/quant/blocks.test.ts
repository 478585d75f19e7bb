/**
 * ggml block layouts, byte for byte: blocks computed by hand from the layout in
 * `src/model/quant/formats.ts` (ggml-common.h) for quantize (Q8_0, Q4_0) and dequantize (all four),
 * rounding rules that tell ggml's reference apart from look-alikes (roundf half away from zero,
 * Q4_0's truncation, nearest_int's ties to even), and round-trip error bounds on random data.
 */
import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits } from '../../../src/model/dtype.ts';
import { dequantize, quantize, QUANT_FORMATS, QUANT_TYPES, quantizedBytes } from '../../../src/model/quant/index.ts';
import { nearestInt } from '../../../src/model/quant/round.ts';
import { normalStream } from '../../../src/model/random.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const half = (v: number) => [f32ToF16Bits(v) & 0xff, f32ToF16Bits(v) >> 8];

describe('Q8_0', () => {
  it('quantizes a hand-computed block: d = max|x| / 127 as f16, q = roundf(x / d) half away from zero', () => {
    // max |x| = 127 → d = 1 (f16 0x3c00), id = 1: q is x rounded half away from zero.
    const x = new Float32Array(32);
    const v = [127, -127, 2.5, -2.5, 0.5, -0.5, 1.49, -1.51, 126.5, 0, 3, -3];
    v.forEach((a, i) => (x[i] = a));
    const out = quantize({ values: x, type: 'q8_0' });
    const q = [127, -127, 3, -3, 1, -1, 1, -2, 127, 0, 3, -3, ...Array.from({ length: 20 }, () => 0)];
    expect(hex(out)).toBe(hex(new Uint8Array([0x00, 0x3c, ...q.map((n) => n & 0xff)])));
    expect(Array.from(dequantize({ data: out, type: 'q8_0' }).subarray(0, 12))).toEqual(q.slice(0, 12));
  });

  it('scales by the block maximum and keeps d in f16', () => {
    const x = new Float32Array(64);
    for (let i = 0; i < 64; i++) x[i] = (i - 20) * 0.01;
    const out = quantize({ values: x, type: 'q8_0' });
    expect(out.byteLength).toBe(68);
    const d0 = f16BitsToF32(out[0] | (out[1] << 8));
    expect(d0).toBe(f16BitsToF32(f32ToF16Bits(Math.fround(0.2 / 127))));
    const d1 = f16BitsToF32(out[34] | (out[35] << 8));
    expect(d1).toBe(f16BitsToF32(f32ToF16Bits(Math.fround(Math.fround(0.43) / 127))));
  });
});

describe('Q4_0', () => {
  it('quantizes a hand-computed block: d = max / -8, q = min(15, trunc(x/d + 8.5)), j low nibble, j+16 high', () => {
    // The value of largest magnitude is -8 → d = 1, id = 1: q = min(15, trunc(x + 8.5)).
    const x = new Float32Array(32);
    for (let j = 0; j < 16; j++) x[j] = j - 8; // q = j
    const high = [7.6, -0.6, 0.5, -0.5, 6.9, -7.9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    high.forEach((v, j) => (x[16 + j] = v)); // q = 15 (16.1 capped), 7 (7.9), 9, 8, 15, 0, 8 ..., 9
    const hi = [15, 7, 9, 8, 15, 0, 8, 8, 8, 8, 8, 8, 8, 8, 8, 9];
    const out = quantize({ values: x, type: 'q4_0' });
    // max is -8 (sign kept): d = -8 / -8 = 1 → f16 0x3c00.
    expect(hex(out)).toBe(hex(new Uint8Array([0x00, 0x3c, ...hi.map((h, j) => j | (h << 4))])));
    const back = dequantize({ data: out, type: 'q4_0' });
    expect(Array.from(back.subarray(0, 16))).toEqual(Array.from({ length: 16 }, (_, j) => j - 8));
    expect(Array.from(back.subarray(16))).toEqual(hi.map((h) => h - 8));
  });
});

describe('Q4_K', () => {
  /** One block from its fields, laid out as the spec says. */
  function block(d: number, dmin: number, sc: number[], m: number[], q: number[]): Uint8Array {
    const b = new Uint8Array(144);
    b.set(half(d), 0);
    b.set(half(dmin), 2);
    for (let j = 0; j < 8; j++) {
      if (j < 4) {
        b[4 + j] = sc[j] & 63;
        b[4 + j + 4] = m[j] & 63;
      } else {
        b[4 + j + 4] = (sc[j] & 0xf) | ((m[j] & 0xf) << 4);
        b[4 + j - 4] |= (sc[j] >> 4) << 6;
        b[4 + j] |= (m[j] >> 4) << 6;
      }
    }
    // per 64 elements: 32 bytes, low nibbles = first 32, high nibbles = next 32
    for (let e = 0; e < 256; e++) {
      const chunk = e >> 6;
      const l = e & 31;
      const hiNibble = (e & 63) >= 32;
      b[16 + chunk * 32 + l] |= hiNibble ? q[e] << 4 : q[e];
    }
    return b;
  }

  it('dequantizes a hand-built block: x = d·sc·q - dmin·m, 6-bit scales and mins including their high bits', () => {
    const sc = [1, 2, 3, 63, 17, 33, 48, 5];
    const m = [0, 1, 62, 3, 20, 0, 49, 63];
    const q = Array.from({ length: 256 }, (_, e) => (e * 7 + 3) % 16);
    const out = dequantize({ data: block(0.5, 0.25, sc, m, q), type: 'q4_k' });
    for (let e = 0; e < 256; e++) {
      const j = e >> 5;
      expect(out[e]).toBe(0.5 * sc[j] * q[e] - 0.25 * m[j]);
    }
  });

  it('quantizes sub-blocks of one step to their own nibbles (6-bit scales: values within the f16 scale error)', () => {
    // Each sub-block holds multiples of one step with 0 and 15 present: make_qkx2_quants' first fit is exact.
    const x = new Float32Array(256);
    const q = Array.from({ length: 256 }, (_, e) => (e % 32 === 0 ? 0 : e % 32 === 1 ? 15 : (e * 5) % 16));
    for (let e = 0; e < 256; e++) x[e] = q[e] * 0.125;
    const out = quantize({ values: x, type: 'q4_k' });
    const back = dequantize({ data: out, type: 'q4_k' });
    for (let e = 0; e < 256; e++) expect(Math.abs(back[e] - x[e])).toBeLessThan(2e-3);
    for (let e = 0; e < 256; e++) expect((out[16 + (e >> 6) * 32 + (e & 31)] >> ((e & 63) >= 32 ? 4 : 0)) & 15).toBe(q[e]);
  });
});

describe('Q6_K', () => {
  it('dequantizes a hand-built block: ql low 4 bits, qh high 2, i8 scales, d at the end', () => {
    const q = Array.from({ length: 256 }, (_, e) => (e * 13 + 5) % 64);
    const sc = Array.from({ length: 16 }, (_, i) => (i % 2 ? -1 : 1) * (i * 8 + 1));
    const b = new Uint8Array(210);
    for (let e = 0; e < 256; e++) {
      const n = e >> 7; // 128-element half
      const r = e & 127;
      const l = r & 31;
      const g = r >> 5; // which quarter: bits 2g, 2g+1 of qh; low/high nibble; ql offset 0/32
      b[n * 64 + l + (g & 1) * 32] |= g >= 2 ? (q[e] & 15) << 4 : q[e] & 15;
      b[128 + n * 32 + l] |= (q[e] >> 4) << (2 * g);
    }
    sc.forEach((s, i) => (b[192 + i] = s & 0xff));
    b.set(half(0.25), 208);
    const out = dequantize({ data: b, type: 'q6_k' });
    for (let e = 0; e < 256; e++) expect(out[e]).toBe(0.25 * sc[e >> 4] * (q[e] - 32));
  });

  it('writes an all-zero block as zeros', () => {
    expect(Array.from(quantize({ values: new Float32Array(256), type: 'q6_k' })).every((b) => b === 0)).toBe(true);
  });
});

describe('every format', () => {
  it('has ggml block geometry and type ids', () => {
    expect(QUANT_FORMATS).toEqual({
      q8_0: { ggmlType: 8, blockElements: 32, blockBytes: 34 },
      q4_0: { ggmlType: 2, blockElements: 32, blockBytes: 18 },
      q4_k: { ggmlType: 12, blockElements: 256, blockBytes: 144 },
      q6_k: { ggmlType: 14, blockElements: 256, blockBytes: 210 },
    });
  });

  it('nearest_int rounds ties to even, as the 1.5·2^23 trick does', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999998, 3.7].map(nearestInt)).toEqual([0, 2, 2, 0, -2, 2, 4]);
  });

  // RMS error / RMS of N(0, 1) data: ggml's formats at these bit widths.
  const bound = { q8_0: 0.01, q6_k: 0.03, q4_k: 0.12, q4_0: 0.15 } as const;
  for (const type of QUANT_TYPES) {
    it(`${type}: dequantize(quantize(x)) within ${bound[type]} relative RMS error; sizes as the format says`, () => {
      const x = normalStream(7, type).fill(new Float32Array(256 * 8), 1, 0);
      const data = quantize({ values: x, type });
      expect(data.byteLength).toBe(quantizedBytes(type, x.length));
      const back = dequantize({ data, type });
      let err = 0;
      let ref = 0;
      for (let i = 0; i < x.length; i++) {
        err += (back[i] - x[i]) ** 2;
        ref += x[i] ** 2;
      }
      expect(Math.sqrt(err / ref)).toBeLessThan(bound[type]);
      expect(quantize({ values: x, type })).toEqual(data); // deterministic
    });
  }
});
