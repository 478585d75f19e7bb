// LoRA shrink of one fused projection, all its members at once:
//   v[row, m · VM + t] = sum_k A[slot, m, t, k] · x'[row, k]   for t < rank(slot, m), 0 for rank <= t < R,
// x' = x, or with NORM the RMS-normalized x (gain at vecs[normAt]) as the projection's prologue
// computes it. The expand (+ scale · B v) is the projection's epilogue (linear.wgsl, LORA).
// Work comes as tiles of up to TILE consecutive rows with one slot (tiles[i] = begin, count,
// slot), so rows of one adapter (a prefill chunk) share each A load (SGMV) and rows of different
// adapters each get their own tile (BGMV), in one dispatch. Outputs j = m · R + t, R = the pass's
// largest rank rounded up to B's rank rounding (4, or 8 for f16 B loaded 8 halves at a time; the
// expand reads v to there) (loraRows.rank), VM = the pool's v elements per member (vMember).
// Dispatch: (ceil(members · R / OPW), tiles).
// A: [slots, members · R4, K] f32 (vec4<f32>) or f16 (F16: vec4<u32>, 8 halves), member m's rows at
// m · r4 of its slot (r4 = its rank rounded up to 4: aRow); x: [rows, xStride] f32.
// PAGES (unified memory): A lies in the layer's K buffer cut along K into runs, a run of features
// [lo, hi) holding A's rows cut to those columns ([rank, hi - lo]), found through the slot's run
// table in info (src/engine/webgpu/lora/pagePool.ts); each 8 elements are summed as the padded
// slots' are, so both give the same v.
// CPU (lavapipe): one invocation per output walks all of K; else TPO invocations per output split
// K and reduce through workgroup memory.
// BCAST (lavapipe with 8-wide subgroups): a workgroup is one subgroup, one output per lane; the 8
// lanes load a chunk of x together and broadcast it (each 32-bit word a lane loads costs a loop
// over the lanes there, so x costs 1 word per lane and chunk instead of 8), the norm's squares
// come from those same loads (no prologue, no barrier), and a tile of one row (decode rows of
// distinct adapters) runs a one-row loop instead of the TILE-row one.
// PAIR (with BCAST, padded slots): each lane computes outputs j and j + 8, so each x word it
// loads and broadcasts (and each gain word) serves 2 rows of A.
#if BCAST
enable subgroups;
#endif
#include "weights.wgsl"

struct Params {
  k: u32,          // elements per row of A (the input size rounded up to 8)
  r4: u32,         // R4: A rows per (slot, member)
  members: u32,
  infoStride: u32, // u32 words of info per slot
  rank0: u32,      // word of member 0's rank in a slot's info (1, 2: rank1, rank2)
  rank1: u32,
  rank2: u32,
  xStride: u32,    // elements between rows of x (multiple of 4)
  xOffset: u32,    // element of x holding feature 0 (multiple of 4)
  vStride: u32,    // elements between rows of v
  normWidth: u32,  // NORM: elements averaged
  eps: f32,        // NORM: variance epsilon
  normAt: u32,     // NORM: index of gain[0] in vecs (multiple of 4)
  tableAt: u32,    // PAGES: word of a slot's info where its run table starts
  vMember: u32,    // elements of v per member (maxRank rounded up to B's rank rounding)
  _pad2: u32,
}

