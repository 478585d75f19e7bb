// Projection of 1..ROWS rows per workgroup (register tiles), with its fused prologue and epilogue:
//   y[r, yOffset + o] (+)= cap(glu(norm(x[r]) W^T + bias + LoRA)) for the o of this weight chunk.
// Each weight element is read once per ROWS rows (weights are the bandwidth cost of decode).
// W (matrix.wgsl): [rows, k], rows zero-padded to k (a multiple of 8) so x's padding columns add
// nothing; x: [rows, xStride] f32; y: [rows, yStride] f32. TPO invocations share OPL weight rows
// (split along k) and reduce with a subgroup butterfly (SUBGROUPS) or workgroup memory (REDUCE_WG).
// XSHUF (CPU adapters, 8-wide subgroups, TPO 1): the lanes load a chunk of x together and broadcast it.
// TILED (many rows: prefill chunks, batched decode; the plan in linearPlan.ts picks it per row tile):
//   the ROWS x OPL accumulators are separate registers (not an array: LLVM keeps them in registers
//   and spills only what does not fit) updated with fma chains, and x comes either through the
//   subgroup broadcast (XSHUF: lavapipe, where workgroup memory costs more than it saves) or from
//   a [ROWS, KT · 8] tile staged in workgroup memory once per workgroup (GPUs: every invocation then
//   reads x there instead of from the storage buffer; the TPO lanes of a weight row split k).
//   Each weight element fetched (and dequantized) serves the ROWS rows of the tile.
//   NORM: x is RMS-normalized per row first: the workgroup sums each row's squares, the dot
//         products run over x · gain (gain = offset + w, at vecs[normAt]) and are scaled by
//         1 / sqrt(mean + eps) (the recipe's rmsnorm, fused: no `h` buffer, no dispatch).
//         SGNORM (XSHUF, plain kernel, 1 row): each subgroup sums the squares itself, without a barrier.
//   BIAS: + vecs[biasAt + weight row].
//   LORA: + scale · B (A x) of the row's adapter slot (rowInfo[r].slot): v = A x comes from the
//         shrink kernel (lora_shrink.wgsl), B is read here (the expand, fused).
//         LORA_PAGES (unified memory): B's rows lie in runs in the layer's V buffer, found through
//         the slot's run table in info (src/engine/webgpu/lora/pagePool.ts).
//   GLU:  the invocation's OPL weight rows are OPL / 2 gate rows and the matching up rows
//         (params.gate, params.up); it writes act(gate) · up, OPL / 2 outputs.
//   SOFTCAP: cap · tanh(y / cap) (Gemma 2 logits).
// Q4DOT (Q4_0, lavapipe's decode tiles): by blocks (linear_q4dot.wgsl); Q8X: x as Q8_0 blocks from
//   quant_x.wgsl (normed there: NORM is off), the int8 x broadcast and scaled in the block loop.
#if SUBGROUPS
enable subgroups;
#endif
#if XSHUF
enable subgroups;
#endif
#include "step.wgsl"

