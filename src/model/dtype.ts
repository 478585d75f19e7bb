/**
 * Floating-point storage formats of model tensors and exact conversions between them.
 * All narrowing conversions round to nearest, ties to even (IEEE 754 default, as PyTorch does).
 */

/** safetensors dtype names openlora reads. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

/** Dtypes a backend holds weight matrices in (activations are always f32). */
export type DeviceDtype = 'f32' | 'f16' | 'bf16';

/** Largest finite half value: an f16 copy of anything larger is infinite. */
export const F16_MAX = 65504;

/** Bytes per element of each {@link SafetensorsDtype}. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, F16: 2, BF16: 2 };

/** True when `dtype` is one openlora reads. */
export function isSafetensorsDtype(dtype: unknown): dtype is SafetensorsDtype {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

/** Typed arrays use platform byte order; safetensors is little-endian. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * The runtime's `Float16Array` (ES2025; Node >= 24), undefined where it is missing (Node 22). Its
 * conversions are the IEEE ones this file's loops compute (round to nearest even, overflow to
 * infinity, NaN kept quiet with its sign), in native code: converting a rank-16 adapter's 4.9 M
 * values took 12 ms against 92 for the loop, and decoding them 11 against 53 (a throwaway script, Node 24).
 */
const NativeFloat16Array = (globalThis as { Float16Array?: new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayLike<number> & { set(values: ArrayLike<number>): void } }).Float16Array;

let f16Table: Float32Array | undefined;

/** All 65536 half values as float32, built on first use. `// [65536] f32` */
export function f16Table32(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  return f16Table;
}

/** IEEE half bits → number. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float32 value → IEEE half bits, round to nearest even; overflow → ±Infinity, NaN kept. */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half of the smallest subnormal: rounds to zero
    const m = mant | 0x800000; // implicit 1
    const shift = 14 - e; // 24-bit significand → 10-bit subnormal field
    const half = 1 << (shift - 1);
    const rem = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r; // a carry into bit 10 correctly yields the smallest normal
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++; // carry may overflow to Infinity: correct
  return sign | r;
}

/** bfloat16 bits → number (exact: bf16 is the top half of an f32). */
export function bf16BitsToF32(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0];
}

/** float32 value → bfloat16 bits, round to nearest even; NaN kept quiet. */
export function f32ToBf16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** Decodes raw little-endian tensor bytes to float32. Returns `// [n] f32`. */
export function bytesToF32(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  return bytesToF32Into(bytes, dtype, new Float32Array(bytes.byteLength / DTYPE_BYTES[dtype]));
}

/** {@link bytesToF32} into `out` (its first n elements: a slot image's region, no copy of its own). Returns `out`. */
export function bytesToF32Into(bytes: Uint8Array, dtype: SafetensorsDtype, out: Float32Array): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  if (out.length < n) throw new RangeError(`${n} ${dtype} values do not fit ${out.length} f32 elements`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const aligned = LITTLE_ENDIAN && bytes.byteOffset % 4 === 0;
  if (dtype === 'F32') {
    if (aligned) out.set(new Float32Array(bytes.buffer, bytes.byteOffset, n));
    else for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (dtype === 'F16') {
    const table = f16Table32();
    if (NativeFloat16Array && LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) out.set(new NativeFloat16Array(bytes.buffer, bytes.byteOffset, n));
    else if (aligned) {
      const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
      for (let i = 0; i < n; i++) out[i] = table[src[i]];
    } else for (let i = 0; i < n; i++) out[i] = table[view.getUint16(i * 2, true)];
  } else {
    for (let i = 0; i < n; i++) out[i] = bf16BitsToF32(view.getUint16(i * 2, true));
  }
  return out;
}

/**
 * Decodes raw little-endian tensor bytes to IEEE half bits (for direct GPU upload).
 * F16 is copied; F32 and BF16 are rounded to nearest even. Returns `// [n] f16 bits`.
 */
export function bytesToF16Bits(bytes: Uint8Array, dtype: SafetensorsDtype): Uint16Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint16Array(n);
  if (dtype === 'F16') {
    if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) out.set(new Uint16Array(bytes.buffer, bytes.byteOffset, n));
    else for (let i = 0; i < n; i++) out[i] = view.getUint16(i * 2, true);
  } else if (dtype === 'F32') {
    if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) f32ArrayToHalfBits(new Float32Array(bytes.buffer, bytes.byteOffset, n), out, 'F16');
    else for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(view.getFloat32(i * 4, true));
  } else {
    for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(bf16BitsToF32(view.getUint16(i * 2, true)));
  }
  return out;
}