struct LoraRows {
  tiles: u32, // tiles listed in `tiles`
  rank: u32,  // largest rank of the pass's adapters, rounded up to B's rank rounding (4 or 8)
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> loraRows: LoraRows;
@group(0) @binding(2) var<storage, read> info: array<u32>; // [slots, infoStride]
#if PAGES
@group(0) @binding(3) var<storage, read> a: array<f32>; // the layer's K buffer: A's runs [rank, features] f32 (lora/pagePool.ts)
#else
#if F16
@group(0) @binding(3) var<storage, read> a: array<vec4<u32>>; // [slots, members · R4, K / 8] packed f16 (aRow)
#else
@group(0) @binding(3) var<storage, read> a: array<vec4<f32>>; // [slots, members · R4, K / 4] f32 (aRow)
#endif
#endif
#if BCAST
// One f32 per load (on lavapipe each 32-bit word a lane loads costs alike).
@group(0) @binding(4) var<storage, read> xs: array<f32>;        // [rows, xStride] f32
#else
@group(0) @binding(4) var<storage, read> x: array<vec4<f32>>;   // [rows, xStride / 4] f32
#endif
@group(0) @binding(5) var<storage, read_write> v: array<f32>;   // [rows, vStride] f32
@group(0) @binding(6) var<storage, read> tiles: array<vec4<u32>>; // [tiles] (begin, count, slot, 0)
#if BCAST
@group(0) @binding(7) var<storage, read> vecs: array<f32>;      // NORM: the gain
#else
@group(0) @binding(7) var<storage, read> vecs: array<vec4<f32>>; // NORM: the gain
#endif

const TILE = ${TILE}u; // rows per tile at most
const WG = ${WG}u;
#if CPU
const TPO = 1u;
#else
const TPO = ${TPO}u; // invocations per output
var<workgroup> red: array<f32, WG * TILE>;
#endif
#if PAIR
const OPW = 2u * WG / TPO; // outputs per workgroup: 2 per invocation (BCAST only)
#else
const OPW = WG / TPO; // outputs per workgroup
#endif

#if NORM
#if !BCAST
var<workgroup> normRed: array<f32, WG * TILE>;
#endif
#endif

#if !PAGES
// 8 elements of A at (row index of A, chunk c).
// Row t of member m's A in a padded slot: the slot's members sit compact at the adapter's rank
// rounded to 4 (m · r4, not m · R4), so a fused projection's A is one region of the slot image.
fn aRow(slot: u32, m: u32, rank: u32, t: u32) -> u32 {
  return slot * params.members * params.r4 + m * ((rank + 3u) & ~3u) + t;
}

fn aChunk(rowIndex: u32, c: u32) -> array<vec4<f32>, 2> {
#if F16
  let p = a[rowIndex * (params.k / 8u) + c];
  return array<vec4<f32>, 2>(vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y)), vec4<f32>(unpack2x16float(p.z), unpack2x16float(p.w)));
#else
  let i = rowIndex * (params.k / 4u) + 2u * c;
  return array<vec4<f32>, 2>(a[i], a[i + 1u]);
#endif
}
#else
// A cursor over a member's A runs (in order of input feature): [lo, hi) at `base`.
struct Cursor {
  run: u32,
  runsEnd: u32,
  lo: u32,
  hi: u32,
  base: u32,
}

// The cursor of the member whose rank is word `rankWord` of the slot's info at word `s`.
fn pageCursor(s: u32, rankWord: u32) -> Cursor {
  let header = s + params.tableAt + 4u * (rankWord - 1u);
  let run = s + info[header];
  let lo = info[run];
  return Cursor(run, run + 3u * info[header + 1u], lo, lo + info[run + 1u], info[run + 2u]);
}

// Moves the cursor to the run holding input feature k (or the last run).
fn advance(cur: ptr<function, Cursor>, k: u32) {
  while (k >= (*cur).hi && (*cur).run + 3u < (*cur).runsEnd) {
    (*cur).run += 3u;
    (*cur).lo = info[(*cur).run];
    (*cur).hi = (*cur).lo + info[(*cur).run + 1u];
    (*cur).base = info[(*cur).run + 2u];
  }
}

// 8 elements of A's row t at chunk c (chunks in increasing order). Features past the input (k's
// padding to 8) read 0, as the padded slots' zero columns. When the 8 lie in one run (runs of a
// multiple of 8 features, the usual case) they are read straight, with no check per element.
fn pageChunk(cur: ptr<function, Cursor>, t: u32, c: u32) -> array<vec4<f32>, 2> {
  advance(cur, 8u * c);
  if (8u * c + 8u <= (*cur).hi) {
    let i = (*cur).base + t * ((*cur).hi - (*cur).lo) + 8u * c - (*cur).lo;
    return array<vec4<f32>, 2>(vec4<f32>(a[i], a[i + 1u], a[i + 2u], a[i + 3u]), vec4<f32>(a[i + 4u], a[i + 5u], a[i + 6u], a[i + 7u]));
  }
  var e: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) {
    let k = 8u * c + i;
    advance(cur, k);
    e[i] = select(0.0, a[(*cur).base + t * ((*cur).hi - (*cur).lo) + k - (*cur).lo], k < (*cur).hi);
  }
  return array<vec4<f32>, 2>(vec4<f32>(e[0], e[1], e[2], e[3]), vec4<f32>(e[4], e[5], e[6], e[7]));
}
#endif

// Whether any of the workgroup's outputs [j0, j0 + OPW) is below its member's rank in slot info
// word `s` (uniform: the same for every invocation), so a workgroup wholly past the adapter's
// ranks (its tile's adapter smaller than the pass's largest) returns before loading anything.
fn groupWorks(j0: u32, s: u32, rr: u32) -> bool {
  for (var m = 0u; m < params.members; m++) {
    let rankWord = select(select(params.rank0, params.rank1, m == 1u), params.rank2, m == 2u);
    let lo = m * rr;
    if (j0 < lo + info[s + rankWord] && lo < j0 + OPW) {
      return true;
    }
  }
  return false;
}

