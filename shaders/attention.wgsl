// Causal grouped-query attention over the paged KV cache, one workgroup per (row, GQ query heads
// of one kv group; GQ is 1 except in SGBCAST's decode passes).
// Row r attends to positions first..pos[r] of its sequence (first = 0, or pos[r] + 1 - window with
// a sliding window), read through its block table. Each of the WG invocations runs an online
// softmax (running max, sum, output accumulator in registers) over positions first + lid,
// first + lid + WG, ...; the partial results are merged once at the end, so a workgroup needs two
// barriers whatever the context length. Scores are s = q·k · scale, soft-capped with SOFTCAP
// (cap · tanh(s / cap), Gemma 2). f32 throughout.
// FUSED (passes where every sequence has one row: decode steps): RoPE and the KV store happen here
// too, one dispatch instead of rope_kv + attention. q, k and v are columns of one buffer (the fused
// q|k|v projection's output); each invocation rotates q in registers, invocation 0 loads the row's
// k and v and rotates k (in the workgroup of each kv group's first head it also stores them in the
// cache), and attends the row's own position from registers (no other workgroup reads it: its
// sequence has no other row here).
// SGBCAST (CPU adapters whose subgroups are WG = 8 wide: one subgroup per workgroup): what every
// invocation needs (q, the RoPE table's row, the row's own k and v) is loaded 8 lanes at a time
// and broadcast (on lavapipe a lane pays for each 32-bit word it loads), the row's own k and v are
// stored by all the lanes, and the partial results merge through subgroup operations instead of
// workgroup memory behind barriers (a barrier makes llvmpipe run the kernel as a coroutine). In
// decode passes (FUSED) GQ > 1: each cached k and v a lane loads serves the GQ heads at once.
// SGBFLY (with SGBCAST): the merge's sums and max are butterflies of shuffles (butterfly.wgsl)
// instead of subgroupAdd / subgroupMax, which lavapipe runs as loops over the lanes; the merge
// reduces GQ · (headDim + 2) values.
#if SGBCAST
enable subgroups;
#endif
#include "step.wgsl"

#include "attention_bindings.wgsl"
#if FUSED
// A head's elements after HF rotate_half RoPE (cs: the position's cos, sin per pair), as vec4s:
// element e < RH pairs with e + RH (sin negated), RH <= e < 2 RH with e - RH, the rest unrotated.
// Every index is a constant (HD, RH are defines): no dynamic register indexing.
fn rotateHalf(a: array<f32, HDP>, cs: array<vec2<f32>, RH>) -> array<vec4<f32>, HD4> {
  var r: array<f32, HDP>;
#unroll E HDP
  {
    const d = ${E}u % RH;
    const partner = (${E}u + RH) % (2u * RH) % HDP;
    r[${E}u] = select(a[${E}u], a[${E}u] * cs[d].x + a[partner] * select(cs[d].y, -cs[d].y, ${E}u < RH), ${E}u < 2u * RH);
  }
#endunroll
  var out: array<vec4<f32>, HD4>;
#unroll I HD4
  out[${I}u] = vec4<f32>(r[${I}u * 4u], r[${I}u * 4u + 1u], r[${I}u * 4u + 2u], r[${I}u * 4u + 3u]);
#endunroll
  return out;
}
#endif

#if SGBCAST
#include "butterfly.wgsl"
// The 8 lanes' max, sum (every lane gets the result).
fn laneMax(v: f32) -> f32 {
#if SGBFLY
  return butterflyMax(v);
#else
  return subgroupMax(v);
#endif
}
fn laneSum(v: f32) -> f32 {
#if SGBFLY
  return butterflySum(v);
#else
  return subgroupAdd(v);
#endif
}
fn laneSum4(v: vec4<f32>) -> vec4<f32> {
#if SGBFLY
  return butterflySum4(v);
#else
  return subgroupAdd(v);
#endif
}
#else
var<workgroup> maxS: array<f32, WG>;
var<workgroup> sumS: array<f32, WG>;
var<workgroup> accS: array<vec4<f32>, WG * HD4>;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let r = wg.x;
  let h = wg.y * GQ; // the workgroup's first query head
  if (r >= step.rows || h >= params.numHeads) {
    return;
  }
  let info = rowInfo[r];
  let n = info.pos + 1u; // positions up to and including the row's own
  var first = 0u;
  if (params.window > 0u && n > params.window) {
    first = n - params.window;
  }
  let kvh = h / (params.numHeads / params.numKvHeads);
  let hd = params.headDim;
  let qo = r * params.qStride + params.qOffset + h * hd;
  // q times the scale, zero beyond headDim (the cache's padding is zero too): [GQ, HD4].
  var qv: array<vec4<f32>, HD4 * GQ>;