/** Encodes float32 values as little-endian bytes of `dtype` (rounding to nearest even). */
export function f32ToBytes(values: ArrayLike<number>, dtype: SafetensorsDtype): Uint8Array {
  const size = DTYPE_BYTES[dtype];
  const bytes = new Uint8Array(values.length * size);
  if (LITTLE_ENDIAN && values instanceof Float32Array) {
    if (dtype === 'F32') bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    else f32ArrayToHalfBits(values, new Uint16Array(bytes.buffer), dtype);
    return bytes;
  }
  const view = new DataView(bytes.buffer);
  if (dtype === 'F32') {
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  } else if (dtype === 'F16') {
    for (let i = 0; i < values.length; i++) view.setUint16(i * 2, f32ToF16Bits(values[i]), true);
  } else {
    for (let i = 0; i < values.length; i++) view.setUint16(i * 2, f32ToBf16Bits(values[i]), true);
  }
  return bytes;
}

/**
 * The values an f16 copy of `values` holds, as f32 (round to nearest even, as
 * {@link f32ArrayToHalfBits} does for an upload), written to `out` (may be `values` itself).
 * Returns `out`. `// [n] f32`
 */
export function f16RoundedValues(values: Float32Array, out: Float32Array = new Float32Array(values.length)): Float32Array {
  const chunk = new Uint16Array(Math.min(values.length, 4096));
  for (let at = 0; at < values.length; at += chunk.length) {
    const n = Math.min(chunk.length, values.length - at);
    const bits = f32ArrayToHalfBits(values.subarray(at, at + n), chunk.subarray(0, n), 'F16');
    bytesToF32Into(new Uint8Array(bits.buffer, 0, 2 * n), 'F16', out.subarray(at, at + n));
  }
  return out;
}

/**
 * Bulk f32 → f16/bf16 bits, round to nearest even (same results as {@link f32ToF16Bits} /
 * {@link f32ToBf16Bits}); the common normal-range f16 case is inlined for speed.
 */
export function f32ArrayToHalfBits(values: Float32Array, out: Uint16Array, dtype: 'F16' | 'BF16'): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  if (dtype === 'BF16') {
    for (let i = 0; i < bits.length; i++) {
      const x = bits[i];
      out[i] = (x & 0x7f800000) === 0x7f800000 && x & 0x7fffff ? ((x >>> 16) | 0x40) & 0xffff : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
    }
    return out;
  }
  if (NativeFloat16Array) {
    new NativeFloat16Array(out.buffer, out.byteOffset, values.length).set(values);
    return out;
  }
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    const exp = (x >>> 23) & 0xff;
    if (exp > 112 && exp < 143) {
      // Normal f16 range: rebias the exponent, round the 13 dropped mantissa bits to nearest even.
      const r = (((exp - 112) << 10) | ((x >>> 13) & 0x3ff)) + ((x & 0x1fff) > 0x1000 || ((x & 0x1fff) === 0x1000 && (x >>> 13) & 1) ? 1 : 0);
      out[i] = ((x >>> 16) & 0x8000) | r;
    } else {
      out[i] = f32ToF16Bits(values[i]);
    }
  }
  return out;
}
