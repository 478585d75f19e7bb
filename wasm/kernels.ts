// The CPU backend's kernels (AssemblyScript → WebAssembly with 128-bit SIMD; `npm run build:wasm`
// compiles this file to kernels.wasm, checked in; test/engine/cpu/build.test.ts rebuilds and
// compares). Every pointer is a byte offset into the one shared memory the JS side manages
// (src/engine/cpu/memory.ts); activations are f32 rows with a stride in elements; weights are
// PyTorch [out, in] rows in their stored form. Parallel kernels take (tid, nthreads) and do their
// share of a job whose descriptor the main thread wrote (src/engine/cpu/jobs.ts); everything else
// is called on the main thread.
//
// Tricks, each tested against the TypeScript reference (test/engine/cpu/kernels.test.ts):
// - f16 weights are widened with three integer ops per 4 values and no table: the sign-extended
//   half shifted left by 13 is the f32 with the half's exponent and mantissa in place and the sign
//   copied into bits 28..31; masking bits 28..30 leaves the value times 2^-112 (subnormal halves
//   included). Activations are pre-scaled by 2^64 (exact), so products stay normal, and the dot
//   product is scaled back by 2^48 (exact).
// - Q8_0 / Q4_0 weights meet activations quantized to Q8_0 per 32 (llama.cpp's vec_dot_q8_0_q8_0,
//   vec_dot_q4_0_q8_0): integer products of each block (Q8_0: i8 × i8 → i16, pairwise → i32;
//   Q4_0: the relaxed i8 × i7 dot product on the raw nibbles, less 8 · Σx) times the two scales,
//   4 weight rows at a time with their f32 scales side by side (4-row tiles, pack.ts).
// - Tiles of weight rows × activation rows keep accumulators in registers, so a batch of rows
//   reads each weight once per 4 rows.

// ---------------------------------------------------------------------------------------------
// Job descriptors (written by src/engine/cpu/jobs.ts; i32 slots).

/** Matmul task: `y[r, o] (+)= scale · (x[r] · W[o]) (+ bias[o])`, optional soft-cap. */
const T_KIND = 0; //      0 f32, 1 f16, 2 q8_0, 3 q4_0 weights
const T_X = 4; //         x (f32; for f16: pre-scaled by 2^64; for q8_0/q4_0: i8 blocks)
const T_XSTRIDE = 8; //   elements (f32/f16), bytes (q8: in)
const T_W = 12;
const T_Y = 16;
const T_YSTRIDE = 20; //  elements
const T_ROWS = 24;
const T_IN = 28;
const T_OUT = 32;
const T_BIAS = 36; //     0 = none
const T_ACC = 40; //      1 = add into y
const T_SCALE = 44; //    f32
const T_XD = 48; //       q8 activation scales: f32 [rows, in / 32]
const T_CAP = 52; //      f32 soft-cap, 0 = off
export const TASK_BYTES: i32 = 64;

/** Splits `n` items into `parts` ranges rounded to `align`; returns the start of part `i`. */
@inline function split(n: i32, parts: i32, i: i32, align: i32): i32 {
  if (i >= parts) return n;
  const units = (n + align - 1) / align;
  const s = (units * i) / parts * align;
  return s < n ? s : n;
}

// ---------------------------------------------------------------------------------------------
// f16

/**
 * `bits` in each i32 lane, hidden from constant folding. V8 rematerializes a v128 constant at every
 * use (three instructions, one a GPR → XMM move) instead of keeping it in a register, which in a
 * hot loop costs as much as the arithmetic; a value computed at run time stays in a register.
 * `count` is any non-negative count (the kernel's row or feature count), so the result is `bits`.
 */
@inline function held(bits: i32, count: i32): v128 {
  return i32x4.splat(bits ^ ((count >> 31) << 1));
}

/** The mask of the f16 widening (see hlo). */
const HMASK = 0x8fffffff;
/** The mask of the paired f16 widening (see plo). */
const PMASK = 0x8fffe000;
const X_SCALE: f32 = 18446744073709551616.0; // 2^64
const Y_SCALE: f32 = 281474976710656.0; //      2^48 = 2^112 / 2^64

/** Halves 0..3 of `v` as f32 × 2^-112 (`m` = held(HMASK)). */
@inline function hlo(v: v128, m: v128): v128 {
  return v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(v), 13), m);
}
/** Halves 4..7 of `v` as f32 × 2^-112. */
@inline function hhi(v: v128, m: v128): v128 {
  return v128.and(i32x4.shl(i32x4.extend_high_i16x8_s(v), 13), m);
}
/**
 * Tile lines pair halves k+i (low 16 bits of lane i) and k+4+i (high): the low ones moved to the
 * top and shifted right 3 with the sign, or the high ones shifted right 3, sit as above with
 * their sign in bits 28..31 and the other half's bits (or zeros) below bit 13; masking bits 28..30
 * and 0..12 (`m` = held(PMASK)) leaves the value × 2^-112. Halves k..k+3:
 */
@inline function plo(v: v128, m: v128): v128 {
  return v128.and(i32x4.shr_s(i32x4.shl(v, 16), 3), m);
}
/** Halves k+4..k+7 of a paired line. */
@inline function phi(v: v128, m: v128): v128 {
  return v128.and(i32x4.shr_s(v, 3), m);
}
/** One half as f32 × 2^-112. */
@inline function h1(h: u32): f32 {
  return reinterpret<f32>((<u32>(<i32>(<i16>h) << 13)) & 0x8fffffff);
}
/** IEEE half → f32 (exact). */
@inline function half(h: u32): f32 {
  return h1(h) * 5.192296858534828e33; // 2^112
}

/** a · b + c (relaxed SIMD: fused where the CPU has FMA). */
@inline function fma(a: v128, b: v128, c: v128): v128 {
  return f32x4.relaxed_madd(a, b, c);
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** Copies `rows` rows of x scaled by 2^64 into dst (stride `inF`), the f16 kernel's input. */
export function prescale(x: usize, xStride: i32, rows: i32, inF: i32, dst: usize): void {
  const s = f32x4.splat(X_SCALE);
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>(r * xStride) * 4;
    const dr = dst + <usize>(r * inF) * 4;
    let k = 0;
    for (; k + 4 <= inF; k += 4) v128.store(dr + (<usize>k << 2), f32x4.mul(v128.load(xr + (<usize>k << 2)), s));
    for (; k < inF; k++) store<f32>(dr + (<usize>k << 2), load<f32>(xr + (<usize>k << 2)) * X_SCALE);
  }
}

