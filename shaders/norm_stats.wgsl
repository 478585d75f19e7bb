// The norm of a norm projection's batch tiles on lavapipe, as a pass before the projection instead
// of every workgroup of it summing all its rows' squares behind a barrier:
//   (default, linear.wgsl NORM_STATS) each row's 1 / sqrt(mean(x[row]^2) + eps), as the one-row
//     tile's SGNORM computes it (the same sums in the same order, so a batch row is normed as it
//     would be alone); one workgroup of one 8-wide subgroup per row;
//   PACK (linear.wgsl X16) x · gain / rms itself, rows 2p and 2p + 1 as one word of two f16 per
//     element (zeros past the norm's width; an odd last row paired with itself): the projection
//     then loads one word per element for two rows; one workgroup per pair of rows.
enable subgroups;
#include "step.wgsl"

struct Params {
  xStride: u32,    // elements between rows of x
  xOffset: u32,    // column of x holding element 0
  normWidth: u32,  // elements averaged (the unpadded width)
  eps: f32,        // variance epsilon
  useOutRows: u32, // 1: row count is step.outRows (lm_head), 0: step.rows
  k: u32,          // PACK: elements per packed row (the projection's k, padded)
  normAt: u32,     // PACK: index of gain[0] in vecs
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;            // [rows, xStride] f32
#if PACK
@group(0) @binding(3) var<storage, read_write> xh: array<u32>;     // [ceil(rows / 2), k] f16 pairs
@group(0) @binding(4) var<storage, read> vecs: array<f32>;         // the gain at normAt
#else
@group(0) @binding(3) var<storage, read_write> inv: array<f32>;    // [rows] 1 / rms
#endif

fn xAt(i: u32) -> f32 {
  return x[i];
}

#include "sgnorm.wgsl"

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let rows = select(step.rows, step.outRows, params.useOutRows == 1u);
#if PACK
  let pair = wg.x;
  if (2u * pair >= rows) {
    return; // uniform per workgroup
  }
  let r0 = 2u * pair;
  let r1 = min(r0 + 1u, rows - 1u);
  let inv0 = subgroupNormInv(r0, lane);
  let inv1 = subgroupNormInv(r1, lane);
  let x0 = r0 * params.xStride + params.xOffset;
  let x1 = r1 * params.xStride + params.xOffset;
  for (var e = lane; e < params.k; e += 8u) {
    var v = vec2<f32>(0.0);
    if (e < params.normWidth) {
      v = vec2<f32>(x[x0 + e] * inv0, x[x1 + e] * inv1) * vecs[params.normAt + e];
    }
    xh[pair * params.k + e] = pack2x16float(v);
  }
#else
  let row = wg.x;
  if (row >= rows) {
    return; // uniform per workgroup
  }
  let r = subgroupNormInv(row, lane);
  if (lane == 0u) {
    inv[row] = r;
  }
#endif
}
