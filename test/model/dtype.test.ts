import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, bytesToF32Into, f16BitsToF32, f16RoundedValues, f32ArrayToHalfBits, f32ToBf16Bits, f32ToF16Bits } from '../../src/model/dtype.ts';

describe('dtype conversions', () => {
  it('f16 round to nearest even, subnormals, overflow', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up to Infinity
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie → even (zero)
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    for (const h of [0x0001, 0x03ff, 0x0400, 0x3555, 0x7bff, 0xfbff, 0x8001]) expect(f32ToF16Bits(f16BitsToF32(h))).toBe(h);
  });

  it('bf16 round to nearest even', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(bf16BitsToF32(f32ToBf16Bits(1 + 2 ** -8))).toBe(1); // tie → even
    expect(bf16BitsToF32(f32ToBf16Bits(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6);
    expect(bf16BitsToF32(0xc0a0)).toBe(-5);
  });
});

/** f32 values around every f16 boundary: each f16 value, its neighbours' midpoints (ties) and just off them, beyond the range, subnormals, NaN with payloads and signs. */
function edgeValues(): Float32Array {
  const values: number[] = [];
  for (let h = 0; h < 0x7c00; h += 7) {
    const v = f16BitsToF32(h);
    const next = f16BitsToF32(h + 1);
    const mid = (v + next) / 2;
    for (const x of [v, mid, Math.fround(mid) + 2 ** -30 * Math.max(v, 2 ** -14), next]) values.push(x, -x);
  }
  values.push(65504, 65519, 65520, 1e6, Infinity, -Infinity, 2 ** -25, 2 ** -26, 3 * 2 ** -26, 1e-30, 0, -0);
  const out = Float32Array.from(values);
  const bits = new Uint32Array(3);
  bits.set([0x7fc00000, 0xffc01234, 0x7f800001]);
  return Float32Array.from([...out, ...new Float32Array(bits.buffer)]);
}

describe('bulk conversions agree with the scalar ones', () => {
  it('f32ArrayToHalfBits(F16) gives f32ToF16Bits of every value (ties, subnormals, overflow, NaN)', () => {
    const values = edgeValues();
    const bulk = f32ArrayToHalfBits(values, new Uint16Array(values.length), 'F16');
    const mismatches = [...values].flatMap((v, i) => (bulk[i] === f32ToF16Bits(v) ? [] : [`${v}: ${bulk[i].toString(16)} vs ${f32ToF16Bits(v).toString(16)}`]));
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it('f32ArrayToHalfBits writes into a view at an offset and leaves the rest', () => {
    const out = new Uint16Array(8).fill(0xabcd);
    f32ArrayToHalfBits(Float32Array.of(1, -2), out.subarray(3, 5), 'F16');
    expect([...out]).toEqual([0xabcd, 0xabcd, 0xabcd, 0x3c00, 0xc000, 0xabcd, 0xabcd, 0xabcd]);
  });

  it('bytesToF32Into(F16) decodes all 65536 halves, at even and odd byte offsets', () => {
    const halves = new Uint16Array(65536).map((_, h) => h);
    for (const offset of [0, 2, 1]) {
      const bytes = new Uint8Array(offset + halves.byteLength);
      bytes.set(new Uint8Array(halves.buffer), offset);
      const out = bytesToF32Into(bytes.subarray(offset), 'F16', new Float32Array(65536));
      const mismatches = [...halves].flatMap((h) => (Object.is(out[h], f16BitsToF32(h)) || (Number.isNaN(out[h]) && Number.isNaN(f16BitsToF32(h))) ? [] : [`${h.toString(16)} at offset ${offset}`]));
      expect(mismatches.slice(0, 5)).toEqual([]);
    }
  });

  it('f16RoundedValues is the f16 round trip of each value', () => {
    const values = edgeValues();
    const rounded = f16RoundedValues(values);
    for (let i = 0; i < values.length; i++) {
      const want = f16BitsToF32(f32ToF16Bits(values[i]));
      expect(Object.is(rounded[i], want) || (Number.isNaN(rounded[i]) && Number.isNaN(want)), `${values[i]}`).toBe(true);
    }
  });
});