// ---------------------------------------------------------------------------------------------
// Q8 activations

/** x quantized to Q8_0: per row and block, the f32 scale at `d`, the i32 sum of its quants at `d + 4`. */
const XD_BYTES: usize = 8;

/**
 * Quantizes rows of x to Q8_0 per 32: q = round(x / d), d = max|x| / 127 (|q| ≤ 127); `inF` a
 * multiple of 32. Writes the quants to `q` and, per block, d (f32) and the sum of its quants (i32)
 * to `d` (XD_BYTES per block).
 */
export function quantizeRows(x: usize, xStride: i32, rows: i32, inF: i32, q: usize, d: usize): void {
  const blocks = inF >> 5;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>(r * xStride) * 4;
    for (let b = 0; b < blocks; b++) {
      const xb = xr + (<usize>b << 7);
      // max|x| as max(max x, −min x), with relaxed min/max (one instruction each: x is finite).
      let hi = v128.load(xb);
      let lo = hi;
      for (let j = 4; j < 32; j += 4) {
        const v = v128.load(xb + (<usize>j << 2));
        hi = f32x4.relaxed_max(hi, v);
        lo = f32x4.relaxed_min(lo, v);
      }
      const top = max(max(f32x4.extract_lane(hi, 0), f32x4.extract_lane(hi, 1)), max(f32x4.extract_lane(hi, 2), f32x4.extract_lane(hi, 3)));
      const bottom = min(min(f32x4.extract_lane(lo, 0), f32x4.extract_lane(lo, 1)), min(f32x4.extract_lane(lo, 2), f32x4.extract_lane(lo, 3)));
      const amax = max(top, -bottom);
      const dd: f32 = amax / 127;
      const id: f32 = dd != 0 ? 1 / dd : 0;
      const db = d + <usize>(r * blocks + b) * XD_BYTES;
      store<f32>(db, dd);
      let sum = i32x4.splat(0);
      const qb = q + <usize>(r * inF + (b << 5));
      const ids = f32x4.splat(id);
      // |x / d| ≤ 127: the relaxed truncation (one instruction) is exact.
      for (let j = 0; j < 32; j += 16) {
        const a0 = i32x4.relaxed_trunc_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb + (<usize>j << 2)), ids)));
        const a1 = i32x4.relaxed_trunc_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb + (<usize>(j + 4) << 2)), ids)));
        const a2 = i32x4.relaxed_trunc_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb + (<usize>(j + 8) << 2)), ids)));
        const a3 = i32x4.relaxed_trunc_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb + (<usize>(j + 12) << 2)), ids)));
        const qv = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a0, a1), i16x8.narrow_i32x4_s(a2, a3));
        v128.store(qb + <usize>j, qv);
        sum = i32x4.add(sum, i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)));
      }
      store<i32>(db, i32x4.extract_lane(sum, 0) + i32x4.extract_lane(sum, 1) + i32x4.extract_lane(sum, 2) + i32x4.extract_lane(sum, 3), 4);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Matmul

@inline function finish(t: usize, r: i32, o: i32, v: f32): void {
  const y = load<usize>(t, T_Y) + <usize>(r * load<i32>(t, T_YSTRIDE) + o) * 4;
  const bias = load<usize>(t, T_BIAS);
  let s = v * load<f32>(t, T_SCALE);
  if (bias != 0) s += load<f32>(bias + (<usize>o << 2));
  const cap = load<f32>(t, T_CAP);
  if (cap > 0) s = cap * Mathf.tanh(s / cap);
  if (load<i32>(t, T_ACC) != 0) s += load<f32>(y);
  store<f32>(y, s);
}

/** f32 weights: 2 weight rows × up to 4 x rows per tile. */
function mmF32(t: usize, o0: i32, o1: i32): void {
  const x = load<usize>(t, T_X);
  const xs = load<i32>(t, T_XSTRIDE);
  const w = load<usize>(t, T_W);
  const rows = load<i32>(t, T_ROWS);
  const n = load<i32>(t, T_IN);
  const n4 = n & ~3;
  for (let o = o0; o < o1; o++) {
    const wr = w + <usize>(o * n) * 4;
    let r = 0;
    for (; r + 4 <= rows; r += 4) {
      const x0 = x + <usize>(r * xs) * 4;
      const x1 = x0 + <usize>xs * 4;
      const x2 = x1 + <usize>xs * 4;
      const x3 = x2 + <usize>xs * 4;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let k = 0; k < n4; k += 4) {
        const kk = <usize>k << 2;
        const wv = v128.load(wr + kk);
        a0 = fma(wv, v128.load(x0 + kk), a0);
        a1 = fma(wv, v128.load(x1 + kk), a1);
        a2 = fma(wv, v128.load(x2 + kk), a2);
        a3 = fma(wv, v128.load(x3 + kk), a3);
      }
      let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
      for (let k = n4; k < n; k++) {
        const wk = load<f32>(wr + (<usize>k << 2));
        s0 += wk * load<f32>(x0 + (<usize>k << 2));
        s1 += wk * load<f32>(x1 + (<usize>k << 2));
        s2 += wk * load<f32>(x2 + (<usize>k << 2));
        s3 += wk * load<f32>(x3 + (<usize>k << 2));
      }
      finish(t, r, o, s0);
      finish(t, r + 1, o, s1);
      finish(t, r + 2, o, s2);
      finish(t, r + 3, o, s3);
    }
    for (; r < rows; r++) {
      const x0 = x + <usize>(r * xs) * 4;
      let a0 = f32x4.splat(0);
      for (let k = 0; k < n4; k += 4) a0 = fma(v128.load(wr + (<usize>k << 2)), v128.load(x0 + (<usize>k << 2)), a0);
      let s0 = hsum(a0);
      for (let k = n4; k < n; k++) s0 += load<f32>(wr + (<usize>k << 2)) * load<f32>(x0 + (<usize>k << 2));
      finish(t, r, o, s0);
    }
  }
}

/**
 * f16 weights in 4-row tiles (src/engine/cpu/pack.ts): tile i holds rows 4i..4i+3 as 64-byte
 * lines of 8 halves of each row in turn (then each row's last `in % 8` halves), so a tile streams
 * from memory in order; rows past the last whole tile follow as plain rows. One x row: 4 weight
 * rows × 1 x row per tile pass; batches: 2 weight rows × 4 x rows, twice per tile (the tile stays
 * in L1 between the passes). x pre-scaled, stride = in.
 */
