// Roofline probe: streams a buffer once (vec4 loads) and writes one partial sum per workgroup,
// so its time is the device's plain read bandwidth.
struct Params {
  count: u32, // vec4 elements in src
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>; // [count] vec4<f32>
@group(0) @binding(2) var<storage, read_write> dst: array<f32>; // [workgroups] f32

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let stride = nwg.x * 256u;
  var s = vec4<f32>(0.0);
  for (var i = wg.x * 256u + lid; i < params.count; i += stride) {
    s += src[i];
  }
  let t = s.x + s.y + s.z + s.w;
  if (t == 1.2345e-30) { // never true for real data; keeps the loads alive
    dst[wg.x] = t;
  }
}
