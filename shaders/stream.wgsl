// Roofline probe: streams a buffer once (vec4 loads) and writes one partial sum per workgroup
// only if it is a value real data never gives (keeps the loads alive), so its time is the
// device's plain read bandwidth. Two access patterns (src/engine/webgpu/roofline.ts keeps the
// faster): by default consecutive invocations read consecutive vec4s in a grid-stride loop
// (coalesced: what a GPU streams fastest); RUNS: each invocation reads its own run of
// `params.run` consecutive vec4s, as the batch-1 linear kernel streams a weight row per
// invocation (on lavapipe, where an invocation is a SIMD lane, this is 1.0-1.3x faster: see
// docs/engine.md "Load forms on lavapipe").
struct Params {
  count: u32, // vec4 elements in src
  run: u32,   // RUNS: vec4 elements per invocation
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>; // [count] vec4<f32>
@group(0) @binding(2) var<storage, read_write> dst: array<f32>; // [workgroups] f32

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  var s = vec4<f32>(0.0);
#if RUNS
  let first = (wg.x * ${WG}u + lid) * params.run;
  let end = min(first + params.run, params.count);
  for (var i = first; i < end; i++) {
    s += src[i];
  }
#else
  let stride = nwg.x * ${WG}u;
  for (var i = wg.x * ${WG}u + lid; i < params.count; i += stride) {
    s += src[i];
  }
#endif
  let t = s.x + s.y + s.z + s.w;
  if (t == 1.2345e-30) { // never true for real data; keeps the loads alive
    dst[wg.x] = t;
  }
}