function mmF16(t: usize, o0: i32, o1: i32): void {
  const x = load<usize>(t, T_X);
  const w = load<usize>(t, T_W);
  const rows = load<i32>(t, T_ROWS);
  const n = load<i32>(t, T_IN);
  const out = load<i32>(t, T_OUT);
  const n8 = n & ~7;
  const xs = <usize>n * 4;
  const tileBytes = <usize>n * 8;
  const full = out & ~3;
  const tiled = o1 < full ? o1 : full;
  const tails = w + <usize>(full >> 2) * tileBytes;
  const tailK = <usize>(n - n8);
  const hm = held(PMASK, n);
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const x0 = x + <usize>r * xs;
    const x1 = x0 + xs;
    const x2 = x1 + xs;
    const x3 = x2 + xs;
    for (let o = o0; o < tiled; o += 4) {
      const tile = w + <usize>(o >> 2) * tileBytes;
      for (let j = 0; j < 4; j += 2) {
        const w0 = tile + (<usize>j << 4);
        let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
        let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
        for (let k = 0; k < n8; k += 8) {
          const kx = <usize>k << 2;
          const line = w0 + (<usize>k << 3);
          const h0 = v128.load(line);
          const h1v = v128.load(line + 16);
          const l0 = plo(h0, hm), u0 = phi(h0, hm), l1 = plo(h1v, hm), u1 = phi(h1v, hm);
          let xl = v128.load(x0 + kx), xh = v128.load(x0 + kx + 16);
          a00 = fma(l0, xl, fma(u0, xh, a00));
          a10 = fma(l1, xl, fma(u1, xh, a10));
          xl = v128.load(x1 + kx); xh = v128.load(x1 + kx + 16);
          a01 = fma(l0, xl, fma(u0, xh, a01));
          a11 = fma(l1, xl, fma(u1, xh, a11));
          xl = v128.load(x2 + kx); xh = v128.load(x2 + kx + 16);
          a02 = fma(l0, xl, fma(u0, xh, a02));
          a12 = fma(l1, xl, fma(u1, xh, a12));
          xl = v128.load(x3 + kx); xh = v128.load(x3 + kx + 16);
          a03 = fma(l0, xl, fma(u0, xh, a03));
          a13 = fma(l1, xl, fma(u1, xh, a13));
        }
        let s00 = hsum(a00), s01 = hsum(a01), s02 = hsum(a02), s03 = hsum(a03);
        let s10 = hsum(a10), s11 = hsum(a11), s12 = hsum(a12), s13 = hsum(a13);
        const tk0 = tile + (<usize>n8 << 3) + <usize>j * tailK * 2;
        const tk1 = tk0 + tailK * 2;
        for (let k = n8; k < n; k++) {
          const kx = <usize>k << 2;
          const v0 = h1(load<u16>(tk0 + (<usize>(k - n8) << 1)));
          const v1 = h1(load<u16>(tk1 + (<usize>(k - n8) << 1)));
          s00 += v0 * load<f32>(x0 + kx); s01 += v0 * load<f32>(x1 + kx); s02 += v0 * load<f32>(x2 + kx); s03 += v0 * load<f32>(x3 + kx);
          s10 += v1 * load<f32>(x0 + kx); s11 += v1 * load<f32>(x1 + kx); s12 += v1 * load<f32>(x2 + kx); s13 += v1 * load<f32>(x3 + kx);
        }
        const oj = o + j;
        finish(t, r, oj, s00 * Y_SCALE); finish(t, r + 1, oj, s01 * Y_SCALE); finish(t, r + 2, oj, s02 * Y_SCALE); finish(t, r + 3, oj, s03 * Y_SCALE);
        finish(t, r, oj + 1, s10 * Y_SCALE); finish(t, r + 1, oj + 1, s11 * Y_SCALE); finish(t, r + 2, oj + 1, s12 * Y_SCALE); finish(t, r + 3, oj + 1, s13 * Y_SCALE);
      }
    }
  }
  for (; r < rows; r++) {
    const xr = x + <usize>r * xs;
    for (let o = o0; o < tiled; o += 4) {
      const tile = w + <usize>(o >> 2) * tileBytes;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let k = 0; k < n8; k += 8) {
        const line = tile + (<usize>k << 3);
        const xl = v128.load(xr + (<usize>k << 2));
        const xh = v128.load(xr + (<usize>k << 2) + 16);
        const h0 = v128.load(line), h1v = v128.load(line + 16), h2 = v128.load(line + 32), h3 = v128.load(line + 48);
        a0 = fma(plo(h0, hm), xl, fma(phi(h0, hm), xh, a0));
        a1 = fma(plo(h1v, hm), xl, fma(phi(h1v, hm), xh, a1));
        a2 = fma(plo(h2, hm), xl, fma(phi(h2, hm), xh, a2));
        a3 = fma(plo(h3, hm), xl, fma(phi(h3, hm), xh, a3));
      }
      let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
      const tk = tile + (<usize>n8 << 3);
      for (let k = n8; k < n; k++) {
        const xk = load<f32>(xr + (<usize>k << 2));
        const kk = <usize>(k - n8) << 1;
        s0 += h1(load<u16>(tk + kk)) * xk;
        s1 += h1(load<u16>(tk + tailK * 2 + kk)) * xk;
        s2 += h1(load<u16>(tk + tailK * 4 + kk)) * xk;
        s3 += h1(load<u16>(tk + tailK * 6 + kk)) * xk;
      }
      finish(t, r, o, s0 * Y_SCALE); finish(t, r, o + 1, s1 * Y_SCALE); finish(t, r, o + 2, s2 * Y_SCALE); finish(t, r, o + 3, s3 * Y_SCALE);
    }
  }
  for (let o = o0 > full ? o0 : full; o < o1; o++) mmF16Row(t, x, xs, rows, tails + <usize>(o - full) * <usize>n * 2, n, 0, o);
}

/** One f16 weight row against `count` consecutive x rows (tails). */
function mmF16Row(t: usize, x: usize, xs: usize, count: i32, wr: usize, n: i32, r: i32, o: i32): void {
  const n8 = n & ~7;
  const hm = held(HMASK, n);
  for (let i = 0; i < count; i++) {
    const xr = x + <usize>i * xs;
    let a = f32x4.splat(0);
    for (let k = 0; k < n8; k += 8) {
      const h = v128.load(wr + (<usize>k << 1));
      a = f32x4.add(a, f32x4.add(f32x4.mul(hlo(h, hm), v128.load(xr + (<usize>k << 2))), f32x4.mul(hhi(h, hm), v128.load(xr + (<usize>k << 2) + 16))));
    }
    let s = hsum(a);
    for (let k = n8; k < n; k++) s += h1(load<u16>(wr + (<usize>k << 1))) * load<f32>(xr + (<usize>k << 2));
    finish(t, r + i, o, s * Y_SCALE);
  }
}

