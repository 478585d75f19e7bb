// Gated MLP activation in place: gate[r, i] = act(gate[r, i]) * up[r, i] over [rows, width].
// act: SiLU (SwiGLU), or with GELU_TANH the tanh-approximated GELU (GeGLU, HF gelu_pytorch_tanh).
// gate and up are columns of activation buffers; SHARED: both of one buffer (Phi-3's gate_up), bound
// once (WebGPU forbids binding a buffer both writable and read-only in one dispatch).
#include "step.wgsl"

struct Params {
  width: u32,      // elements per row
  gateStride: u32, // elements between rows of the gate buffer
  gateOffset: u32, // column of gate element 0
  upStride: u32,   // elements between rows of the up buffer
  upOffset: u32,   // column of up element 0
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> gate: array<f32>; // [rows, gateStride] f32
#if SHARED
fn upAt(i: u32) -> f32 {
  return gate[i];
}
#else
@group(0) @binding(3) var<storage, read> up: array<f32>;         // [rows, upStride] f32
fn upAt(i: u32) -> f32 {
  return up[i];
}
#endif

#include "act.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= step.rows * params.width) {
    return;
  }
  let r = i / params.width;
  let c = i % params.width;
  let gi = r * params.gateStride + params.gateOffset + c;
  gate[gi] = act(gate[gi]) * upAt(r * params.upStride + params.upOffset + c);
}
