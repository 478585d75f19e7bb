// RoPE (HF rotate_half: element i pairs with i + headDim/2) on q in place and on k, then k and v
// are stored at the row's position in the paged KV cache of this layer.
// Cache layout per layer: [numBlocks, numKvHeads, BLOCK, headDim] f32 (a block's positions of
// one head are contiguous, so attention reads them as one run).
#include "step.wgsl"

struct Params {
  numHeads: u32,
  numKvHeads: u32,
  headDim: u32,
  maxPos: u32, // positions in the cos/sin table
}

const BLOCK = 16u; // KV_BLOCK_SIZE in src/engine/backend.ts

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> rowInfo: array<RowInfo>;  // [rows]
@group(0) @binding(3) var<storage, read> blockTables: array<u32>;  // flattened tables of the step
@group(0) @binding(4) var<storage, read> ropeTable: array<vec2<f32>>; // [maxPos, headDim / 2] (cos, sin)
@group(0) @binding(5) var<storage, read_write> q: array<f32>;      // [rows, numHeads, headDim] f32
@group(0) @binding(6) var<storage, read> k: array<f32>;            // [rows, numKvHeads, headDim] f32
@group(0) @binding(7) var<storage, read> v: array<f32>;            // [rows, numKvHeads, headDim] f32
@group(0) @binding(8) var<storage, read_write> kCache: array<f32>; // [numBlocks, numKvHeads, BLOCK, headDim] f32
@group(0) @binding(9) var<storage, read_write> vCache: array<f32>; // same layout as kCache

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let r = wg.x;
  if (r >= step.rows) {
    return;
  }
  let info = rowInfo[r];
  let pos = info.pos;
  if (pos >= params.maxPos) {
    return;
  }
  let hd = params.headDim;
  let half = hd / 2u;
  let block = blockTables[info.btOffset + pos / BLOCK];
  let slot = pos % BLOCK;
  let qPairs = params.numHeads * half;
  let kPairs = params.numKvHeads * half;
  for (var i = lid; i < qPairs + kPairs; i += 64u) {
    let isK = i >= qPairs;
    let j = select(i, i - qPairs, isK);
    let head = j / half;
    let d = j % half;
    let cs = ropeTable[pos * half + d];
    if (!isK) {
      let o = (r * params.numHeads + head) * hd;
      let x1 = q[o + d];
      let x2 = q[o + d + half];
      q[o + d] = x1 * cs.x - x2 * cs.y;
      q[o + d + half] = x2 * cs.x + x1 * cs.y;
    } else {
      let o = (r * params.numKvHeads + head) * hd;
      let x1 = k[o + d];
      let x2 = k[o + d + half];
      let c = ((block * params.numKvHeads + head) * BLOCK + slot) * hd;
      kCache[c + d] = x1 * cs.x - x2 * cs.y;
      kCache[c + d + half] = x2 * cs.x + x1 * cs.y;
    }
  }
  for (var i = lid; i < params.numKvHeads * hd; i += 64u) {
    let head = i / hd;
    let d = i % hd;
    vCache[((block * params.numKvHeads + head) * BLOCK + slot) * hd + d] = v[r * params.numKvHeads * hd + i];
  }
}