struct Params {
  n: u32,          // outputs of this chunk (GLU: products)
  k: u32,          // input features (elements, padded; multiple of 8)
  xStride: u32,    // elements between rows of x (multiple of 4)
  yStride: u32,    // elements between rows of y
  yOffset: u32,    // column of y receiving this chunk's output 0
  useOutRows: u32, // 1: row count is step.outRows (lm_head), 0: step.rows
  xOffset: u32,    // column of x holding input feature 0 (multiple of 4)
  softcap: f32,    // SOFTCAP: the cap
  accumulate: u32, // 1: y += ..., 0: y = ... (a parameter, not a define: fewer variants to compile)
  wRows: u32,      // weight rows in this chunk
  rowStart: u32,   // fused column (weight row of the whole matrix) of this chunk's row 0
  normWidth: u32,  // NORM: elements averaged (the unpadded width)
  eps: f32,        // NORM: variance epsilon
  normAt: u32,     // NORM: index of gain[0] in vecs (multiple of 4)
  biasAt: u32,     // BIAS: index of bias[0] in vecs
  gate: u32,       // GLU: weight row of gate output 0
  up: u32,         // GLU: weight row of up output 0
  infoStride: u32, // LORA: u32 words of info per slot
  rank0: u32,      // LORA: word of member 0's rank in a slot's info (members 1, 2: rank1, rank2)
  rank1: u32,
  rank2: u32,
  col1: u32,       // LORA: first fused column of member 1 (member 2: col2; past the end when absent)
  col2: u32,
  vStride: u32,    // LORA: elements between rows of v (multiple of 4)
  vMember: u32,    // LORA: elements of v per member (maxRank rounded up to 4)
  bSlot: u32,      // LORA: elements of B per slot (vMember · fused columns)
  tableAt: u32,    // LORA_PAGES: word of a slot's info where its run table starts
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
#include "matrix.wgsl"
#if Q8X
@group(0) @binding(3) var<storage, read> x: array<u32>; // [rows, k / 4 + k / 32]: Q8_0 blocks of x (quant_x.wgsl)
// The 4 int8 of a word (element j in byte j) as f32.
fn q8Values(w: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}
#else
#if XSHUF
@group(0) @binding(3) var<storage, read> x: array<f32>; // [rows, xStride] f32
fn xAt(i: u32) -> f32 {
  return x[i];
}
#else
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>; // [rows, xStride / 4] f32
fn xAt(i: u32) -> f32 {
  return x[i / 4u][i % 4u];
}
#endif
#endif
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [rows, yStride] f32
#if XSHUF
// One f32 per load: on lavapipe each 32-bit component a lane loads costs alike, and vec(i) of a
// vec4 array loads all four.
@group(0) @binding(5) var<storage, read> vecs: array<f32>; // norm gain and bias, f32
#else
@group(0) @binding(5) var<storage, read> vecs: array<vec4<f32>>; // norm gain and bias, f32
#endif
#if LORA
@group(0) @binding(6) var<storage, read> rowInfo: array<RowInfo>; // [rows]: the adapter slot of each row
@group(0) @binding(7) var<storage, read> info: array<u32>;        // [slots, infoStride]: scale bits, ranks
@group(0) @binding(8) var<storage, read> v: array<vec4<f32>>;     // [rows, vStride / 4]: A x per member
#if LORA_PAGES
@group(0) @binding(9) var<storage, read> b: array<f32>;           // the layer's V buffer: B's runs [rows, rank] f32 (lora/pagePool.ts)
#else
#if LORA_F16
@group(0) @binding(9) var<storage, read> b: array<vec2<u32>>;     // [slots, columns, rank rounded to 4] f16
fn bAt(i: u32) -> vec4<f32> {
  let p = b[i];
  return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
}
#else
@group(0) @binding(9) var<storage, read> b: array<vec4<f32>>;     // [slots, columns, rank rounded to 4] f32
fn bAt(i: u32) -> vec4<f32> {
  return b[i];
}
#endif
#endif
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

fn vec(i: u32) -> f32 {
#if XSHUF
  return vecs[i];
#else
  return vecs[i / 4u][i % 4u];
#endif
}

#if NORM
#if SGNORM
#include "sgnorm.wgsl"
#else
const NR = ${NR}u; // rows reduced per round (NR · WG partial sums in workgroup memory)
var<workgroup> normRed: array<f32, NR * WG>;
var<workgroup> normInv: array<f32, ROWS>;

// 1 / rms of rows row0 .. row0 + ROWS - 1 into normInv; every invocation takes part. (Plain
// loops: the prologue is a small share of the work, and unrolled it would double compile time.)
fn normPrologue(lid: u32, row0: u32, lastRow: u32) {
  for (var r0 = 0u; r0 < ROWS; r0 += NR) {
    for (var r = 0u; r < NR; r++) {
      let xb = min(row0 + r0 + r, lastRow) * params.xStride + params.xOffset;
      var s = 0.0;
      for (var i = lid; i < params.normWidth; i += WG) {
        let e = xAt(xb + i);
        s += e * e;
      }
      normRed[r * WG + lid] = s;
    }
    workgroupBarrier();
    if (lid < NR) {
      var s = 0.0;
      for (var t = 0u; t < WG; t++) {
        s += normRed[lid * WG + t];
      }
      normInv[r0 + lid] = 1.0 / sqrt(s / f32(params.normWidth) + params.eps);
    }
    workgroupBarrier();
  }
}
#endif
#endif

#if LORA
// scale · sum_t B[slot, column, t] · v[row, member, t] for row's adapter (0 without one).
fn loraDelta(row: u32, column: u32) -> f32 {
  let slot = rowInfo[row].slot;
  if (slot < 0) {
    return 0.0;
  }
  let m = u32(column >= params.col1) + u32(column >= params.col2);
  let s = u32(slot) * params.infoStride;
  let rank = info[s + select(select(params.rank0, params.rank1, m == 1u), params.rank2, m == 2u)];
  if (rank == 0u) {
    return 0.0;
  }
  let vb = (row * params.vStride + m * params.vMember) / 4u;
  var acc = vec4<f32>(0.0);
#if LORA_PAGES
  // The run of the adapter's B rows holding this member's output o: the last whose first row is
  // <= o (runs cover 0..out in order; binary search, a big projection has tens of runs).
  let o = column - select(select(0u, params.col1, m == 1u), params.col2, m == 2u);
  let header = s + params.tableAt + 4u * (select(select(params.rank0, params.rank1, m == 1u), params.rank2, m == 2u) - 1u) + 2u;
  let runs = s + info[header];
  var below = 0u;
  var above = info[header + 1u];
  while (above - below > 1u) {
    let mid = (below + above) / 2u;
    if (info[runs + 3u * mid] <= o) {
      below = mid;
    } else {
      above = mid;
    }
  }
  let run = runs + 3u * below;
  let bb = info[run + 2u] + (o - info[run]) * rank;
  // As the padded slots sum it: four lanes of rank rounded to 4, v past the rank 0.
  for (var t = 0u; t < rank; t += 4u) {
    let w = vec4<f32>(b[bb + t], select(0.0, b[bb + t + 1u], t + 1u < rank), select(0.0, b[bb + t + 2u], t + 2u < rank), select(0.0, b[bb + t + 3u], t + 3u < rank));
    acc += w * v[vb + t / 4u];
  }
#else
  let r4 = (rank + 3u) / 4u;
  let bb = (u32(slot) * params.bSlot) / 4u + column * r4;
  for (var t = 0u; t < r4; t++) {
    acc += bAt(bb + t) * v[vb + t];
  }
#endif
  return bitcast<f32>(info[s]) * (acc.x + acc.y + acc.z + acc.w);
}
#endif

#if XSHUF
// The norm gain of element 8c + lane (1 without NORM).
fn laneGain(c: u32, lane: u32) -> f32 {
#if NORM
  return vec(params.normAt + c * 8u + lane);
#else
  return 1.0;
#endif
}

// x[i - lane .. i - lane + 7] on every lane: each of the 8 lanes loads one (times its gain g) and
// the subgroup broadcasts them.
#if !Q8X
fn xBroadcast(i: u32, g: f32) -> W8 {
  return xBroadcastOf(x[i] * g);
}
#endif

// The 8 lanes' xv on every lane.
fn xBroadcastOf(xv: f32) -> W8 {
  return W8(vec4<f32>(subgroupBroadcast(xv, 0u), subgroupBroadcast(xv, 1u), subgroupBroadcast(xv, 2u), subgroupBroadcast(xv, 3u)),
            vec4<f32>(subgroupBroadcast(xv, 4u), subgroupBroadcast(xv, 5u), subgroupBroadcast(xv, 6u), subgroupBroadcast(xv, 7u)));
}
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
  normPrologue(lid, row0, lastRow);
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
#if XSHUF
  // The 8 lanes load 8 consecutive x values of a chunk at once and broadcast them, instead of
  // each lane loading the same 8 values.
  for (var c = 0u; c < chunks; c++) {
#unroll J OPL
    let w${J} = loadW(wr${J}, c);
#endunroll
    let g = laneGain(c, sgLane);
#unroll R ROWS
    {
      let xw = xBroadcast(min(row0 + ${R}u, lastRow) * params.xStride + params.xOffset + c * 8u + sgLane, g);
#unroll J OPL
#if TILED
      a${R}_${J} = fma8(a${R}_${J}, w${J}, xw);
#else
      acc[${R}u * OPL + ${J}u] += dot(w${J}.a, xw.a) + dot(w${J}.b, xw.b);
#endif
#endunroll
    }
#endunroll
  }
#else
#if TILED
  let xs = params.xStride / 4u;
  let xo = params.xOffset / 4u;
  for (var c0 = 0u; c0 < chunks; c0 += KT) {
    // Stage x[row0 .. row0 + ROWS - 1, 8 c0 .. 8 (c0 + KT) - 1] (zeros past k), every invocation helping.
    for (var i = lid; i < ROWS * KT * 2u; i += WG) {
      let q = c0 * 2u + i % (KT * 2u);
      var v = vec4<f32>(0.0);
      if (q < chunks * 2u) {
        v = x[min(row0 + i / (KT * 2u), lastRow) * xs + xo + q];
#if NORM
        v *= vecs[params.normAt / 4u + q];
#endif
      }
      xt[i] = v;
    }
    workgroupBarrier();
    let kc = min(KT, chunks - c0);
    for (var c = lane; c < kc; c += TPO) {
#unroll J OPL
      let w${J} = loadW(wr${J}, c0 + c);
#endunroll
#unroll R ROWS
      {
        let xw = W8(xt[(${R}u * KT + c) * 2u], xt[(${R}u * KT + c) * 2u + 1u]);
#unroll J OPL
        a${R}_${J} = fma8(a${R}_${J}, w${J}, xw);
#endunroll
      }
#endunroll
    }
    workgroupBarrier();
  }
#else
  if (live) {
    let xs = params.xStride / 4u;
    let xo = params.xOffset / 4u;
    for (var c = lane; c < chunks; c += TPO) {
#unroll J OPL
      let w${J} = loadW(wr${J}, c);
#endunroll
#if NORM
      let ga = vecs[params.normAt / 4u + c * 2u];
      let gb = vecs[params.normAt / 4u + c * 2u + 1u];
#endif
#unroll R ROWS
      {
        let xi = min(row0 + ${R}u, lastRow) * xs + xo + c * 2u;
#if NORM
        let xa = x[xi] * ga;
        let xb = x[xi + 1u] * gb;
#else
        let xa = x[xi];
        let xb = x[xi + 1u];
#endif
#unroll J OPL
        acc[${R}u * OPL + ${J}u] += dot(w${J}.a, xa) + dot(w${J}.b, xb);
#endunroll
      }
#endunroll
    }
  }
#endif
#endif
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
  for (var r = 0u; r < ROWS; r++) {
    let row = row0 + r;
    if (row >= totalRows) {
      break;
    }
#if NORM
    let inv = normInv[r];
#endif
    // Finished values of the OPL weight rows: scaled, biased, with the row's LoRA delta.
    var val: array<f32, OPL>;
    for (var j = 0u; j < OPL; j++) {
      let wrow = weightRow(o0, j);
#if NORM
      var s = acc[r * OPL + j] * inv;
#else
      var s = acc[r * OPL + j];
#endif
#if BIAS
      s += vec(params.biasAt + params.rowStart + min(wrow, params.wRows - 1u));
#endif
#if LORA
      if (wrow < params.wRows) {
        s += loraDelta(row, params.rowStart + wrow);
      }
#endif
      val[j] = s;
    }
    for (var j = 0u; j < OUTS; j++) {
      let o = o0 + j;
      if (o >= params.n) {
        break;
      }
#if GLU
      var value = act(val[j]) * val[j + OUTS];
#else
      var value = val[j];
#endif
#if SOFTCAP
      value = params.softcap * tanh(clamp(value / params.softcap, -15.0, 15.0));
#endif
      let i = row * params.yStride + params.yOffset + o;
      if (params.accumulate == 1u) {
        y[i] += value;
      } else {
        y[i] = value;
      }
    }
  }
}
