// Embedding gather: x[r] = E[token[r]] * scale for the tokens that fall in this chunk of the table.
// The table is split in row chunks so that each fits one storage binding; its rows (k elements:
// padded to 8, or whole quantized blocks) are read 8 elements at a time in any weight format
// (matrix.wgsl: f32, f16, bf16, Q8_0, Q4_0, Q4_K, Q6_K).
#include "step.wgsl"

struct Params {
  h: u32,        // hidden size (elements written per row)
  rowStart: u32, // first vocabulary id held by this chunk
  rowCount: u32, // vocabulary ids held by this chunk
  k: u32,        // elements per row of the table (>= h)
  xStride: u32,  // elements between rows of x
  scale: f32,    // multiplier (Gemma: sqrt(hidden)), else 1
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
#include "matrix.wgsl"
@group(0) @binding(3) var<storage, read> rowInfo: array<RowInfo>; // [rows]
@group(0) @binding(4) var<storage, read_write> x: array<f32>; // [rows, xStride] f32

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let r = wg.x;
  if (r >= step.rows) {
    return;
  }
  let token = rowInfo[r].token;
  if (token < params.rowStart || token >= params.rowStart + params.rowCount) {
    return;
  }
  let local = token - params.rowStart;
  let xo = r * params.xStride;
  for (var c = lid; c * 8u < params.h; c += 64u) {
    let v = loadW(local, c);
    for (var i = 0u; i < 8u; i++) {
      let e = c * 8u + i;
      if (e < params.h) {
        x[xo + e] = select(v.b, v.a, i < 4u)[i % 4u] * params.scale;
      }
    }
  }
}
