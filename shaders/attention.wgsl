// Causal grouped-query attention over the paged KV cache, one workgroup per (row, query head).
// Row r attends to positions 0..pos[r] of its sequence, read through its block table. Each of the
// WG invocations runs an online softmax (running max, sum, output accumulator in registers) over
// positions lid, lid + WG, ...; the partial results are merged once at the end, so a workgroup
// needs two barriers whatever the context length. f32 throughout.
#include "step.wgsl"

struct Params {
  numHeads: u32,
  numKvHeads: u32,
  headDim: u32, // == HD
  scale: f32,   // 1 / sqrt(headDim)
}

const BLOCK = 16u; // KV_BLOCK_SIZE
const WG = ${WG}u; // invocations per workgroup (32 on GPUs, 8 on CPU adapters: one SIMD group)
const HD = ${HD}u; // head dim (multiple of 4)
const HD4 = HD / 4u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> rowInfo: array<RowInfo>; // [rows]
@group(0) @binding(3) var<storage, read> blockTables: array<u32>;
@group(0) @binding(4) var<storage, read> q: array<vec4<f32>>;      // [rows, numHeads, HD / 4]
@group(0) @binding(5) var<storage, read> kCache: array<vec4<f32>>; // [numBlocks, numKvHeads, BLOCK, HD / 4]
@group(0) @binding(6) var<storage, read> vCache: array<vec4<f32>>; // same layout
@group(0) @binding(7) var<storage, read_write> out: array<f32>;    // [rows, numHeads, HD] f32

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
  let n = info.pos + 1u; // positions attended
  let kvh = h / (params.numHeads / params.numKvHeads);
  let qo = (r * params.numHeads + h) * HD4;
  var qv: array<vec4<f32>, HD4>;
#unroll I HD4
  qv[${I}u] = q[qo + ${I}u] * params.scale;
#endunroll
  var m = -3.0e38;
  var l = 0.0;
  var acc: array<vec4<f32>, HD4>;
  for (var j = lid; j < n; j += WG) {
    let block = blockTables[info.btOffset + j / BLOCK];
    let base = ((block * params.numKvHeads + kvh) * BLOCK + j % BLOCK) * HD4;
    var s = 0.0;
#unroll I HD4
    s += dot(qv[${I}u], kCache[base + ${I}u]);
#endunroll
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
  for (var i = lid; i < HD4; i += WG) {
    var o = vec4<f32>(0.0);
    for (var t = 0u; t < WG; t++) {
      o += accS[t * HD4 + i];
    }
    o /= total;
    let d = (r * params.numHeads + h) * HD + i * 4u;
    out[d] = o.x;
    out[d + 1u] = o.y;
    out[d + 2u] = o.z;
    out[d + 3u] = o.w;
  }
}
