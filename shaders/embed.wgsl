// Embedding gather: x[r] = E[token[r]] for the tokens that fall in this chunk of the table.
// The table is split in row chunks so that each fits one storage binding.
#include "step.wgsl"

struct Params {
  h: u32,        // hidden size
  rowStart: u32, // first vocabulary id held by this chunk
  rowCount: u32, // vocabulary ids held by this chunk
  _pad: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> rowInfo: array<RowInfo>; // [rows]
#if F16
@group(0) @binding(3) var<storage, read> table: array<u32>; // [rowCount, h / 2] packed f16
#else
@group(0) @binding(3) var<storage, read> table: array<f32>; // [rowCount, h] f32
#endif
@group(0) @binding(4) var<storage, read_write> x: array<f32>; // [rows, h] f32

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
#if F16
  for (var i = lid; i < h / 2u; i += 64u) {
    let v = unpack2x16float(table[local * (h / 2u) + i]);
    x[r * h + 2u * i] = v.x;
    x[r * h + 2u * i + 1u] = v.y;
  }
#else
  for (var i = lid; i < h; i += 64u) {
    x[r * h + i] = table[local * h + i];
  }
#endif
}