#if FUSED
  // The row's own k and v (rotated k), attended from registers by invocation 0 and stored for later
  // steps by invocation 0 of each kv group's first head: only invocation 0 loads and rotates them
  // (the others only rotate q; SGBCAST: every lane gets them through broadcasts and the lanes
  // share the store). Every index below is a constant (HD, RH are defines): no dynamic register
  // indexing.
  var cs: array<vec2<f32>, RH>;
  let ko = r * params.qStride + params.kOffset + kvh * hd;
  let vo = r * params.qStride + params.vOffset + kvh * hd;
#if SGBCAST
  // Lane i loads element 8c + i of each vector, then every lane gets the 8 lanes' values.
  var csl: array<vec2<f32>, ${RH8}u>;
#unroll C RH8
  csl[${C}u] = ropeTable[info.pos * RH + min(${C}u * 8u + lid, RH - 1u)];
#endunroll
#unroll D ROT_HALF
  cs[${D}u] = subgroupBroadcast(csl[${D}u / 8u], ${D}u % 8u);
#endunroll
#else
#unroll D ROT_HALF
  cs[${D}u] = ropeTable[info.pos * RH + ${D}u];
#endunroll
#endif
#unroll G GQ
  {
    var qa: array<f32, HDP>;
#if SGBCAST
    var ql: array<f32, ${HD8}u>;
#unroll C HD8
    ql[${C}u] = select(0.0, q[qo + ${G}u * hd + min(${C}u * 8u + lid, HD - 1u)], ${C}u * 8u + lid < HD);
#endunroll
#unroll E HDP
    qa[${E}u] = subgroupBroadcast(ql[${E}u / 8u], ${E}u % 8u);
#endunroll
#else
#unroll E HDP
    qa[${E}u] = select(0.0, q[qo + ${G}u * hd + ${E}u], ${E}u < HD);
#endunroll
#endif
    let qr = rotateHalf(qa, cs);
#unroll I HD4
    qv[${G}u * HD4 + ${I}u] = qr[${I}u] * params.scale;
#endunroll
  }
#endunroll
  var kSelf: array<vec4<f32>, HD4>;
  var vSelf: array<vec4<f32>, HD4>;