// Q8_0 / Q4_0 weights in 4-row tiles (src/engine/cpu/pack.ts): per block, the 4 rows' f32 scales,
// then vectors each holding 4 consecutive quants of each of the 4 rows in turn (row j in bytes
// 4j..4j+3). One x chunk of 4 quants, broadcast to the 4 lanes, meets such a vector in one
// i8 × i7 dot product (pmaddubsw) whose i16 lanes 2j, 2j+1 belong to row j; a block's dot products
// add up in i16 (no overflow: see each kernel), and one pairwise widening leaves lane j = row j's
// integer dot product: no cross-lane reduction. The weights are unpacked once per tile block and
// dotted with several x rows (register blocking), so their unpacking is paid once per rows group.

/** Pairwise i8 × i7 products: lane i = x[2i] · w[2i] + x[2i+1] · w[2i+1] (w in 0..15 here: exact). */
@inline function dot16(x: v128, w: v128): v128 {
  return i16x8.relaxed_dot_i8x16_i7x16_s(x, w);
}

/** A row's Q4 step: the x chunks at `xc` (quants 4v..4v+3) and `xc + 16` (16+4v..) against `lo`, `hi`. */
@inline function q4step(a: v128, xc: usize, lo: v128, hi: v128): v128 {
  return i16x8.add(a, i16x8.add(dot16(v128.load32_splat(xc), lo), dot16(v128.load32_splat(xc + 16), hi)));
}

/**
 * A row's block total: integer dot products `s` (i32, lane = weight row) less `off` · Σx (the x
 * block's quant sum at `dp + 4`), times the row scales `ds` × the x scale (at `dp`), added to `f`.
 */
@inline function blockEnd(f: v128, s: v128, dp: usize, ds: v128, shift: i32): v128 {
  const si = i32x4.sub(s, i32x4.splat(load<i32>(dp, 4) << shift));
  return fma(f32x4.convert_i32x4_s(si), f32x4.mul(ds, v128.load32_splat(dp)), f);
}

/**
 * Writes outputs o..o+3 of row r (the lanes of `acc`) that are below `o1`: as one vector when all
 * four are and there is no soft-cap (the same operations as `finish`, lane by lane), else each.
 */
@inline function finish4(t: usize, r: i32, o: i32, o1: i32, acc: v128): void {
  if (o + 4 > o1 || load<f32>(t, T_CAP) > 0) {
    finish(t, r, o, f32x4.extract_lane(acc, 0));
    if (o + 1 < o1) finish(t, r, o + 1, f32x4.extract_lane(acc, 1));
    if (o + 2 < o1) finish(t, r, o + 2, f32x4.extract_lane(acc, 2));
    if (o + 3 < o1) finish(t, r, o + 3, f32x4.extract_lane(acc, 3));
    return;
  }
  const y = load<usize>(t, T_Y) + <usize>(r * load<i32>(t, T_YSTRIDE) + o) * 4;
  const bias = load<usize>(t, T_BIAS);
  let s = f32x4.mul(acc, v128.load32_splat(t, T_SCALE));
  if (bias != 0) s = f32x4.add(s, v128.load(bias + (<usize>o << 2)));
  if (load<i32>(t, T_ACC) != 0) s = f32x4.add(s, v128.load(y));
  v128.store(y, s);
}

/**
 * x rows a Q8_0 / Q4_0 matmul takes at a time through all its tiles: their quants stay in L1/L2
 * and each row's outputs are written in order (a multiple of the 4- and 3-row groups).
 */
const Q_CHUNK = 24;

/**
 * Q8_0 (`q8`) or Q4_0 weights in 4-row tiles against Q8_0 x: this share's tiles (outputs o0..o1,
 * `o0` a multiple of 4), each against a chunk of x rows in groups (Q4_0: 4, Q8_0: 3 rows, then
 * single rows), chunk after chunk. Lanes past `o1` (the last tile's zero rows) are not written.
 */
function mmQ(t: usize, o0: i32, o1: i32, q8: bool): void {
  const xq = load<usize>(t, T_X);
  const xd = load<usize>(t, T_XD);
  const w = load<usize>(t, T_W);
  const rows = load<i32>(t, T_ROWS);
  const n = load<i32>(t, T_IN);
  const tileBytes = <usize>(n >> 5) * (q8 ? 144 : 80);
  const xdRow = <usize>(n >> 5) * XD_BYTES;
  for (let rc = 0; rc < rows; rc += Q_CHUNK) {
    const re = rc + Q_CHUNK < rows ? rc + Q_CHUNK : rows;
    for (let o = o0; o < o1; o += 4) {
      const tile = w + <usize>(o >> 2) * tileBytes;
      let r = rc;
      if (q8) for (; r + 3 <= re; r += 3) q8Rows3(t, tile, xq + <usize>(r * n), xd + <usize>r * xdRow, n, xdRow, r, o, o1);
      else for (; r + 4 <= re; r += 4) q4Rows4(t, tile, xq + <usize>(r * n), xd + <usize>r * xdRow, n, xdRow, r, o, o1);
      for (; r < re; r++) {
        if (q8) q8Rows1(t, tile, xq + <usize>(r * n), xd + <usize>r * xdRow, n, r, o, o1);
        else q4Rows1(t, tile, xq + <usize>(r * n), xd + <usize>r * xdRow, n, r, o, o1);
      }
    }
  }
}

/**
 * Q4_0: one tile × 4 x rows (from `x0`, stride n bytes; their scales and sums from `d0`, stride
 * `xdRow`). Tile blocks: 4 vectors, byte 4j+i of vector v = row j's stored byte 4v+i (quant 4v+i
 * low nibble, 16+4v+i high), each unpacked once for the 4 rows. Per block and row, 8 dot products
 * of ≤ 2 · 127 · 15 add up in i16 (≤ 30480); the offset of 8 is −8 · Σx. Registers: 4 i16 and 4
 * f32 accumulators, 2 held masks, the vector and its two halves, one x chunk: 14 of 16.
 */
