// LoRA shrink: v[row, j] = sum_k A[slot, j, k] * x[row, xOffset + k] for j < rank(slot), per row.
// A: [slots, maxRank, K] f16 (packed as vec4<u32>, 8 halves) or f32 (vec4<f32>); x: [rows, xStride] f32;
// v: [rows, maxRank] f32. TPO invocations share one output j and reduce through workgroup memory;
// f32 accumulation. Dispatch: (ceil(maxRankUsed / OPW), segments | rows, SGMV: tiles per longest segment).
// CPU variant (lavapipe): one invocation per output j walks all of K for its ROWS rows, WG outputs
// per workgroup, no workgroup memory or barriers (like linear.wgsl's TPO 1 shape).
#include "lora_common.wgsl"

#if F16
@group(0) @binding(3) var<storage, read> a: array<vec4<u32>>; // [slots, maxRank, K / 8] packed f16
#else
@group(0) @binding(3) var<storage, read> a: array<vec4<f32>>; // [slots, maxRank, K / 4] f32
#endif
@group(0) @binding(4) var<storage, read> x: array<vec4<f32>>;       // [rows, xStride / 4] f32
@group(0) @binding(5) var<storage, read_write> v: array<f32>;       // [rows, maxRank] f32

#if CPU
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let t = tileOf(wg);
  let rank = tileRank(t);
  let j = wg.x * ${WG}u + lid;
  // Bounds guard: no barriers in this variant, so idle invocations leave at once.
  if (j >= rank) {
    return;
  }
  let xs = params.xStride / 4u;
  let xo = params.xOffset / 4u;
  let last = t.end - 1u;
  // Register tile: one accumulator per row, unrolled so it stays in registers.
#unroll R ROWS
  var acc${R} = 0.0;
  let x${R} = min(t.begin + ${R}u, last) * xs + xo;
#endunroll
#if F16
  let chunks = params.inFeatures / 8u;
  let base = (u32(t.slot) * params.maxRank + j) * chunks;
  for (var c = 0u; c < chunks; c++) {
    let p = a[base + c];
    let w0 = vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
    let w1 = vec4<f32>(unpack2x16float(p.z), unpack2x16float(p.w));
#unroll R ROWS
    acc${R} += dot(w0, x[x${R} + c * 2u]) + dot(w1, x[x${R} + c * 2u + 1u]);
#endunroll
  }
#else
  let chunks = params.inFeatures / 4u;
  let base = (u32(t.slot) * params.maxRank + j) * chunks;
  for (var c = 0u; c < chunks; c++) {
    let w0 = a[base + c];
#unroll R ROWS
    acc${R} += dot(w0, x[x${R} + c]);
#endunroll
  }
#endif
#unroll R ROWS
  if (t.begin + ${R}u < t.end) {
    v[(t.begin + ${R}u) * params.maxRank + j] = acc${R};
  }
#endunroll
}
#else
const TPO = 32u;       // invocations per output j
const OPW = 256u / TPO; // outputs j per workgroup
var<workgroup> red: array<f32, 256 * ${ROWS}>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let t = tileOf(wg);
  let rank = tileRank(t);
  let lane = lid % TPO;
  let j = wg.x * OPW + lid / TPO;
  // Bounds guard without an early return: every invocation takes part in the reduction.
  let working = j < rank;
  var acc: array<f32, ROWS>;
  if (working) {
    let xs = params.xStride / 4u;
    let xo = params.xOffset / 4u;
    let last = t.end - 1u;
#if F16
    let chunks = params.inFeatures / 8u;
    let base = (u32(t.slot) * params.maxRank + j) * chunks;
    for (var c = lane; c < chunks; c += TPO) {
      let p = a[base + c];
      let w0 = vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
      let w1 = vec4<f32>(unpack2x16float(p.z), unpack2x16float(p.w));
      for (var r = 0u; r < ROWS; r++) {
        let xb = min(t.begin + r, last) * xs + xo + c * 2u;
        acc[r] += dot(w0, x[xb]) + dot(w1, x[xb + 1u]);
      }
    }
#else
    let chunks = params.inFeatures / 4u;
    let base = (u32(t.slot) * params.maxRank + j) * chunks;
    for (var c = lane; c < chunks; c += TPO) {
      let w0 = a[base + c];
      for (var r = 0u; r < ROWS; r++) {
        acc[r] += dot(w0, x[min(t.begin + r, last) * xs + xo + c]);
      }
    }
#endif
  }
  for (var r = 0u; r < ROWS; r++) {
    red[r * 256u + lid] = acc[r];
  }
  workgroupBarrier();
  for (var s = TPO / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      for (var r = 0u; r < ROWS; r++) {
        red[r * 256u + lid] += red[r * 256u + lid + s];
      }
    }
    workgroupBarrier();
  }
  if (!working || lane != 0u) {
    return;
  }
  for (var r = 0u; r < ROWS; r++) {
    let row = t.begin + r;
    if (row < t.end) {
      v[row * params.maxRank + j] = red[r * 256u + lid];
    }
  }
}
#endif
