// RoPE (HF rotate_half over the first rotaryDim elements of each head: element i pairs with
// i + rotaryDim/2; the rest pass through) on q in place and on k, then k and v are stored at the
// row's position in the paged KV cache of this layer.
// Cache layout per layer: [numBlocks, numKvHeads, BLOCK, headStride] f32 (a block's positions of
// one head are contiguous, so attention reads them as one run); headStride = headDim rounded up to
// 4, the padding left zero. QKV: k and v are columns of q's buffer (Phi-3's fused qkv_proj), read
// through its one read-write binding.
#include "step.wgsl"

struct Params {
  numHeads: u32,
  numKvHeads: u32,
  headDim: u32,
  maxPos: u32,     // positions in the cos/sin table
  rotaryDim: u32,  // elements of a head that rotate (even, <= headDim)
  headStride: u32, // elements per (position, head) in the cache
  qStride: u32,    // elements between rows of q's buffer
  qOffset: u32,    // column of q's element 0
  kStride: u32,
  kOffset: u32,
  vStride: u32,
  vOffset: u32,
}

const BLOCK = ${BLOCK}u; // KV_BLOCK_SIZE in src/engine/backend.ts

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> rowInfo: array<RowInfo>;  // [rows]
@group(0) @binding(3) var<storage, read> blockTables: array<u32>;  // flattened tables of the step
@group(0) @binding(4) var<storage, read> ropeTable: array<vec2<f32>>; // [maxPos, rotaryDim / 2] (cos, sin)
@group(0) @binding(5) var<storage, read_write> q: array<f32>;      // [rows, qStride] f32
@group(0) @binding(6) var<storage, read_write> kCache: array<f32>; // [numBlocks, numKvHeads, BLOCK, headStride] f32
@group(0) @binding(7) var<storage, read_write> vCache: array<f32>; // same layout as kCache
#if QKV
fn kAt(i: u32) -> f32 {
  return q[i];
}
fn vAt(i: u32) -> f32 {
  return q[i];
}
#else
@group(0) @binding(8) var<storage, read> k: array<f32>;            // [rows, kStride] f32
@group(0) @binding(9) var<storage, read> v: array<f32>;            // [rows, vStride] f32
fn kAt(i: u32) -> f32 {
  return k[i];
}
fn vAt(i: u32) -> f32 {
  return v[i];
}
#endif

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
  let half = params.rotaryDim / 2u;
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
      let o = r * params.qStride + params.qOffset + head * hd;
      let x1 = q[o + d];
      let x2 = q[o + d + half];
      q[o + d] = x1 * cs.x - x2 * cs.y;
      q[o + d + half] = x2 * cs.x + x1 * cs.y;
    } else {
      let o = r * params.kStride + params.kOffset + head * hd;
      let x1 = kAt(o + d);
      let x2 = kAt(o + d + half);
      let c = ((block * params.numKvHeads + head) * BLOCK + slot) * params.headStride;
      kCache[c + d] = x1 * cs.x - x2 * cs.y;
      kCache[c + d + half] = x2 * cs.x + x1 * cs.y;
    }
  }
  for (var i = lid; i < params.numKvHeads * hd; i += 64u) {
    let head = i / hd;
    let d = i % hd;
    let c = ((block * params.numKvHeads + head) * BLOCK + slot) * params.headStride + d;
    vCache[c] = vAt(r * params.vStride + params.vOffset + i);
    if (d >= params.rotaryDim) {
      kCache[c] = kAt(r * params.kStride + params.kOffset + i); // the part RoPE leaves unrotated
    }
  }
}