// Whether workgroup `wg` has work: a tile of the pass, and an output below its adapter's ranks
// (the expand reads v only below the rank rounded to B's rounding, 4 or 8, written by the workgroup
// of the rank's last output: OPW and R are multiples of that rounding).
fn workgroupWorks(wg: vec3<u32>) -> bool {
  return wg.y < loraRows.tiles && groupWorks(wg.x * OPW, tiles[wg.y].z * params.infoStride, loraRows.rank);
}

#if !BCAST
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  if (!workgroupWorks(wg)) {
    return; // uniform per workgroup
  }
  let tile = tiles[wg.y];
  let begin = tile.x;
  let last = tile.x + tile.y - 1u;
  let slot = tile.z;
  let xs = params.xStride / 4u;
  let xo = params.xOffset / 4u;
#unroll R TILE
  let x${R} = min(begin + ${R}u, last) * xs + xo;
#endunroll
#if NORM
  // 1 / rms of the tile's rows (every invocation takes part).
  {
#unroll R TILE
    var s${R} = 0.0;
#endunroll
    for (var i = lid; i < (params.normWidth + 3u) / 4u; i += WG) {
#unroll R TILE
      let e${R} = x[x${R} + i];
      s${R} += dot(e${R}, e${R});
#endunroll
    }
#unroll R TILE
    normRed[${R}u * WG + lid] = s${R};
#endunroll
  }
  workgroupBarrier();
#unroll R TILE
  var inv${R} = 0.0;
#endunroll
  for (var t = 0u; t < WG; t++) {
#unroll R TILE
    inv${R} += normRed[${R}u * WG + t];
#endunroll
  }
#unroll R TILE
  inv${R} = 1.0 / sqrt(inv${R} / f32(params.normWidth) + params.eps);
#endunroll
#endif
  let lane = lid % TPO;
  let j = wg.x * OPW + lid / TPO;
  let rr = loraRows.rank;
  let m = j / max(rr, 1u);
  let t = j % max(rr, 1u);
  let s = slot * params.infoStride;
  let rankWord = select(select(params.rank0, params.rank1, m == 1u), params.rank2, m == 2u);
  let rank = select(0u, info[s + rankWord], m < params.members);
  let working = j < params.members * rr && t < rank;
#unroll R TILE
  var acc${R} = 0.0;
#endunroll
  if (working) {
#if PAGES
    var cur = pageCursor(s, rankWord);
#else
    let rowIndex = aRow(slot, m, rank, t);
#endif
    for (var c = lane; c < params.k / 8u; c += TPO) {
#if PAGES
      let w = pageChunk(&cur, t, c);
#else
      let w = aChunk(rowIndex, c);
#endif
#if NORM
      let ga = vecs[params.normAt / 4u + 2u * c];
      let gb = vecs[params.normAt / 4u + 2u * c + 1u];
#endif
#unroll R TILE
#if NORM
      acc${R} += dot(w[0], x[x${R} + 2u * c] * ga) + dot(w[1], x[x${R} + 2u * c + 1u] * gb);
#else
      acc${R} += dot(w[0], x[x${R} + 2u * c]) + dot(w[1], x[x${R} + 2u * c + 1u]);
#endif
#endunroll
    }
  }
#if !CPU
#unroll R TILE
  red[${R}u * WG + lid] = acc${R};
#endunroll
  workgroupBarrier();
  for (var h = TPO / 2u; h > 0u; h >>= 1u) {
    if (lane < h) {
#unroll R TILE
      red[${R}u * WG + lid] += red[${R}u * WG + lid + h];
#endunroll
    }
    workgroupBarrier();
  }
#unroll R TILE
  acc${R} = red[${R}u * WG + lid];
#endunroll
#endif
  if (lane != 0u || j >= params.members * rr) {
    return;
  }
  // Past the adapter's rank (or an untargeted member): 0, so the expand's rank padding adds nothing.
#unroll R TILE
  if (${R}u < tile.y) {
#if NORM
    v[(begin + ${R}u) * params.vStride + m * params.vMember + t] = select(0.0, acc${R} * inv${R}, working);
#else
    v[(begin + ${R}u) * params.vStride + m * params.vMember + t] = select(0.0, acc${R}, working);
#endif
  }
#endunroll
}
#endif

#if BCAST
// x[i] · g of each of the 8 lanes, on every lane.
fn xBroadcast(i: u32, g: f32) -> array<vec4<f32>, 2> {
  let xv = xs[i] * g;
  return array<vec4<f32>, 2>(vec4<f32>(subgroupBroadcast(xv, 0u), subgroupBroadcast(xv, 1u), subgroupBroadcast(xv, 2u), subgroupBroadcast(xv, 3u)),
                             vec4<f32>(subgroupBroadcast(xv, 4u), subgroupBroadcast(xv, 5u), subgroupBroadcast(xv, 6u), subgroupBroadcast(xv, 7u)));
}

