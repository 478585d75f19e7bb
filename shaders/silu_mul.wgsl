// SwiGLU gate: gate[i] = silu(gate[i]) * up[i] over [rows, intermediate].
#include "step.wgsl"

struct Params {
  width: u32, // elements per row (intermediate size)
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> gate: array<f32>; // [rows, width] f32
@group(0) @binding(3) var<storage, read> up: array<f32>;         // [rows, width] f32

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= step.rows * params.width) {
    return;
  }
  let g = gate[i];
  gate[i] = g / (1.0 + exp(-g)) * up[i];
}
