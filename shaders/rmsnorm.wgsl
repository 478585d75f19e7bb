// RMSNorm: y[o] (+)= x[src] / sqrt(mean(x[src]^2) + eps) * (weightOffset + weight), one workgroup
// per output row. GATHER: src = outRows[o].srcRow (final norm of only the rows that get logits);
// else src = o. ADD: the result is added into y (Gemma 2's post-norms before the residual add).
#include "step.wgsl"

struct Params {
  h: u32,            // elements per row normalized
  eps: f32,          // variance epsilon
  xStride: u32,      // elements between rows of x
  xOffset: u32,      // column of x holding element 0
  yStride: u32,      // elements between rows of y
  yOffset: u32,      // column of y receiving element 0
  weightOffset: f32, // 1 for Gemma's (1 + w) gain, else 0
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;      // [rows, xStride] f32
@group(0) @binding(3) var<storage, read> weight: array<f32>; // [h] f32
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [rows or outRows, yStride] f32
#if GATHER
@group(0) @binding(5) var<storage, read> outRows: array<u32>; // [outRows, OUT_ROW_WORDS] u32, srcRow first
#endif

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
#if GATHER
  let count = step.outRows;
#else
  let count = step.rows;
#endif
  let o = wg.x;
  if (o >= count) {
    return;
  }
#if GATHER
  let src = outRows[o * ${OUT_ROW_WORDS}u];
#else
  let src = o;
#endif
  let h = params.h;
  let xb = src * params.xStride + params.xOffset;
  let yb = o * params.yStride + params.yOffset;
  var s = 0.0;
  for (var i = lid; i < h; i += 256u) {
    let v = x[xb + i];
    s += v * v;
  }
  red[lid] = s;
  workgroupBarrier();
  for (var m = 128u; m > 0u; m >>= 1u) {
    if (lid < m) {
      red[lid] += red[lid + m];
    }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(red[0] / f32(h) + params.eps);
  for (var i = lid; i < h; i += 256u) {
    let v = x[xb + i] * inv * (params.weightOffset + weight[i]);
#if ADD
    y[yb + i] += v;
#else
    y[yb + i] = v;
#endif
  }
}
