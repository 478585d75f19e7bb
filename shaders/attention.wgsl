// Causal grouped-query attention over the paged KV cache, one workgroup per (row, query head).
// Row r attends to positions first..pos[r] of its sequence (first = 0, or pos[r] + 1 - window with
// a sliding window), read through its block table. Each of the WG invocations runs an online
// softmax (running max, sum, output accumulator in registers) over positions first + lid,
// first + lid + WG, ...; the partial results are merged once at the end, so a workgroup needs two
// barriers whatever the context length. Scores are s = q·k · scale, soft-capped with SOFTCAP
// (cap · tanh(s / cap), Gemma 2). f32 throughout.
#include "step.wgsl"

struct Params {
  numHeads: u32,
  numKvHeads: u32,
  headDim: u32,   // elements of a head in q and out
  scale: f32,     // headDim^-1/2, or query_pre_attn_scalar^-1/2
  window: u32,    // positions attended, the row's own included; 0 = all
  softcap: f32,   // SOFTCAP: the cap
  qStride: u32,   // elements between rows of q's buffer
  qOffset: u32,   // column of q's element 0
  outStride: u32, // elements between rows of out's buffer
  outOffset: u32, // column of out's element 0
  _pad0: u32,
  _pad1: u32,
}

const BLOCK = ${BLOCK}u; // KV_BLOCK_SIZE
const WG = ${WG}u; // invocations per workgroup (32 on GPUs, 8 on CPU adapters: one SIMD group)
const HD4 = ${HD4}u; // vec4s per (position, head) in the cache: headDim rounded up to 4, / 4

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> rowInfo: array<RowInfo>; // [rows]
@group(0) @binding(3) var<storage, read> blockTables: array<u32>;
@group(0) @binding(4) var<storage, read> q: array<f32>;            // [rows, qStride] f32
@group(0) @binding(5) var<storage, read> kCache: array<vec4<f32>>; // [numBlocks, numKvHeads, BLOCK, HD4] f32
@group(0) @binding(6) var<storage, read> vCache: array<vec4<f32>>; // same layout
@group(0) @binding(7) var<storage, read_write> out: array<f32>;    // [rows, outStride] f32

var<workgroup> maxS: array<f32, WG>;
var<workgroup> sumS: array<f32, WG>;
var<workgroup> accS: array<vec4<f32>, WG * HD4>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let r = wg.x;
  let h = wg.y;
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
  // q times the scale, zero beyond headDim (the cache's padding is zero too).
  var qv: array<vec4<f32>, HD4>;
#unroll I HD4
  qv[${I}u] = vec4<f32>(
    select(0.0, q[qo + ${I}u * 4u], ${I}u * 4u < hd),
    select(0.0, q[qo + min(${I}u * 4u + 1u, hd - 1u)], ${I}u * 4u + 1u < hd),
    select(0.0, q[qo + min(${I}u * 4u + 2u, hd - 1u)], ${I}u * 4u + 2u < hd),
    select(0.0, q[qo + min(${I}u * 4u + 3u, hd - 1u)], ${I}u * 4u + 3u < hd)) * params.scale;
#endunroll
  var m = -3.0e38;
  var l = 0.0;
  var acc: array<vec4<f32>, HD4>;
  for (var j = first + lid; j < n; j += WG) {
    let block = blockTables[info.btOffset + j / BLOCK];
    let base = ((block * params.numKvHeads + kvh) * BLOCK + j % BLOCK) * HD4;
    var s = 0.0;
#unroll I HD4
    s += dot(qv[${I}u], kCache[base + ${I}u]);
#endunroll
#if SOFTCAP
    s = params.softcap * tanh(clamp(s / params.softcap, -15.0, 15.0));
#endif
    if (s > m) {
      let alpha = exp(m - s);
      m = s;
      l *= alpha;
#unroll I HD4
      acc[${I}u] *= alpha;
#endunroll
    }
    let p = exp(s - m);
    l += p;
#unroll I HD4
    acc[${I}u] += p * vCache[base + ${I}u];
#endunroll
  }
  maxS[lid] = m;
  workgroupBarrier();
  var mAll = -3.0e38;
  for (var t = 0u; t < WG; t++) {
    mAll = max(mAll, maxS[t]);
  }
  let f = select(0.0, exp(m - mAll), l > 0.0);
  sumS[lid] = l * f;
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
}