function q4Rows4(t: usize, tile: usize, x0: usize, d0: usize, n: i32, xdRow: usize, r: i32, o: i32, o1: i32): void {
  const blocks = n >> 5;
  const nib = held(0x0f0f0f0f, n);
  const ones = held(0x00010001, n);
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  for (let b = 0; b < blocks; b++) {
    const g = tile + <usize>b * 80;
    const x0b = x0 + (<usize>b << 5);
    const x1 = x0b + <usize>n;
    const x2 = x1 + <usize>n;
    const x3 = x2 + <usize>n;
    // The block's 4 weight vectors in turn (unrolled: constant offsets).
    let raw = v128.load(g, 16);
    let lo = v128.and(raw, nib);
    let hi = v128.and(i16x8.shr_u(raw, 4), nib);
    let a0 = i16x8.add(dot16(v128.load32_splat(x0b, 0), lo), dot16(v128.load32_splat(x0b, 16), hi));
    let a1 = i16x8.add(dot16(v128.load32_splat(x1, 0), lo), dot16(v128.load32_splat(x1, 16), hi));
    let a2 = i16x8.add(dot16(v128.load32_splat(x2, 0), lo), dot16(v128.load32_splat(x2, 16), hi));
    let a3 = i16x8.add(dot16(v128.load32_splat(x3, 0), lo), dot16(v128.load32_splat(x3, 16), hi));
    raw = v128.load(g, 32);
    lo = v128.and(raw, nib);
    hi = v128.and(i16x8.shr_u(raw, 4), nib);
    a0 = i16x8.add(a0, i16x8.add(dot16(v128.load32_splat(x0b, 4), lo), dot16(v128.load32_splat(x0b, 20), hi)));
    a1 = i16x8.add(a1, i16x8.add(dot16(v128.load32_splat(x1, 4), lo), dot16(v128.load32_splat(x1, 20), hi)));
    a2 = i16x8.add(a2, i16x8.add(dot16(v128.load32_splat(x2, 4), lo), dot16(v128.load32_splat(x2, 20), hi)));
    a3 = i16x8.add(a3, i16x8.add(dot16(v128.load32_splat(x3, 4), lo), dot16(v128.load32_splat(x3, 20), hi)));
    raw = v128.load(g, 48);
    lo = v128.and(raw, nib);
    hi = v128.and(i16x8.shr_u(raw, 4), nib);
    a0 = i16x8.add(a0, i16x8.add(dot16(v128.load32_splat(x0b, 8), lo), dot16(v128.load32_splat(x0b, 24), hi)));
    a1 = i16x8.add(a1, i16x8.add(dot16(v128.load32_splat(x1, 8), lo), dot16(v128.load32_splat(x1, 24), hi)));
    a2 = i16x8.add(a2, i16x8.add(dot16(v128.load32_splat(x2, 8), lo), dot16(v128.load32_splat(x2, 24), hi)));
    a3 = i16x8.add(a3, i16x8.add(dot16(v128.load32_splat(x3, 8), lo), dot16(v128.load32_splat(x3, 24), hi)));
    raw = v128.load(g, 64);
    lo = v128.and(raw, nib);
    hi = v128.and(i16x8.shr_u(raw, 4), nib);
    a0 = i16x8.add(a0, i16x8.add(dot16(v128.load32_splat(x0b, 12), lo), dot16(v128.load32_splat(x0b, 28), hi)));
    a1 = i16x8.add(a1, i16x8.add(dot16(v128.load32_splat(x1, 12), lo), dot16(v128.load32_splat(x1, 28), hi)));
    a2 = i16x8.add(a2, i16x8.add(dot16(v128.load32_splat(x2, 12), lo), dot16(v128.load32_splat(x2, 28), hi)));
    a3 = i16x8.add(a3, i16x8.add(dot16(v128.load32_splat(x3, 12), lo), dot16(v128.load32_splat(x3, 28), hi)));
    const ds = v128.load(g);
    const dp = d0 + <usize>b * XD_BYTES;
    f0 = blockEnd(f0, i32x4.dot_i16x8_s(a0, ones), dp, ds, 3);
    f1 = blockEnd(f1, i32x4.dot_i16x8_s(a1, ones), dp + xdRow, ds, 3);
    f2 = blockEnd(f2, i32x4.dot_i16x8_s(a2, ones), dp + xdRow * 2, ds, 3);
    f3 = blockEnd(f3, i32x4.dot_i16x8_s(a3, ones), dp + xdRow * 3, ds, 3);
  }
  finish4(t, r, o, o1, f0);
  finish4(t, r + 1, o, o1, f1);
  finish4(t, r + 2, o, o1, f2);
  finish4(t, r + 3, o, o1, f3);
}

/** Q4_0: one tile × one x row (see q4Rows4). */
function q4Rows1(t: usize, tile: usize, x0: usize, d0: usize, n: i32, r: i32, o: i32, o1: i32): void {
  const blocks = n >> 5;
  const nib = held(0x0f0f0f0f, n);
  const ones = held(0x00010001, n);
  let f0 = f32x4.splat(0);
  for (let b = 0; b < blocks; b++) {
    const g = tile + <usize>b * 80;
    const xb = x0 + (<usize>b << 5);
    let a0 = i16x8.splat(0);
    for (let v: usize = 0; v < 16; v += 4) {
      const raw = v128.load(g + 16 + (v << 2));
      a0 = q4step(a0, xb + v, v128.and(raw, nib), v128.and(i16x8.shr_u(raw, 4), nib));
    }
    f0 = blockEnd(f0, i32x4.dot_i16x8_s(a0, ones), d0 + <usize>b * XD_BYTES, v128.load(g), 3);
  }
  finish4(t, r, o, o1, f0);
}

/** A row's Q8 step: the x chunk `x` against the low or high nibbles of 4 weight quants. */
@inline function q8step(a: v128, x: v128, nibbles: v128): v128 {
  return i16x8.add(a, dot16(x, nibbles));
}

/** `16 · hi + lo` of i16 dot products, widened pairwise to i32 (lane = weight row; `sixteen`, `ones` held i16 lanes). */
@inline function q8sum(hi: v128, lo: v128, sixteen: v128, ones: v128): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(hi, sixteen), i32x4.dot_i16x8_s(lo, ones));
}

/**
 * Q8_0: one tile × 3 x rows (as q4Rows4). Tile blocks: 8 vectors, byte 4j+i of vector v = row j's
 * quant 4v+i stored as q + 128 (q ^ 0x80), split into nibbles, q = 16 · hi + lo − 128: two i7 dot
 * products per x chunk, each summing in i16 over the block (≤ 8 · 2 · 127 · 15 = 30480); the
 * offset is −128 · Σx. Registers: 6 i16 and 3 f32 accumulators, the mask, the vector's halves and
 * one x chunk: 12 of 16 (the block-end constants come from memory).
 */
