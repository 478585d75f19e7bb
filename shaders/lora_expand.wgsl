// LoRA expand: y[row, yOffset + o] += scale(slot) * sum_{i < rank} Bt[slot, i, o] * v[row, i], per row.
// Bt (B transposed, so neighbouring invocations read neighbouring outputs): [slots, maxRank, N]
// f16 (packed as vec2<u32>, 4 halves) or f32 (vec4<f32>); v: [rows, maxRank] f32 from lora_shrink;
// y: [rows, yStride] f32. Each invocation owns 4 consecutive outputs; the tile's v rows are staged
// in workgroup memory. Dispatch: (ceil(N / 1024), segments | rows, SGMV: tiles per longest segment).
// CPU variant (lavapipe): WG invocations of 4 outputs each read v straight from storage (the same
// address in every lane), no workgroup memory or barrier. Dispatch: (ceil(N / (4 WG)), ...).
#include "lora_common.wgsl"

#if F16
@group(0) @binding(3) var<storage, read> bt: array<vec2<u32>>; // [slots, maxRank, N / 4] packed f16
#else
@group(0) @binding(3) var<storage, read> bt: array<vec4<f32>>; // [slots, maxRank, N / 4] f32
#endif
@group(0) @binding(4) var<storage, read> v: array<f32>;          // [rows, maxRank] f32
@group(0) @binding(5) var<storage, read_write> y: array<f32>;    // [rows, yStride] f32

#if CPU
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let t = tileOf(wg);
  let rank = tileRank(t);
  let o = (wg.x * ${WG}u + lid) * 4u;
  // Bounds guard: no barriers in this variant.
  if (rank == 0u || o >= params.outValid) {
    return;
  }
  let n4 = params.outFeatures / 4u;
  let base = u32(t.slot) * params.maxRank * n4 + o / 4u;
  let last = t.end - 1u;
  // Register tile: one accumulator per row, unrolled so it stays in registers.
#unroll R ROWS
  var acc${R} = vec4<f32>(0.0);
  let v${R} = min(t.begin + ${R}u, last) * params.maxRank;
#endunroll
  for (var i = 0u; i < rank; i++) {
#if F16
    let p = bt[base + i * n4];
    let b = vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
#else
    let b = bt[base + i * n4];
#endif
#unroll R ROWS
    acc${R} += b * v[v${R} + i];
#endunroll
  }
  let scale = bitcast<f32>(info[u32(t.slot) * params.infoStride]);
#unroll R ROWS
  if (t.begin + ${R}u < t.end) {
    let yi = (t.begin + ${R}u) * params.yStride + params.yOffset + o;
    for (var c = 0u; c < min(4u, params.outValid - o); c++) {
      y[yi + c] += scale * acc${R}[c];
    }
  }
#endunroll
}
#else
const MAX_RANK = 128u; // largest rank openlora serves (src/lora/peftConfig.ts)
var<workgroup> vs: array<f32, ${ROWS} * 128>; // [ROWS, MAX_RANK] f32

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let t = tileOf(wg);
  let rank = tileRank(t);
  for (var i = lid; i < ROWS * MAX_RANK; i += 256u) {
    let r = i / MAX_RANK;
    let k = i % MAX_RANK;
    var value = 0.0;
    if (k < rank && t.begin + r < t.end) {
      value = v[(t.begin + r) * params.maxRank + k];
    }
    vs[i] = value;
  }
  workgroupBarrier();
  let o = (wg.x * 256u + lid) * 4u;
  // Bounds guard (after the only barrier).
  if (rank == 0u || o >= params.outValid) {
    return;
  }
  let n4 = params.outFeatures / 4u;
  let base = u32(t.slot) * params.maxRank * n4 + o / 4u;
  var acc: array<vec4<f32>, ROWS>;
  for (var i = 0u; i < rank; i++) {
#if F16
    let p = bt[base + i * n4];
    let b = vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
#else
    let b = bt[base + i * n4];
#endif
    for (var r = 0u; r < ROWS; r++) {
      acc[r] += b * vs[r * MAX_RANK + i];
    }
  }
  let scale = bitcast<f32>(info[u32(t.slot) * params.infoStride]);
  for (var r = 0u; r < ROWS; r++) {
    let row = t.begin + r;
    if (row < t.end) {
      let yi = row * params.yStride + params.yOffset + o;
      for (var c = 0u; c < min(4u, params.outValid - o); c++) {
        y[yi + c] += scale * acc[r][c];
      }
    }
  }
}
#endif
