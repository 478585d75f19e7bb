// Rows of x quantized to Q8_0 blocks of 32 for the Q4_0 decode tiles on lavapipe (linear.wgsl Q8X,
// its block loop in linear_q4dot.wgsl): q = round(v / d) (ties to even), d = max |v| / 127 per
// block, v = x, or with NORM x · gain / rms (the projection's RMSNorm, done here once instead of in
// every subgroup of the linear kernel). The CPU backend quantizes its activations the same way
// (wasm/kernels.ts quantizeRows). One workgroup of one 8-wide subgroup per row; lane i takes
// elements 4i .. 4i + 3 of each block.
//   xq, per row (k / 4 + k / 32 words): k / 4 words of 4 int8 (element 4w + j in byte j of word w),
//   then each block's d (f32 bits).
enable subgroups;
#include "step.wgsl"

struct Params {
  k: u32,          // elements per row quantized (a multiple of 32)
  xStride: u32,    // elements between rows of x
  xOffset: u32,    // column of x holding element 0
  useOutRows: u32, // 1: row count is step.outRows (lm_head), 0: step.rows
  normWidth: u32,  // NORM: elements averaged (the unpadded width)
  eps: f32,        // NORM: variance epsilon
  normAt: u32,     // NORM: index of gain[0] in vecs
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;          // [rows, xStride] f32
@group(0) @binding(3) var<storage, read> vecs: array<f32>;       // NORM: the gain at normAt
@group(0) @binding(4) var<storage, read_write> xq: array<u32>;   // [rows, k / 4 + k / 32] (see above)

fn xAt(i: u32) -> f32 {
  return x[i];
}

#if NORM
#include "sgnorm.wgsl"
#endif

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let row = wg.x;
  if (row >= select(step.rows, step.outRows, params.useOutRows == 1u)) {
    return; // uniform per workgroup
  }
#if NORM
  let inv = subgroupNormInv(row, lane);
#endif
  let xb = row * params.xStride + params.xOffset + 4u * lane;
  let words = params.k / 4u;
  let qb = row * (words + params.k / 32u);
  for (var bk = 0u; bk < params.k / 32u; bk++) {
    let i = xb + bk * 32u;
    var v = vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
#if NORM
    let g = params.normAt + bk * 32u + 4u * lane;
    v = v * inv * vec4<f32>(vecs[g], vecs[g + 1u], vecs[g + 2u], vecs[g + 3u]);
#endif
    let a = abs(v);
    let d = subgroupMax(max(max(a.x, a.y), max(a.z, a.w))) / 127.0;
    let id = select(0.0, 1.0 / d, d != 0.0);
    let q = vec4<u32>(vec4<i32>(round(v * id))) & vec4<u32>(0xFFu);
    xq[qb + bk * 8u + lane] = q.x | (q.y << 8u) | (q.z << 16u) | (q.w << 24u);
    if (lane == 0u) {
      xq[qb + words + bk] = bitcast<u32>(d);
    }
  }
}