function q8Rows3(t: usize, tile: usize, x0: usize, d0: usize, n: i32, xdRow: usize, r: i32, o: i32, o1: i32): void {
  const blocks = n >> 5;
  const nib = held(0x0f0f0f0f, n);
  const ones = held(0x00010001, n);
  const sixteen = held(0x00100010, n);
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0);
  for (let b = 0; b < blocks; b++) {
    const g = tile + <usize>b * 144;
    const x0b = x0 + (<usize>b << 5);
    const x1 = x0b + <usize>n;
    const x2 = x1 + <usize>n;
    let l0 = i16x8.splat(0), h0 = i16x8.splat(0), l1 = i16x8.splat(0), h1 = i16x8.splat(0), l2 = i16x8.splat(0), h2 = i16x8.splat(0);
    for (let v: usize = 0; v < 32; v += 4) {
      const raw = v128.load(g + 16 + (v << 2));
      const lo = v128.and(raw, nib);
      const hi = v128.and(i16x8.shr_u(raw, 4), nib);
      let c = v128.load32_splat(x0b + v);
      l0 = q8step(l0, c, lo);
      h0 = q8step(h0, c, hi);
      c = v128.load32_splat(x1 + v);
      l1 = q8step(l1, c, lo);
      h1 = q8step(h1, c, hi);
      c = v128.load32_splat(x2 + v);
      l2 = q8step(l2, c, lo);
      h2 = q8step(h2, c, hi);
    }
    const ds = v128.load(g);
    const dp = d0 + <usize>b * XD_BYTES;
    f0 = blockEnd(f0, q8sum(h0, l0, sixteen, ones), dp, ds, 7);
    f1 = blockEnd(f1, q8sum(h1, l1, sixteen, ones), dp + xdRow, ds, 7);
    f2 = blockEnd(f2, q8sum(h2, l2, sixteen, ones), dp + xdRow * 2, ds, 7);
  }
  finish4(t, r, o, o1, f0);
  finish4(t, r + 1, o, o1, f1);
  finish4(t, r + 2, o, o1, f2);
}

/** Q8_0: one tile × one x row (see q8Rows3). */
function q8Rows1(t: usize, tile: usize, x0: usize, d0: usize, n: i32, r: i32, o: i32, o1: i32): void {
  const blocks = n >> 5;
  const nib = held(0x0f0f0f0f, n);
  const ones = held(0x00010001, n);
  const sixteen = held(0x00100010, n);
  let f0 = f32x4.splat(0);
  for (let b = 0; b < blocks; b++) {
    const g = tile + <usize>b * 144;
    const xb = x0 + (<usize>b << 5);
    let l0 = i16x8.splat(0), h0 = i16x8.splat(0);
    for (let v: usize = 0; v < 32; v += 4) {
      const raw = v128.load(g + 16 + (v << 2));
      const c = v128.load32_splat(xb + v);
      l0 = q8step(l0, c, v128.and(raw, nib));
      h0 = q8step(h0, c, v128.and(i16x8.shr_u(raw, 4), nib));
    }
    f0 = blockEnd(f0, q8sum(h0, l0, sixteen, ones), d0 + <usize>b * XD_BYTES, v128.load(g), 7);
  }
  finish4(t, r, o, o1, f0);
}

/**
 * This thread's share of the matmul job at `job` (`[count, tasks...]`): each task's outputs are
 * split evenly (in multiples of 4) across the threads.
 */
export function matmulJob(job: usize, tid: i32, nthreads: i32): void {
  const count = load<i32>(job);
  for (let i = 0; i < count; i++) {
    const t = job + 16 + <usize>i * TASK_BYTES;
    const out = load<i32>(t, T_OUT);
    const o0 = split(out, nthreads, tid, 4);
    const o1 = split(out, nthreads, tid + 1, 4);
    if (o0 >= o1) continue;
    const kind = load<i32>(t, T_KIND);
    if (kind == 0) mmF32(t, o0, o1);
    else if (kind == 1) mmF16(t, o0, o1);
    else mmQ(t, o0, o1, kind == 2);
  }
}

// ---------------------------------------------------------------------------------------------
// Attention over the paged KV cache

/** Attention job descriptor (i32 slots; f32 where noted). */
const A_Q = 0; //          rotated queries [rows, heads · headDim]
const A_OUT = 4; //        out base pointer
const A_OSTRIDE = 8; //    elements
const A_CACHE = 12; //     KV pool base
const A_ROWS = 16;
const A_HEADS = 20;
const A_KVHEADS = 24;
const A_HEADDIM = 28;
const A_LAYER = 32;
const A_BLOCK_FLOATS = 36; // f32 from one KV block to the next (>= layers · 2 · 16 · kvHeads · headDim: a page of unified memory)
const A_POS = 40; //       i32 [rows]
const A_BT = 44; //        i32 [rows] offset of the row's block table in A_TABLES
const A_TABLES = 48; //    i32 flattened block tables
const A_WINDOW = 52;
const A_SCALE = 56; //     f32
const A_CAP = 60; //       f32
const A_SCRATCH = 64; //   per-thread scratch base (f32)
const A_SCRATCH_BYTES = 68;

/**
 * Causal grouped-query attention of each (row, head) over its sequence's cached positions in the
 * window: scores, max-subtracted softmax, weighted sum of values. This thread takes a contiguous
 * share of the rows × heads pairs.
 */
