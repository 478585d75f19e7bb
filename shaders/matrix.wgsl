// A weight matrix as the matmul kernels read it: `loadW(row, c)` gives elements 8c .. 8c + 7 of
// `row` as f32 (two vec4s), whatever the storage format:
//   (default) f32, rows of `params.k` elements (a multiple of 8): two vec4<f32> loads;
//   HALF      f16 or bf16 (BF16), 8 halves per vec4<u32> load (see weights.wgsl).
// The kernel declares `params` with field `k` (elements per row, padded) before including this.
#include "weights.wgsl"

struct W8 {
  a: vec4<f32>,
  b: vec4<f32>,
}

#if HALF
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>; // [rows, k / 8] packed f16 / bf16
fn loadW(row: u32, c: u32) -> W8 {
  let p = w[row * (params.k / 8u) + c];
  return W8(vec4<f32>(unpackHalves(p.x), unpackHalves(p.y)), vec4<f32>(unpackHalves(p.z), unpackHalves(p.w)));
}
#else
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>; // [rows, k / 4] f32
fn loadW(row: u32, c: u32) -> W8 {
  let i = row * (params.k / 4u) + 2u * c;
  return W8(w[i], w[i + 1u]);
}
#endif
