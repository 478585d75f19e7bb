// Shared declarations of the LoRA kernels (lora_shrink.wgsl, lora_expand.wgsl).
// Rows are grouped one of two ways (Punica):
//   SGMV (prefill): segment s covers rows [segIndptr[s], segIndptr[s+1]) which all use slot segSlot[s];
//                   workgroup (x, s, t) handles rows segIndptr[s] + t*ROWS .. + ROWS of segment s.
//   BGMV (decode):  row r uses slot rowSlot[r]; workgroup (x, r) handles row r alone.
// A slot < 0 means "no adapter": those rows do no work.
// Slot metadata: info[slot * infoStride] = bitcast<u32>(scale),
//                info[slot * infoStride + 1 + layer * 7 + projection] = rank (0 = projection not targeted).

struct Params {
  inFeatures: u32,  // K: elements per row of A (shrink input size, zero-padded to a multiple of 8)
  outFeatures: u32, // N: elements per row of B^T (expand output size, zero-padded to a multiple of 4)
  maxRank: u32,     // rows of A and of B^T reserved per slot; also the row stride of v (elements)
  infoStride: u32,  // u32 words of info per slot
  infoIndex: u32,   // word of this (layer, projection)'s rank within a slot's info
  xStride: u32,     // elements between rows of x (multiple of 4)
  xOffset: u32,     // element of x holding feature 0 (multiple of 4)
  yStride: u32,     // elements between rows of y
  yOffset: u32,     // element of y receiving output feature 0
  outValid: u32,    // output features actually written (<= outFeatures)
  _pad1: u32,
  _pad2: u32,
}

struct LoraRows {
  rows: u32,     // rows listed in rowSlot (BGMV)
  segments: u32, // segments listed in segIndptr / segSlot (SGMV)
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> loraRows: LoraRows;
@group(0) @binding(2) var<storage, read> info: array<u32>; // [slots, infoStride] u32
#if SGMV
@group(0) @binding(6) var<storage, read> segIndptr: array<u32>; // [segments + 1] row index
@group(0) @binding(7) var<storage, read> segSlot: array<i32>;   // [segments] slot or -1
#else
@group(0) @binding(6) var<storage, read> rowSlot: array<i32>;   // [rows] slot or -1
#endif

const ROWS = ${ROWS}u; // rows per workgroup sharing each weight load (1 for BGMV)

// The rows [begin, end) and slot of workgroup `wg`; end == begin when it has no work.
struct Tile {
  begin: u32,
  end: u32,
  slot: i32,
}

fn tileOf(wg: vec3<u32>) -> Tile {
  var t = Tile(0u, 0u, -1);
#if SGMV
  if (wg.y < loraRows.segments) {
    let segEnd = segIndptr[wg.y + 1u];
    t.begin = min(segIndptr[wg.y] + wg.z * ROWS, segEnd);
    t.end = min(t.begin + ROWS, segEnd);
    t.slot = segSlot[wg.y];
  }
#else
  if (wg.y < loraRows.rows) {
    t.begin = wg.y;
    t.end = wg.y + 1u;
    t.slot = rowSlot[wg.y];
  }
#endif
  if (t.slot < 0) {
    t.end = t.begin;
  }
  return t;
}

// Rank of this tile's (slot, layer, projection); 0 when the tile has no work.
fn tileRank(t: Tile) -> u32 {
  if (t.end <= t.begin) {
    return 0u;
  }
  return info[u32(t.slot) * params.infoStride + params.infoIndex];
}
