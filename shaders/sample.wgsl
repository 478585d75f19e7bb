// Token choice on the GPU, one workgroup per output row, following src/engine/sampling.ts:
// logprob at temperature 1; greedy = argmax (ties to the lower id); otherwise
// q = exp((z - max) / T), top-k then top-p cut in (q desc, id asc) order, and an inverse-CDF draw
// walking kept tokens in id order with u = uniform(seed, step).
// The cuts are found without sorting: bisection over the bits of q (monotone for q >= 0) gives the
// cut value, a second bisection over ids breaks ties at that value. Each probe is one pass over
// the vocabulary, so a cut costs ~31 + log2(vocab) passes.
#include "step.wgsl"

struct Params {
  vocab: u32, // logits per row
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

// One output row: [srcRow, mode, goal, topK, temperature (f32 bits), topP (f32 bits), seed, step].
const MODE_TARGET = 0u; // logprob of a given token (teacher forcing)
const MODE_GREEDY = 1u;
const MODE_SAMPLE = 2u;
const NO_ID = 0xffffffffu;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> outRows: array<u32>;       // [outRows, 8] u32
@group(0) @binding(3) var<storage, read> logits: array<f32>;        // [outRows, vocab] f32
@group(0) @binding(4) var<storage, read_write> result: array<u32>;  // [outRows, 2]: token, logprob (f32 bits)

var<workgroup> redF: array<f32, 256>;
var<workgroup> redI: array<u32, 256>;
var<workgroup> bcastF: f32;
var<workgroup> bcastI: u32;
var<workgroup> chosen: atomic<u32>;
var<workgroup> lastKept: atomic<u32>;

fn pcg_hash(x: u32) -> u32 {
  let state = x * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn uniform01(seed: u32, stepIndex: u32) -> f32 {
  return f32(pcg_hash(pcg_hash(seed) ^ stepIndex) >> 8u) / 16777216.0;
}

fn sumAll(v: f32, lid: u32) -> f32 {
  redF[lid] = v;
  workgroupBarrier();
  for (var m = 128u; m > 0u; m >>= 1u) {
    if (lid < m) {
      redF[lid] += redF[lid + m];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    bcastF = redF[0];
  }
  return workgroupUniformLoad(&bcastF);
}

// Row state shared by the passes.
var<private> rowBase: u32;
var<private> zmax: f32;
var<private> temperature: f32;

fn qOf(j: u32) -> f32 {
  return exp((logits[rowBase + j] - zmax) / temperature);
}

// True when token j (with key = bits of q) comes before or at the cut (cb, cid) in (q desc, id asc) order.
fn within(key: u32, j: u32, cb: u32, cid: u32) -> bool {
  return key > cb || (key == cb && j <= cid);
}

// Count (or mass of q) of tokens within cut (cb, cid) that are also within (tau, idLim).
fn measure(useMass: bool, tau: u32, idLim: u32, cb: u32, cid: u32, lid: u32) -> f32 {
  var s = 0.0;
  for (var j = lid; j < params.vocab; j += 256u) {
    let q = qOf(j);
    let key = bitcast<u32>(q);
    if (within(key, j, cb, cid) && within(key, j, tau, idLim)) {
      s += select(1.0, q, useMass);
    }
  }
  return sumAll(s, lid);
}

// Cut holding the first `need` (count or mass) of the tokens within (cb, cid): bisection over q's
// bits for the cut value, then over ids for ties at it. Returns (cutBits, cutId).
fn cut(useMass: bool, need: f32, cb: u32, cid: u32, lid: u32) -> vec2<u32> {
  var lo = 0u;          // measure(>= lo) >= need holds
  var hi = 0x7f800001u; // measure(>= hi) == 0 < need
  while (hi - lo > 1u) {
    let mid = lo + (hi - lo) / 2u;
    if (measure(useMass, mid, NO_ID, cb, cid, lid) >= need) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  var a = 0u;
  var b = params.vocab - 1u;
  while (a < b) {
    let mid = a + (b - a) / 2u;
    if (measure(useMass, lo, mid, cb, cid, lid) >= need) {
      b = mid;
    } else {
      a = mid + 1u;
    }
  }
  return vec2<u32>(lo, a);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let o = wg.x;
  if (o >= step.outRows) {
    return;
  }
  let mode = outRows[o * 8u + 1u];
  let vocab = params.vocab;
  rowBase = o * vocab;

  // Max and argmax (ties to the lower id).
  var best = -3.4e38;
  var bestId = NO_ID;
  for (var j = lid; j < vocab; j += 256u) {
    let z = logits[rowBase + j];
    if (z > best || bestId == NO_ID) {
      best = z;
      bestId = j;
    }
  }
  redF[lid] = best;
  redI[lid] = bestId;
  workgroupBarrier();
  for (var m = 128u; m > 0u; m >>= 1u) {
    if (lid < m) {
      let z = redF[lid + m];
      let i = redI[lid + m];
      if (i != NO_ID && (redI[lid] == NO_ID || z > redF[lid] || (z == redF[lid] && i < redI[lid]))) {
        redF[lid] = z;
        redI[lid] = i;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    bcastF = redF[0];
    bcastI = redI[0];
  }
  zmax = workgroupUniformLoad(&bcastF);
  let argmaxId = workgroupUniformLoad(&bcastI);

  // log-sum-exp at temperature 1.
  var s = 0.0;
  for (var j = lid; j < vocab; j += 256u) {
    s += exp(logits[rowBase + j] - zmax);
  }
  let lse = zmax + log(sumAll(s, lid));

  var token = argmaxId;
  if (mode == MODE_TARGET) {
    token = min(outRows[o * 8u + 2u], vocab - 1u);
  } else if (mode == MODE_SAMPLE) {
    temperature = bitcast<f32>(outRows[o * 8u + 4u]);
    let topK = outRows[o * 8u + 3u];
    let topP = bitcast<f32>(outRows[o * 8u + 5u]);
    var cb = 0u;
    var cid = NO_ID;
    if (topK > 0u && topK < vocab) {
      let c = cut(false, f32(topK), cb, cid, lid);
      cb = c.x;
      cid = c.y;
    }
    if (topP < 1.0) {
      let kept = measure(true, 0u, NO_ID, cb, cid, lid);
      // At least one token is kept: a non-positive need still keeps the first candidate.
      let need = max(topP * kept, 1.0e-30);
      let c = cut(true, need, cb, cid, lid);
      cb = c.x;
      cid = c.y;
    }
    // Inverse CDF in id order: each invocation owns a contiguous id range; exclusive scan of
    // the ranges' masses, then the range holding the crossing walks it.
    let total = measure(true, 0u, NO_ID, cb, cid, lid);
    let goal = uniform01(outRows[o * 8u + 6u], outRows[o * 8u + 7u]) * total;
    let per = (vocab + 255u) / 256u;
    let j0 = min(lid * per, vocab);
    let j1 = min(j0 + per, vocab);
    var own = 0.0;
    for (var j = j0; j < j1; j++) {
      let q = qOf(j);
      if (within(bitcast<u32>(q), j, cb, cid)) {
        own += q;
      }
    }
    redF[lid] = own;
    if (lid == 0u) {
      atomicStore(&chosen, NO_ID);
      atomicStore(&lastKept, 0u);
    }
    workgroupBarrier();
    for (var m = 1u; m < 256u; m <<= 1u) {
      let add = select(0.0, redF[lid - m], lid >= m);
      workgroupBarrier();
      redF[lid] += add;
      workgroupBarrier();
    }
    var acc = redF[lid] - own; // exclusive prefix
    for (var j = j0; j < j1; j++) {
      let q = qOf(j);
      if (within(bitcast<u32>(q), j, cb, cid)) {
        acc += q;
        atomicMax(&lastKept, j);
        if (acc > goal) {
          atomicMin(&chosen, j);
          break;
        }
      }
    }
    workgroupBarrier();
    let c = atomicLoad(&chosen);
    token = select(c, atomicLoad(&lastKept), c == NO_ID);
  }
  if (lid == 0u) {
    result[o * 2u] = token;
    result[o * 2u + 1u] = bitcast<u32>(logits[rowBase + token] - lse);
  }
}
