// A weight matrix as the matmul and embedding kernels read it: `loadW(row, c)` gives elements
// 8c .. 8c + 7 of `row` as f32 (two vec4s), whatever the storage format. The kernel declares
// `params` with field `k` (elements per row, padded to 8, or whole blocks) before including this.
//   (default) f32: two vec4<f32> loads;
//   HALF      f16 or bf16 (BF16): 8 halves per vec4<u32> load (see weights.wgsl); HR4: in groups of 4 rows (lavapipe);
//   Q8_0, Q4_0, Q4_K, Q6_K: ggml blocks repacked at upload (src/engine/webgpu/quantLayout.ts),
//             dequantized here with ggml's f32 products (`dequantize_row_*`).
#include "weights.wgsl"

struct W8 {
  a: vec4<f32>,
  b: vec4<f32>,
}

#if QUANT
#if Q4R4
// Q4_0 in groups of 4 rows (quantLayout.ts repackQ4RowGroups): per group and pair of blocks, the
// 4 rows' scale words, then per block of the pair and chunk the 4 rows' nibble words.
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>; // [ceil(rows / 4), pairs, 9] vec4<u32>
#else
@group(0) @binding(2) var<storage, read> w: array<u32>; // [rows, blocks per row, words per block]
#endif

// Eight 4-bit values of p (value i in bits 4i .. 4i + 3) as f32.
fn nibbles(p: u32) -> W8 {
  let s = vec4<u32>(0u, 4u, 8u, 12u);
  return W8(vec4<f32>((vec4<u32>(p) >> s) & vec4<u32>(15u)), vec4<f32>((vec4<u32>(p) >> (s + vec4<u32>(16u))) & vec4<u32>(15u)));
}

// Four signed bytes of p as f32.
fn int8x4(p: u32) -> vec4<f32> {
  return vec4<f32>(vec4<i32>(bitcast<i32>(p << 24u), bitcast<i32>(p << 16u), bitcast<i32>(p << 8u), bitcast<i32>(p)) >> vec4<u32>(24u));
}

#if !Q4R4
// Byte i of the words starting at w[base].
fn byteAt(base: u32, i: u32) -> u32 {
  return (w[base + i / 4u] >> (8u * (i % 4u))) & 255u;
}
#endif
#endif

#if Q8_0
fn loadW(row: u32, c: u32) -> W8 {
  let base = (row * (params.k / 32u) + c / 4u) * 9u;
  let d = unpack2x16float(w[base]).x;
  let q = base + 1u + 2u * (c % 4u);
  return W8(int8x4(w[q]) * d, int8x4(w[q + 1u]) * d);
}
#endif
#if Q4_0
#if Q4R4
// Pairs of blocks per row (an odd last block padded).
fn q4Pairs() -> u32 {
  return (params.k / 32u + 1u) / 2u;
}

// vec4 index of the scale words of row group g, pair of blocks p (the nibble words follow: 1 + 4h + q).
fn q4GroupAt(g: u32, p: u32) -> u32 {
  return (g * q4Pairs() + p) * 9u;
}

fn loadW(row: u32, c: u32) -> W8 {
  let b = c / 4u;
  let base = q4GroupAt(row / 4u, b / 2u);
  let d = unpack2x16float(w[base][row % 4u] >> (16u * (b & 1u))).x;
  let q = nibbles(w[base + 1u + (b & 1u) * 4u + c % 4u][row % 4u]);
  return W8((q.a - 8.0) * d, (q.b - 8.0) * d);
}
#else
fn loadW(row: u32, c: u32) -> W8 {
  let base = (row * (params.k / 32u) + c / 4u) * 5u;
  let d = unpack2x16float(w[base]).x;
  let q = nibbles(w[base + 1u + c % 4u]);
  return W8((q.a - 8.0) * d, (q.b - 8.0) * d);
}
#endif
#endif
#if Q4_K
fn loadW(row: u32, c: u32) -> W8 {
  let base = (row * (params.k / 256u) + c / 32u) * 36u;
  let dm = unpack2x16float(w[base]);
  let j = (c % 32u) / 4u; // sub-block of 32 elements
  // ggml get_scale_min_k4 over the 12 scale bytes
  var sc: u32;
  var m: u32;
  if (j < 4u) {
    sc = byteAt(base + 1u, j) & 63u;
    m = byteAt(base + 1u, j + 4u) & 63u;
  } else {
    sc = (byteAt(base + 1u, j + 4u) & 15u) | ((byteAt(base + 1u, j - 4u) >> 6u) << 4u);
    m = (byteAt(base + 1u, j + 4u) >> 4u) | ((byteAt(base + 1u, j) >> 6u) << 4u);
  }
  let d1 = dm.x * f32(sc);
  let m1 = dm.y * f32(m);
  let q = nibbles(w[base + 4u + c % 32u]);
  return W8(d1 * q.a - m1, d1 * q.b - m1);
}
#endif
#if Q6_K
fn loadW(row: u32, c: u32) -> W8 {
  let base = (row * (params.k / 256u) + c / 32u) * 53u;
  let cc = c % 32u;
  let d = unpack2x16float(w[base]).x;
  let sc = f32(bitcast<i32>(byteAt(base + 1u, cc / 2u) << 24u) >> 24u);
  let lo = nibbles(w[base + 5u + cc]);
  let h = w[base + 37u + cc / 2u] >> (16u * (cc % 2u));
  let s = vec4<u32>(0u, 2u, 4u, 6u);
  let ha = vec4<f32>((vec4<u32>(h) >> s) & vec4<u32>(3u));
  let hb = vec4<f32>((vec4<u32>(h) >> (s + vec4<u32>(8u))) & vec4<u32>(3u));
  let d1 = d * sc;
  return W8(d1 * (lo.a + 16.0 * ha - 32.0), d1 * (lo.b + 16.0 * hb - 32.0));
}
#endif
#if !QUANT
#if HALF
#if HR4
// In groups of 4 rows (weights.ts repackHalfRowGroups): per group and chunk, the 4 rows' chunks.
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>; // [ceil(rows / 4), k / 8, 4] packed f16 / bf16
fn loadW(row: u32, c: u32) -> W8 {
  let p = w[((row / 4u) * (params.k / 8u) + c) * 4u + row % 4u];
#else
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>; // [rows, k / 8] packed f16 / bf16
fn loadW(row: u32, c: u32) -> W8 {
  let p = w[row * (params.k / 8u) + c];
#endif
  return W8(vec4<f32>(unpackHalves(p.x), unpackHalves(p.y)), vec4<f32>(unpackHalves(p.z), unpackHalves(p.w)));
}
#else
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>; // [rows, k / 4] f32
fn loadW(row: u32, c: u32) -> W8 {
  let i = row * (params.k / 4u) + 2u * c;
  return W8(w[i], w[i + 1u]);
}
#endif
#endif