export function attentionJob(job: usize, tid: i32, nthreads: i32): void {
  const rows = load<i32>(job, A_ROWS);
  const heads = load<i32>(job, A_HEADS);
  const kvHeads = load<i32>(job, A_KVHEADS);
  const hd = load<i32>(job, A_HEADDIM);
  const layer = load<i32>(job, A_LAYER);
  const window = load<i32>(job, A_WINDOW);
  const scale = load<f32>(job, A_SCALE);
  const cap = load<f32>(job, A_CAP);
  const group = heads / kvHeads;
  const rowFloats = kvHeads * hd;
  const blockFloats = <usize>load<i32>(job, A_BLOCK_FLOATS);
  const cache = load<usize>(job, A_CACHE);
  const scores = load<usize>(job, A_SCRATCH) + <usize>tid * <usize>load<i32>(job, A_SCRATCH_BYTES);
  const total = rows * heads;
  const p0 = split(total, nthreads, tid, 1);
  const p1 = split(total, nthreads, tid + 1, 1);
  const hd4 = hd & ~3;
  for (let p = p0; p < p1; p++) {
    const r = p / heads;
    const h = p - r * heads;
    const pos = load<i32>(load<usize>(job, A_POS) + (<usize>r << 2));
    const bt = load<usize>(job, A_TABLES) + (<usize>load<i32>(load<usize>(job, A_BT) + (<usize>r << 2)) << 2);
    const first = window > 0 && pos + 1 - window > 0 ? pos + 1 - window : 0;
    const q = load<usize>(job, A_Q) + <usize>((r * heads + h) * hd) * 4;
    const kvh = <usize>((h / group) * hd) * 4;
    let m: f32 = -Infinity;
    for (let tpos = first; tpos <= pos; tpos++) {
      const blk = <usize>load<i32>(bt + (<usize>(tpos >> 4) << 2));
      const k = cache + (blk * blockFloats + <usize>((layer * 2) * 16 + (tpos & 15)) * <usize>rowFloats) * 4 + kvh;
      let a = f32x4.splat(0);
      for (let i = 0; i < hd4; i += 4) a = fma(v128.load(q + (<usize>i << 2)), v128.load(k + (<usize>i << 2)), a);
      let s = hsum(a);
      for (let i = hd4; i < hd; i++) s += load<f32>(q + (<usize>i << 2)) * load<f32>(k + (<usize>i << 2));
      s *= scale;
      if (cap > 0) s = cap * Mathf.tanh(s / cap);
      store<f32>(scores + (<usize>(tpos - first) << 2), s);
      if (s > m) m = s;
    }
    let sum: f32 = 0;
    for (let tpos = first; tpos <= pos; tpos++) {
      const e = Mathf.exp(load<f32>(scores + (<usize>(tpos - first) << 2)) - m);
      store<f32>(scores + (<usize>(tpos - first) << 2), e);
      sum += e;
    }
    const inv: f32 = 1 / sum;
    const out = load<usize>(job, A_OUT) + <usize>(r * load<i32>(job, A_OSTRIDE) + h * hd) * 4;
    // Weighted sum of values, 32 dimensions at a time in registers across the positions (the
    // same operations in the same order as one dimension at a time); the rest through `out`.
    const vBase = cache + <usize>((layer * 2 + 1) * 16) * <usize>rowFloats * 4 + kvh;
    const hd32 = hd4 & ~31;
    for (let c = 0; c < hd32; c += 32) {
      let o0 = f32x4.splat(0), o1 = f32x4.splat(0), o2 = f32x4.splat(0), o3 = f32x4.splat(0);
      let o4 = f32x4.splat(0), o5 = f32x4.splat(0), o6 = f32x4.splat(0), o7 = f32x4.splat(0);
      for (let tpos = first; tpos <= pos; tpos++) {
        const blk = <usize>load<i32>(bt + (<usize>(tpos >> 4) << 2));
        const v = vBase + (blk * blockFloats + <usize>(tpos & 15) * <usize>rowFloats) * 4 + (<usize>c << 2);
        const wv = f32x4.splat(load<f32>(scores + (<usize>(tpos - first) << 2)) * inv);
        o0 = f32x4.add(o0, f32x4.mul(wv, v128.load(v)));
        o1 = f32x4.add(o1, f32x4.mul(wv, v128.load(v, 16)));
        o2 = f32x4.add(o2, f32x4.mul(wv, v128.load(v, 32)));
        o3 = f32x4.add(o3, f32x4.mul(wv, v128.load(v, 48)));
        o4 = f32x4.add(o4, f32x4.mul(wv, v128.load(v, 64)));
        o5 = f32x4.add(o5, f32x4.mul(wv, v128.load(v, 80)));
        o6 = f32x4.add(o6, f32x4.mul(wv, v128.load(v, 96)));
        o7 = f32x4.add(o7, f32x4.mul(wv, v128.load(v, 112)));
      }
      const oc = out + (<usize>c << 2);
      v128.store(oc, o0);
      v128.store(oc, o1, 16);
      v128.store(oc, o2, 32);
      v128.store(oc, o3, 48);
      v128.store(oc, o4, 64);
      v128.store(oc, o5, 80);
      v128.store(oc, o6, 96);
      v128.store(oc, o7, 112);
    }
    for (let i = hd32; i < hd; i++) store<f32>(out + (<usize>i << 2), 0);
    if (hd32 < hd) {
      for (let tpos = first; tpos <= pos; tpos++) {
        const blk = <usize>load<i32>(bt + (<usize>(tpos >> 4) << 2));
        const v = vBase + (blk * blockFloats + <usize>(tpos & 15) * <usize>rowFloats) * 4;
        const wgt = load<f32>(scores + (<usize>(tpos - first) << 2)) * inv;
        const wv = f32x4.splat(wgt);
        for (let i = hd32; i < hd4; i += 4) v128.store(out + (<usize>i << 2), f32x4.add(v128.load(out + (<usize>i << 2)), f32x4.mul(wv, v128.load(v + (<usize>i << 2)))));
        for (let i = hd4; i < hd; i++) store<f32>(out + (<usize>i << 2), load<f32>(out + (<usize>i << 2)) + wgt * load<f32>(v + (<usize>i << 2)));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Row ops (main thread)

/** RMSNorm per row: `y (+)= x / sqrt(mean(x²) + eps) · (offset + w)`; y may alias x. */
export function rmsnorm(x: usize, xs: i32, w: usize, y: usize, ys: i32, rows: i32, n: i32, eps: f32, offset: f32, add: i32): void {
  const n4 = n & ~3;
  const off = f32x4.splat(offset);
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>(r * xs) * 4;
    const yr = y + <usize>(r * ys) * 4;
    let a = f32x4.splat(0);
    for (let i = 0; i < n4; i += 4) {
      const v = v128.load(xr + (<usize>i << 2));
      a = f32x4.add(a, f32x4.mul(v, v));
    }
    let ss = hsum(a);
    for (let i = n4; i < n; i++) ss += load<f32>(xr + (<usize>i << 2)) * load<f32>(xr + (<usize>i << 2));
    const inv = f32x4.splat(<f32>(1 / Math.sqrt(<f64>ss / n + eps)));
    for (let i = 0; i < n4; i += 4) {
      let v = f32x4.mul(f32x4.mul(v128.load(xr + (<usize>i << 2)), inv), f32x4.add(off, v128.load(w + (<usize>i << 2))));
      if (add) v = f32x4.add(v, v128.load(yr + (<usize>i << 2)));
      v128.store(yr + (<usize>i << 2), v);
    }
    const sinv = f32x4.extract_lane(inv, 0);
    for (let i = n4; i < n; i++) {
      let v = load<f32>(xr + (<usize>i << 2)) * sinv * (offset + load<f32>(w + (<usize>i << 2)));
      if (add) v += load<f32>(yr + (<usize>i << 2));
      store<f32>(yr + (<usize>i << 2), v);
    }
  }
}

/**
 * RoPE ("rotate half" over the first 2·half elements of each head) from `x` into `y` (y may alias
 * x), with per-row (cos, sin) pairs `cs` `[rows, half, 2]`.
 */
export function rope(x: usize, xs: i32, y: usize, ys: i32, rows: i32, heads: i32, hd: i32, half: i32, cs: usize): void {
  for (let r = 0; r < rows; r++) {
    const c = cs + <usize>(r * half * 2) * 4;
    for (let h = 0; h < heads; h++) {
      const xo = x + <usize>(r * xs + h * hd) * 4;
      const yo = y + <usize>(r * ys + h * hd) * 4;
      for (let i = 0; i < half; i++) {
        const co = load<f32>(c + (<usize>(2 * i) << 2));
        const si = load<f32>(c + (<usize>(2 * i + 1) << 2));
        const x1 = load<f32>(xo + (<usize>i << 2));
        const x2 = load<f32>(xo + (<usize>(i + half) << 2));
        store<f32>(yo + (<usize>i << 2), x1 * co - x2 * si);
        store<f32>(yo + (<usize>(i + half) << 2), x2 * co + x1 * si);
      }
      if (xo != yo) for (let i = 2 * half; i < hd; i++) store<f32>(yo + (<usize>i << 2), load<f32>(xo + (<usize>i << 2)));
    }
  }
}

/**
 * Copies rows of `rowFloats` f32 into the paged KV pool at each row's position (keys after RoPE:
 * pass the rotated rows); blocks lie `blockFloats` apart.
 */
export function kvStore(src: usize, ss: i32, cache: usize, blockFloats: usize, layer: i32, kv: i32, rowFloats: i32, rows: i32, pos: usize, btOff: usize, tables: usize): void {
  for (let r = 0; r < rows; r++) {
    const p = load<i32>(pos + (<usize>r << 2));
    const bt = tables + (<usize>load<i32>(btOff + (<usize>r << 2)) << 2);
    const blk = <usize>load<i32>(bt + (<usize>(p >> 4) << 2));
    const dst = cache + (blk * blockFloats + <usize>((layer * 2 + kv) * 16 + (p & 15)) * <usize>rowFloats) * 4;
    memory.copy(dst, src + <usize>(r * ss) * 4, <usize>rowFloats * 4);
  }
}

/** `gate = act(gate) · up` per row; act 0 SiLU, 1 tanh GELU. */
export function glu(g: usize, gs: i32, u: usize, us: i32, rows: i32, n: i32, act: i32): void {
  for (let r = 0; r < rows; r++) {
    const gr = g + <usize>(r * gs) * 4;
    const ur = u + <usize>(r * us) * 4;
    for (let i = 0; i < n; i++) {
      const x = load<f32>(gr + (<usize>i << 2));
      let a: f32;
      if (act == 0) a = x / (1 + Mathf.exp(-x));
      else a = 0.5 * x * (1 + Mathf.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
      store<f32>(gr + (<usize>i << 2), a * load<f32>(ur + (<usize>i << 2)));
    }
  }
}

/** Embedding row gather × scale; kind 0 f32, 1 f16 (4-row tiles), 2 q8_0, 3 q4_0 tables. */
export function embed(table: usize, kind: i32, cols: i32, vocab: i32, tokens: usize, rows: i32, y: usize, ys: i32, scale: f32): void {
  for (let r = 0; r < rows; r++) {
    const tok = <usize>load<i32>(tokens + (<usize>r << 2));
    const yr = y + <usize>(r * ys) * 4;
    if (kind == 0) {
      for (let i = 0; i < cols; i++) store<f32>(yr + (<usize>i << 2), load<f32>(table + (tok * <usize>cols + <usize>i) * 4) * scale);
    } else if (kind == 1) {
      // f16 tables are in 4-row tiles (see mmF16); `vocab` rows in all.
      const n8 = <usize>(cols & ~7);
      const tileBytes = <usize>cols * 8;
      const full = <usize>(vocab & ~3);
      const j = tok & 3;
      const tile = table + (tok >> 2) * tileBytes;
      for (let i = 0; i < cols; i++) {
        const iu = <usize>i;
        let at: usize;
        if (tok >= full) at = table + (full >> 2) * tileBytes + ((tok - full) * <usize>cols + iu) * 2;
        else if (iu < n8) at = tile + ((iu >> 3) * 4 + j) * 16 + ((iu & 3) * 2 + ((iu >> 2) & 1)) * 2;
        else at = tile + n8 * 8 + (j * (<usize>cols - n8) + iu - n8) * 2;
        store<f32>(yr + (<usize>i << 2), half(load<u16>(at)) * scale);
      }
    } else {
      // Q8_0 / Q4_0 tables are in 4-row tiles (see q4Rows4, q8Rows3): quant i of row j in vector i / 4
      // (Q4_0: (i % 16) / 4, the high nibble for i ≥ 16), byte 4j + i % 4.
      const q8 = kind == 2;
      const group: usize = q8 ? 144 : 80;
      const tile = table + (tok >> 2) * <usize>(cols >> 5) * group;
      const j = tok & 3;
      for (let b = 0; b < cols >> 5; b++) {
        const g = tile + <usize>b * group;
        const d = load<f32>(g + (j << 2));
        for (let i = 0; i < 32; i++) {
          let q: i32;
          if (q8) q = <i32>(<i8>(load<u8>(g + 16 + (<usize>(i >> 2) << 4) + (j << 2) + <usize>(i & 3)) ^ 0x80));
          else {
            const byte = <i32>load<u8>(g + 16 + (<usize>((i & 15) >> 2) << 4) + (j << 2) + <usize>(i & 3));
            q = (i < 16 ? byte & 15 : byte >> 4) - 8;
          }
          store<f32>(yr + (<usize>((b << 5) + i) << 2), <f32>q * d * scale);
        }
      }
    }
  }
}
