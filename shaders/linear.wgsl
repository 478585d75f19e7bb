// Linear projection for 1..ROWS rows per workgroup:
// y[r, yOffset + n] (+)= cap(sum_k W[n, k] x[r, xOffset + k] (+ bias[n])).
// Each weight element is read once per ROWS rows (weights are the bandwidth cost of decode).
// W: [n, k] f16 / bf16 packed as vec4<u32> (8 halves per load, HALF) or f32 as vec4<f32>; rows are
// zero-padded to k (a multiple of 8), so the padding columns of x add nothing; x: [rows, xStride] f32;
// y: [rows, yStride] f32. TPO invocations share one output feature and reduce with a subgroup
// butterfly (SUBGROUPS) or through workgroup memory. SOFTCAP: y = cap · tanh(y / cap) (Gemma 2 logits).
#if SUBGROUPS
enable subgroups;
#endif
#if XSHUF
enable subgroups;
#endif
#include "step.wgsl"
#include "weights.wgsl"

struct Params {
  n: u32,          // output features in this weight chunk
  k: u32,          // input features (elements, padded; multiple of 8)
  xStride: u32,    // elements between rows of x (multiple of 4)
  yStride: u32,    // elements between rows of y
  yOffset: u32,    // column of y that receives this chunk's feature 0
  useOutRows: u32, // 1: row count is step.outRows (lm_head), 0: step.rows
  xOffset: u32,    // column of x holding input feature 0 (multiple of 4)
  softcap: f32,    // SOFTCAP: the cap
  accumulate: u32, // 1: y += W x (residual projections), 0: y = W x (a parameter, not a define: one variant fewer to compile per row tile)
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
#if HALF
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>; // [n, k / 8] packed f16 / bf16
#else
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>; // [n, k / 4] f32
#endif
#if XSHUF
@group(0) @binding(3) var<storage, read> x: array<f32>; // [rows, xStride] f32
#else
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>; // [rows, xStride / 4] f32
#endif
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [rows, yStride] f32
#if BIAS
@group(0) @binding(5) var<storage, read> bias: array<f32>; // [n] f32
#endif

const ROWS = ${ROWS}u; // rows per workgroup (register tile)
const OPL = ${OPL}u; // output features per invocation (register tile: x loads reused OPL times)
const TPO = ${TPO}u; // invocations sharing one group of OPL output features (split along k)
const WG = ${WG}u; // invocations per workgroup
const OPW = WG / TPO * OPL; // output features per workgroup
const ACC = ROWS * OPL;
#if REDUCE_WG
const RC = ${RC}u; // accumulators reduced per round through workgroup memory (divides ACC)
var<workgroup> red: array<f32, WG * RC>;
#endif

@compute @workgroup_size(WG)
fn main(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wg: vec3<u32>,
#if XSHUF
  @builtin(subgroup_invocation_id) sgLane: u32,
#endif
) {
  let totalRows = select(step.rows, step.outRows, params.useOutRows == 1u);
  let lane = lid % TPO;
  let n0 = wg.x * OPW + (lid / TPO) * OPL;
  let row0 = wg.y * ROWS;
  // Bounds guard without an early return: every invocation takes part in the reduction.
  let live = n0 < params.n && row0 < totalRows;
  var acc: array<f32, ACC>; // [ROWS, OPL]
#if XSHUF
  // CPU adapters with 8-wide subgroups (TPO 1): the 8 lanes load 8 consecutive x values of a
  // chunk at once and broadcast them, instead of each lane loading the same 8 values.
  {
    let lastRow = max(totalRows, 1u) - 1u;
    let chunks = params.k / 8u;
    for (var c = 0u; c < chunks; c++) {
#unroll J OPL
      let p${J} = w[min(n0 + ${J}u, params.n - 1u) * chunks + c];
      let wa${J} = vec4<f32>(unpackHalves(p${J}.x), unpackHalves(p${J}.y));
      let wb${J} = vec4<f32>(unpackHalves(p${J}.z), unpackHalves(p${J}.w));
#endunroll
#unroll R ROWS
      {
        let xv = x[min(row0 + ${R}u, lastRow) * params.xStride + params.xOffset + c * 8u + sgLane];
        let xa = vec4<f32>(subgroupBroadcast(xv, 0u), subgroupBroadcast(xv, 1u), subgroupBroadcast(xv, 2u), subgroupBroadcast(xv, 3u));
        let xc = vec4<f32>(subgroupBroadcast(xv, 4u), subgroupBroadcast(xv, 5u), subgroupBroadcast(xv, 6u), subgroupBroadcast(xv, 7u));
#unroll J OPL
        acc[${R}u * OPL + ${J}u] += dot(wa${J}, xa) + dot(wb${J}, xc);
#endunroll
      }
#endunroll
    }
  }
#else
  if (live) {
    let lastRow = totalRows - 1u;
    let xs = params.xStride / 4u;
    let xo = params.xOffset / 4u;
#if HALF
    let chunks = params.k / 8u;
    for (var c = lane; c < chunks; c += TPO) {
#unroll J OPL
      let p${J} = w[min(n0 + ${J}u, params.n - 1u) * chunks + c];
      let wa${J} = vec4<f32>(unpackHalves(p${J}.x), unpackHalves(p${J}.y));
      let wb${J} = vec4<f32>(unpackHalves(p${J}.z), unpackHalves(p${J}.w));
#endunroll
#unroll R ROWS
      {
        let xb = min(row0 + ${R}u, lastRow) * xs + xo + c * 2u;
        let xa = x[xb];
        let xc = x[xb + 1u];
#unroll J OPL
        acc[${R}u * OPL + ${J}u] += dot(wa${J}, xa) + dot(wb${J}, xc);
#endunroll
      }
#endunroll
    }
#else
    let chunks = params.k / 4u;
    for (var c = lane; c < chunks; c += TPO) {
#unroll J OPL
      let wa${J} = w[min(n0 + ${J}u, params.n - 1u) * chunks + c];
#endunroll
#unroll R ROWS
      {
        let xa = x[min(row0 + ${R}u, lastRow) * xs + xo + c];
#unroll J OPL
        acc[${R}u * OPL + ${J}u] += dot(wa${J}, xa);
#endunroll
      }
#endunroll
    }
#endif
  }
#endif
#if SUBGROUPS
#unroll I ACC
  {
    var v = acc[${I}u];
    for (var m = TPO / 2u; m > 0u; m >>= 1u) {
      v += subgroupShuffleXor(v, m);
    }
    acc[${I}u] = v;
  }
#endunroll
#endif
#if REDUCE_WG
  for (var i0 = 0u; i0 < ACC; i0 += RC) {
    for (var j = 0u; j < RC; j++) {
      red[j * WG + lid] = acc[i0 + j];
    }
    workgroupBarrier();
    if (lane == 0u) {
      for (var j = 0u; j < RC; j++) {
        var s = 0.0;
        for (var t = 0u; t < TPO; t++) {
          s += red[j * WG + lid + t];
        }
        acc[i0 + j] = s;
      }
    }
    workgroupBarrier();
  }
#endif
  if (!live || lane != 0u) {
    return;
  }
  for (var j = 0u; j < OPL; j++) {
    let n = n0 + j;
    if (n >= params.n) {
      break;
    }
#if BIAS
    let b = bias[n];
#else
    let b = 0.0;
#endif
    for (var r = 0u; r < ROWS; r++) {
      let row = row0 + r;
      if (row < totalRows) {
        let i = row * params.yStride + params.yOffset + n;
#if SOFTCAP
        let value = params.softcap * tanh(clamp((acc[r * OPL + j] + b) / params.softcap, -15.0, 15.0));
#else
        let value = acc[r * OPL + j] + b;
#endif
        if (params.accumulate == 1u) {
          y[i] += value;
        } else {
          y[i] = value;
        }
      }
    }
  }
}