// Squares of x[i] (0 past the norm's width), summed per lane for NORM.
fn square(i: u32, k: u32) -> f32 {
  let e = select(0.0, xs[i], k < params.normWidth);
  return e * e;
}

// The gain of input feature k (1 without NORM).
fn gain(k: u32) -> f32 {
#if NORM
  return vecs[params.normAt + k];
#else
  return 1.0;
#endif
}

@compute @workgroup_size(8)
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  if (!workgroupWorks(wg)) {
    return; // uniform per workgroup
  }
  let tile = tiles[wg.y];
  let begin = tile.x;
  let last = tile.x + tile.y - 1u;
  let slot = tile.z;
  let rr = loraRows.rank;
  let j = wg.x * OPW + lane;
  let m = j / max(rr, 1u);
  let t = j % max(rr, 1u);
  let s = slot * params.infoStride;
  let rankWord = select(select(params.rank0, params.rank1, m == 1u), params.rank2, m == 2u);
  let rank = select(0u, info[s + rankWord], m < params.members);
  let working = j < params.members * rr && t < rank;
#if PAIR
  let jP = j + 8u;
  let mP = jP / max(rr, 1u);
  let tP = jP % max(rr, 1u);
  let rankP = select(0u, info[s + select(select(params.rank0, params.rank1, mP == 1u), params.rank2, mP == 2u)], mP < params.members);
  let workingP = jP < params.members * rr && tP < rankP;
  let rowIndexP = aRow(slot, mP, rankP, tP);
#endif
#if PAGES
  var cur = Cursor(0u, 0u, 0u, 0u, 0u);
  if (working) {
    cur = pageCursor(s, rankWord);
  }
#else
  let rowIndex = aRow(slot, m, rank, t);
#endif
  let chunks = params.k / 8u;
#unroll R TILE
  let x${R} = min(begin + ${R}u, last) * params.xStride + params.xOffset + lane;
  var acc${R} = 0.0;
  var accP${R} = 0.0;
  var sq${R} = 0.0;
#endunroll
  // Every lane runs every chunk (the broadcasts need the whole subgroup); only working lanes load A.
  if (tile.y == 1u) {
    for (var c = 0u; c < chunks; c++) {
      var w = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
      if (working) {
#if PAGES
        w = pageChunk(&cur, t, c);
#else
        w = aChunk(rowIndex, c);
#endif
      }
#if PAIR
      var wP = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
      if (workingP) {
        wP = aChunk(rowIndexP, c);
      }
#endif
      let k = 8u * c + lane;
      let xb = xBroadcast(x0 + 8u * c, gain(k));
      acc0 += dot(w[0], xb[0]) + dot(w[1], xb[1]);
#if PAIR
      accP0 += dot(wP[0], xb[0]) + dot(wP[1], xb[1]);
#endif
#if NORM
      sq0 += square(x0 + 8u * c, k);
#endif
    }
  } else {
    for (var c = 0u; c < chunks; c++) {
      var w = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
      if (working) {
#if PAGES
        w = pageChunk(&cur, t, c);
#else
        w = aChunk(rowIndex, c);
#endif
      }
#if PAIR
      var wP = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
      if (workingP) {
        wP = aChunk(rowIndexP, c);
      }
#endif
      let k = 8u * c + lane;
      let g = gain(k);
#unroll R TILE
      let xb${R} = xBroadcast(x${R} + 8u * c, g);
      acc${R} += dot(w[0], xb${R}[0]) + dot(w[1], xb${R}[1]);
#if PAIR
      accP${R} += dot(wP[0], xb${R}[0]) + dot(wP[1], xb${R}[1]);
#endif
#if NORM
      sq${R} += square(x${R} + 8u * c, k);
#endif
#endunroll
    }
  }
#if NORM
#unroll R TILE
  let inv${R} = 1.0 / sqrt(subgroupAdd(sq${R}) / f32(params.normWidth) + params.eps);
  acc${R} *= inv${R};
  accP${R} *= inv${R};
#endunroll
#endif
#if PAIR
#unroll R TILE
  if (${R}u < tile.y && jP < params.members * rr) {
    v[(begin + ${R}u) * params.vStride + mP * params.vMember + tP] = select(0.0, accP${R}, workingP);
  }
#endunroll
#endif
  if (j >= params.members * rr) {
    return;
  }
  // Past the adapter's rank (or an untargeted member): 0, so the expand's rank padding adds nothing.
#unroll R TILE
  if (${R}u < tile.y) {
    v[(begin + ${R}u) * params.vStride + m * params.vMember + t] = select(0.0, acc${R}, working);
  }
#endunroll
}
#endif
