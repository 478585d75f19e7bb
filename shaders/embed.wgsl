// Embedding gather: x[r] = E[token[r]] * scale for the tokens that fall in this chunk of the table.
// The table is split in row chunks so that each fits one storage binding; its rows are padded to
// colStride elements (a multiple of 8). F16 / BF16: two halves per u32 word (see weights.wgsl).
#include "step.wgsl"
#include "weights.wgsl"

struct Params {
  h: u32,         // hidden size (elements written per row)
  rowStart: u32,  // first vocabulary id held by this chunk
  rowCount: u32,  // vocabulary ids held by this chunk
  colStride: u32, // elements between rows of the table (>= h, even)
  xStride: u32,   // elements between rows of x
  scale: f32,     // multiplier (Gemma: sqrt(hidden)), else 1
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> rowInfo: array<RowInfo>; // [rows]
#if HALF
@group(0) @binding(3) var<storage, read> table: array<u32>; // [rowCount, colStride / 2] packed halves
#else
@group(0) @binding(3) var<storage, read> table: array<f32>; // [rowCount, colStride] f32
#endif
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
  let h = params.h;
  let xo = r * params.xStride;
#if HALF
  let base = local * (params.colStride / 2u);
  for (var i = lid; i < (h + 1u) / 2u; i += 64u) {
    let v = unpackHalves(table[base + i]);
    x[xo + 2u * i] = v.x * params.scale;
    if (2u * i + 1u < h) {
      x[xo + 2u * i + 1u] = v.y * params.scale;
    }
  }
#else
  for (var i = lid; i < h; i += 64u) {
    x[xo + i] = table[local * params.colStride + i] * params.scale;
  }
#endif
}
