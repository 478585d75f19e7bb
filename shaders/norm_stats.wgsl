// Each row's 1 / rms for a norm projection's batch tiles on lavapipe (linear.wgsl NORM_STATS): one
// pass before the projection instead of every workgroup of it summing all its rows' squares behind
// a barrier. 1 / sqrt(mean(x[row]^2) + eps), as the one-row tile's SGNORM computes it (the same
// sums in the same order, so a batch row is normed as it would be alone). One workgroup of one
// 8-wide subgroup per row.
enable subgroups;
#include "step.wgsl"

struct Params {
  xStride: u32,    // elements between rows of x
  xOffset: u32,    // column of x holding element 0
  normWidth: u32,  // elements averaged (the unpadded width)
  eps: f32,        // variance epsilon
  useOutRows: u32, // 1: row count is step.outRows (lm_head), 0: step.rows
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;            // [rows, xStride] f32
@group(0) @binding(3) var<storage, read_write> inv: array<f32>;    // [rows] 1 / rms

fn xAt(i: u32) -> f32 {
  return x[i];
}

#include "sgnorm.wgsl"

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let row = wg.x;
  if (row >= select(step.rows, step.outRows, params.useOutRows == 1u)) {
    return; // uniform per workgroup
  }
  let r = subgroupNormInv(row, lane);
  if (lane == 0u) {
    inv[row] = r;
  }
}
