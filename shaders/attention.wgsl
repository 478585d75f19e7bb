// Causal grouped-query attention over the paged KV cache, one workgroup per (row, query head).
// Row r attends to positions 0..pos[r] of its sequence, read through its block table, in tiles
// of 64 positions with an online softmax (running max and sum), f32 throughout.
#include "step.wgsl"

struct Params {
  numHeads: u32,
  numKvHeads: u32,
  headDim: u32, // <= 64 * DPT
  scale: f32,   // 1 / sqrt(headDim)
}

const BLOCK = 16u; // KV_BLOCK_SIZE
const TILE = 64u;  // positions per tile = invocations per workgroup
const DPT = ${DPT}u; // head dims per invocation (ceil(headDim / 64))

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> rowInfo: array<RowInfo>; // [rows]
@group(0) @binding(3) var<storage, read> blockTables: array<u32>;
@group(0) @binding(4) var<storage, read> q: array<f32>;      // [rows, numHeads, headDim] f32
@group(0) @binding(5) var<storage, read> kCache: array<f32>; // [numBlocks, numKvHeads, BLOCK, headDim] f32
@group(0) @binding(6) var<storage, read> vCache: array<f32>; // same layout
@group(0) @binding(7) var<storage, read_write> out: array<f32>; // [rows, numHeads, headDim] f32

var<workgroup> qs: array<f32, 64 * DPT>;
var<workgroup> p: array<f32, TILE>;
var<workgroup> red: array<f32, TILE>;
var<workgroup> slotBase: array<u32, TILE>; // cache offset of (block, kv head, slot) per tile position

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let r = wg.x;
  let h = wg.y;
  if (r >= step.rows || h >= params.numHeads) {
    return;
  }
  let hd = params.headDim;
  let info = rowInfo[r];
  let n = info.pos + 1u; // positions attended (workgroup-uniform)
  let kvh = h / (params.numHeads / params.numKvHeads);
  let qo = (r * params.numHeads + h) * hd;
  for (var d = lid; d < hd; d += 64u) {
    qs[d] = q[qo + d];
  }
  var m = -3.0e38;
  var l = 0.0;
  var acc: array<f32, DPT>;
  let tiles = (n + TILE - 1u) / TILE;
  for (var tile = 0u; tile < tiles; tile++) {
    workgroupBarrier();
    let j = tile * TILE + lid;
    var s = -3.0e38;
    if (j < n) {
      let block = blockTables[info.btOffset + j / BLOCK];
      let base = ((block * params.numKvHeads + kvh) * BLOCK + j % BLOCK) * hd;
      slotBase[lid] = base;
      var dotv = 0.0;
      for (var d = 0u; d < hd; d++) {
        dotv += qs[d] * kCache[base + d];
      }
      s = dotv * params.scale;
    }
    red[lid] = s;
    workgroupBarrier();
    for (var w = 32u; w > 0u; w >>= 1u) {
      if (lid < w) {
        red[lid] = max(red[lid], red[lid + w]);
      }
      workgroupBarrier();
    }
    let mNew = max(m, red[0]);
    workgroupBarrier();
    let pj = select(0.0, exp(s - mNew), j < n);
    p[lid] = pj;
    red[lid] = pj;
    workgroupBarrier();
    for (var w = 32u; w > 0u; w >>= 1u) {
      if (lid < w) {
        red[lid] += red[lid + w];
      }
      workgroupBarrier();
    }
    let alpha = exp(m - mNew);
    l = l * alpha + red[0];
    m = mNew;
    let count = min(TILE, n - tile * TILE);
    for (var t = 0u; t < DPT; t++) {
      let d = lid + t * 64u;
      if (d < hd) {
        var sum = 0.0;
        for (var jj = 0u; jj < count; jj++) {
          sum += p[jj] * vCache[slotBase[jj] + d];
        }
        acc[t] = acc[t] * alpha + sum;
      }
    }
  }
  for (var t = 0u; t < DPT; t++) {
    let d = lid + t * 64u;
    if (d < hd) {
      out[qo + d] = acc[t] / l;
    }
  }
}