#if SGBCAST
  {
    var kl: array<f32, ${HD8}u>;
    var vl: array<f32, ${HD8}u>;
#unroll C HD8
    {
      let e = min(${C}u * 8u + lid, HD - 1u);
      kl[${C}u] = select(0.0, q[ko + e], ${C}u * 8u + lid < HD);
      vl[${C}u] = select(0.0, q[vo + e], ${C}u * 8u + lid < HD);
    }
#endunroll
    var ka: array<f32, HDP>;
    var va: array<f32, HDP>;
#unroll E HDP
    ka[${E}u] = subgroupBroadcast(kl[${E}u / 8u], ${E}u % 8u);
    va[${E}u] = subgroupBroadcast(vl[${E}u / 8u], ${E}u % 8u);
#endunroll
#else
  if (lid == 0u) {
    var ka: array<f32, HDP>;
    var va: array<f32, HDP>;
#unroll E HDP
    ka[${E}u] = select(0.0, q[ko + ${E}u], ${E}u < HD);
    va[${E}u] = select(0.0, q[vo + ${E}u], ${E}u < HD);
#endunroll
#endif
    kSelf = rotateHalf(ka, cs);
#unroll I HD4
    vSelf[${I}u] = vec4<f32>(va[${I}u * 4u], va[${I}u * 4u + 1u], va[${I}u * 4u + 2u], va[${I}u * 4u + 3u]);
#endunroll
    if (h == kvh * (params.numHeads / params.numKvHeads)) {
      let c = ((blockTables[info.btOffset + info.pos / BLOCK] * params.numKvHeads + kvh) * BLOCK + info.pos % BLOCK) * HD4;
#unroll I HD4
#if SGBCAST
      if (${I}u % WG == lid) {
#endif
      kCache[c + ${I}u] = kSelf[${I}u];
      vCache[c + ${I}u] = vSelf[${I}u];
#if SGBCAST
      }
#endif
#endunroll
    }
  }
  let cached = info.pos; // earlier positions come from the cache
#else
#unroll I HD4
  qv[${I}u] = vec4<f32>(
    select(0.0, q[qo + ${I}u * 4u], ${I}u * 4u < hd),
    select(0.0, q[qo + min(${I}u * 4u + 1u, hd - 1u)], ${I}u * 4u + 1u < hd),
    select(0.0, q[qo + min(${I}u * 4u + 2u, hd - 1u)], ${I}u * 4u + 2u < hd),
    select(0.0, q[qo + min(${I}u * 4u + 3u, hd - 1u)], ${I}u * 4u + 3u < hd)) * params.scale;
#endunroll
  let cached = n;
#endif
  // Per query head g of the workgroup: running max m[g], sum l[g], accumulator acc[g · HD4 ..].
  var m: array<f32, GQ>;
  var l: array<f32, GQ>;
#unroll G GQ
  m[${G}u] = -3.0e38;
  l[${G}u] = 0.0;
#endunroll
  var acc: array<vec4<f32>, HD4 * GQ>;
  for (var j = first + lid; j < cached; j += WG) {
    let block = blockTables[info.btOffset + j / BLOCK];
    let base = ((block * params.numKvHeads + kvh) * BLOCK + j % BLOCK) * HD4;
    var kv: array<vec4<f32>, HD4>;
#unroll I HD4
    kv[${I}u] = kCache[base + ${I}u];
#endunroll
    var p: array<f32, GQ>;
#unroll G GQ
    {
      var s = 0.0;
#unroll I HD4
      s += dot(qv[${G}u * HD4 + ${I}u], kv[${I}u]);
#endunroll
      s = softcapped(s);
      if (s > m[${G}u]) {
        let alpha = exp(m[${G}u] - s);
        m[${G}u] = s;
        l[${G}u] *= alpha;
#unroll I HD4
        acc[${G}u * HD4 + ${I}u] *= alpha;
#endunroll
      }
      p[${G}u] = exp(s - m[${G}u]);
      l[${G}u] += p[${G}u];
    }
#endunroll
#unroll I HD4
    {
      let vv = vCache[base + ${I}u];
#unroll G GQ
      acc[${G}u * HD4 + ${I}u] += p[${G}u] * vv;
#endunroll
    }
#endunroll
  }
#if FUSED
  if (lid == 0u) {
#unroll G GQ
    {
      var s = 0.0;
#unroll I HD4
      s += dot(qv[${G}u * HD4 + ${I}u], kSelf[${I}u]);
#endunroll
      s = softcapped(s);
      let mNew = max(m[${G}u], s);
      let alpha = exp(m[${G}u] - mNew);
      let p = exp(s - mNew);
      m[${G}u] = mNew;
      l[${G}u] = l[${G}u] * alpha + p;
#unroll I HD4
      acc[${G}u * HD4 + ${I}u] = acc[${G}u * HD4 + ${I}u] * alpha + p * vSelf[${I}u];
#endunroll
    }
#endunroll
  }
#endif
#if SGBCAST
#unroll G GQ
  {
    let mAll = laneMax(m[${G}u]);
    let f = select(0.0, exp(m[${G}u] - mAll), l[${G}u] > 0.0);
    let total = laneSum(l[${G}u] * f);
    let oo = r * params.outStride + params.outOffset + (h + ${G}u) * hd;
#unroll I HD4
    {
      let o = laneSum4(acc[${G}u * HD4 + ${I}u] * f) / total;
      if (${I}u % WG == lid) {
        for (var c = 0u; c < 4u; c++) {
          if (${I}u * 4u + c < hd) {
            out[oo + ${I}u * 4u + c] = o[c];
          }
        }
      }
    }
#endunroll
  }
#endunroll
#else
  // (GQ is 1 here: one query head per workgroup.)
  maxS[lid] = m[0];
  workgroupBarrier();
  var mAll = -3.0e38;
  for (var t = 0u; t < WG; t++) {
    mAll = max(mAll, maxS[t]);
  }
  let f = select(0.0, exp(m[0] - mAll), l[0] > 0.0);
  sumS[lid] = l[0] * f;
#unroll I HD4
  accS[lid * HD4 + ${I}u] = acc[${I}u] * f;
#endunroll
  workgroupBarrier();
  var total = 0.0;
  for (var t = 0u; t < WG; t++) {
    total += sumS[t];
  }
  let oo = r * params.outStride + params.outOffset + h * hd;
  for (var i = lid; i < HD4; i += WG) {
    var o = vec4<f32>(0.0);
    for (var t = 0u; t < WG; t++) {
      o += accS[t * HD4 + i];
    }
    o /= total;
    for (var c = 0u; c < 4u; c++) {
      if (i * 4u + c < hd) {
        out[oo + i * 4u + c] = o[c];
      }
    }
  }
#endif
}
