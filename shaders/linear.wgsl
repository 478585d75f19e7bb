// Projection of 1..ROWS rows per workgroup (register tiles), with its fused prologue and epilogue:
//   y[r, yOffset + o] (+)= cap(glu(norm(x[r]) W^T + bias + LoRA)) for the o of this weight chunk.
// Each weight element is read once per ROWS rows (weights are the bandwidth cost of decode).
// TPO invocations share OPL weight rows (split along k) and reduce with a subgroup butterfly
// (SUBGROUPS) or workgroup memory (REDUCE_WG). This file is the kernel's frame: its tile
// constants, `main`'s steps in order, and the reduction; each step's variants are in its own file:
//   bindings, Params (linear_bindings.wgsl): W through matrix.wgsl (any format), x, y, vecs;
//   NORM (linear_norm.wgsl; SGNORM: sgnorm.wgsl; NORM_STATS: each row's 1 / rms from a pass
//     before, norm_stats.wgsl): x RMS-normalized per row, fused;
//   the k loop: per chunk of 8 (linear_chunks.wgsl) with x broadcast through 8-wide subgroups
//     (XSHUF, linear_xshuf.wgsl: CPU adapters, TPO 1), staged in workgroup memory, or loaded;
//     or Q4DOT by blocks (linear_q4dot.wgsl);
//   TILED (many rows: prefill chunks, batched decode; the plan in linearPlan.ts picks it per row
//     tile): the ROWS x OPL accumulators are separate registers (not an array: LLVM keeps them in
//     registers and spills only what does not fit) updated with fma chains (fma8);
//   the epilogue (linear_epilogue.wgsl): BIAS, LORA (the expand: linear_lora.wgsl), GLU, SOFTCAP.
// Q4DOT (Q4_0, lavapipe's decode tiles): by blocks (linear_q4dot.wgsl); Q8X: x as Q8_0 blocks from
//   quant_x.wgsl (normed there: NORM is off), the int8 x broadcast and scaled in the block loop.
#if SUBGROUPS
enable subgroups;
#endif
#if XSHUF
enable subgroups;
#endif
#include "step.wgsl"
#include "linear_bindings.wgsl"
#if LORA
#include "linear_lora.wgsl"
#endif

const ROWS = ${ROWS}u; // rows per workgroup (register tile)
const OPL = ${OPL}u; // weight rows per invocation (register tile: x loads reused OPL times)
const TPO = ${TPO}u; // invocations sharing one group of OPL weight rows (split along k)
const WG = ${WG}u; // invocations per workgroup
#if GLU
const OUTS = OPL / 2u; // outputs per invocation: gate rows 0..OUTS-1, up rows OUTS..OPL-1
#else
const OUTS = OPL;
#endif
const OPW = WG / TPO * OUTS; // outputs per workgroup
const ACC = ROWS * OPL;
#if TILED
#if !XSHUF
const KT = ${KT}u; // chunks of 8 elements of x staged per round
var<workgroup> xt: array<vec4<f32>, ROWS * KT * 2u>; // [ROWS, KT · 8] x (· gain) of this round
#endif
#endif
#if REDUCE_WG
const RC = ${RC}u; // accumulators reduced per round through workgroup memory (divides ACC)
var<workgroup> red: array<f32, WG * RC>;
#endif

// Weight row of accumulator j for outputs starting at o.
fn weightRow(o: u32, j: u32) -> u32 {
#if GLU
  return select(params.gate + o + j, params.up + o + j - OUTS, j >= OUTS);
#else
  return o + j;
#endif
}

#if NORM
#if SGNORM
#include "sgnorm.wgsl"
#else
#if NORM_STATS
@group(0) @binding(${STATS_AT}) var<storage, read> normStats: array<f32>; // [rows] 1 / rms (norm_stats.wgsl)
#else
#include "linear_norm.wgsl"
#endif
#endif
#endif

#if XSHUF
#include "linear_xshuf.wgsl"
#endif

#if TILED
// s + w · x over 8 elements as a chain of fma (TILED's accumulators).
fn fma8(s: f32, w: W8, x8: W8) -> f32 {
  var t = fma(w.a.x, x8.a.x, s);
  t = fma(w.a.y, x8.a.y, t);
  t = fma(w.a.z, x8.a.z, t);
  t = fma(w.a.w, x8.a.w, t);
  t = fma(w.b.x, x8.b.x, t);
  t = fma(w.b.y, x8.b.y, t);
  t = fma(w.b.z, x8.b.z, t);
  return fma(w.b.w, x8.b.w, t);
}
#endif

#if GLU
#include "act.wgsl"
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
  let o0 = wg.x * OPW + (lid / TPO) * OUTS;
  let row0 = wg.y * ROWS;
  if (row0 >= totalRows) {
    return; // uniform per workgroup: before any barrier
  }
  let lastRow = totalRows - 1u;
  // Bounds guard without an early return: every invocation takes part in the reductions.
  let live = o0 < params.n;
#if NORM
#if SGNORM
  var normInv: array<f32, ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    normInv[r] = subgroupNormInv(min(row0 + r, lastRow), sgLane);
  }
#else
#if !NORM_STATS
  normPrologue(lid, row0, lastRow);
#endif
#endif
#endif
#unroll J OPL
  let wr${J} = min(weightRow(o0, ${J}u), params.wRows - 1u);
#endunroll
  var acc: array<f32, ACC>; // [ROWS, OPL]
  let chunks = params.k / 8u;
#if TILED
#unroll R ROWS
#unroll J OPL
  var a${R}_${J} = 0.0;
#endunroll
#endunroll
#endif
#if Q4DOT
#include "linear_q4dot.wgsl"
#else
#include "linear_chunks.wgsl"
#endif
#if TILED
#unroll R ROWS
#unroll J OPL
  acc[${R}u * OPL + ${J}u] = a${R}_${J};
#endunroll
#endunroll
#endif
#if SUBGROUPS
#unroll I ACC
  {
    var s = acc[${I}u];
    for (var m = TPO / 2u; m > 0u; m >>= 1u) {
      s += subgroupShuffleXor(s, m);
    }
    acc[${I}u] = s;
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
#include "linear_epilogue.wgsl"
}
