// Token choice on the GPU, one workgroup per output row, following src/engine/sampling.ts:
// logprob at temperature 1 (and the row's top logprobs), then the row's sparse logit adjustments
// (bias, penalties) added in place and its token mask applied; greedy = argmax over allowed tokens
// (ties to the lower id); otherwise q = exp((z' - max) / T), top-k then top-p cut in (q desc, id
// asc) order, and an inverse-CDF draw walking kept tokens in id order with u = uniform(seed, step).
// The cuts are found without sorting: bisection over the bits of q (monotone for q >= 0) gives the
// cut value, a second bisection over ids breaks ties at that value. Each probe is one pass over
// the vocabulary, so a cut costs ~31 + log2(vocab) passes. The top logprobs are such a count cut
// over the raw distribution.
#include "step.wgsl"

struct Params {
  vocab: u32, // logits per row
  maskWords: u32, // u32 words of one row's mask: ceil(vocab / 32)
  _pad1: u32,
  _pad2: u32,
}

// One output row, OUT_ROW_WORDS u32: [srcRow, mode, goal, topK, temperature (f32 bits), topP (f32 bits), seed, step,
// maskRow (row in masks, NO_ID: none), adjustStart, adjustCount, topLogprobs].
const OUT_ROW_WORDS = ${OUT_ROW_WORDS}u; // passPlan.ts
const MODE_TARGET = 0u; // logprob of a given token (teacher forcing)
const MODE_GREEDY = 1u;
const MODE_SAMPLE = 2u;
const NO_ID = 0xffffffffu;
const MAX_TOP = 20u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> outRows: array<u32>;        // [outRows, OUT_ROW_WORDS] u32
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;   // [outRows, vocab] f32, adjusted in place
@group(0) @binding(4) var<storage, read_write> result: array<u32>;   // [outRows, 2]: token, logprob (f32 bits)
@group(0) @binding(5) var<storage, read> masks: array<u32>;          // [mask rows, maskWords] u32, bit t = token t allowed
@group(0) @binding(6) var<storage, read_write> adjust: array<u32>;   // [entries, 4]: token, delta (f32 bits), raw logit (written here), 0
@group(0) @binding(7) var<storage, read_write> top: array<u32>;      // [outRows, MAX_TOP, 2]: token, logprob (f32 bits), unordered

var<workgroup> redF: array<f32, 256>;
var<workgroup> redI: array<u32, 256>;
var<workgroup> bcastF: f32;
var<workgroup> bcastI: u32;
var<workgroup> chosen: atomic<u32>;
var<workgroup> lastKept: atomic<u32>;
var<workgroup> topCount: atomic<u32>;
var<workgroup> rawChosen: f32;

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
var<private> maskBase: u32; // NO_ID: every token allowed

fn qOf(j: u32) -> f32 {
  return exp((logits[rowBase + j] - zmax) / temperature);
}

fn allowed(j: u32) -> bool {
  if (maskBase == NO_ID) {
    return true;
  }
  return ((masks[maskBase + (j >> 5u)] >> (j & 31u)) & 1u) == 1u;
}

// True when token j (with key = bits of q) comes before or at the cut (cb, cid) in (q desc, id asc) order.
fn within(key: u32, j: u32, cb: u32, cid: u32) -> bool {
  return key > cb || (key == cb && j <= cid);
}

// Count (or mass of q) of allowed tokens within cut (cb, cid) that are also within (tau, idLim).
fn measure(useMass: bool, tau: u32, idLim: u32, cb: u32, cid: u32, lid: u32) -> f32 {
  var s = 0.0;
  for (var j = lid; j < params.vocab; j += 256u) {
    let q = qOf(j);
    let key = bitcast<u32>(q);
    if (allowed(j) && within(key, j, cb, cid) && within(key, j, tau, idLim)) {
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

// Max of the allowed logits and its lowest id (NO_ID when none), shared by the workgroup.
fn maxAllowed(lid: u32) -> vec2<u32> {
  var best = -3.4e38;
  var bestId = NO_ID;
  for (var j = lid; j < params.vocab; j += 256u) {
    let z = logits[rowBase + j];
    if (allowed(j) && (z > best || bestId == NO_ID)) {
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
  let m = workgroupUniformLoad(&bcastF);
  return vec2<u32>(bitcast<u32>(m), workgroupUniformLoad(&bcastI));
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let o = wg.x;
  if (o >= step.outRows) {
    return;
  }
  let info = o * OUT_ROW_WORDS;
  let mode = outRows[info + 1u];
  let vocab = params.vocab;
  rowBase = o * vocab;
  maskBase = NO_ID;

  // Raw max and argmax (ties to the lower id), log-sum-exp at temperature 1.
  let raw = maxAllowed(lid);
  zmax = bitcast<f32>(raw.x);
  var s = 0.0;
  for (var j = lid; j < vocab; j += 256u) {
    s += exp(logits[rowBase + j] - zmax);
  }
  let lse = zmax + log(sumAll(s, lid));

  // The top logprobs of the raw distribution: a count cut at temperature 1, collected unordered.
  let topN = min(outRows[info + 11u], MAX_TOP);
  if (topN > 0u) {
    temperature = 1.0;
    var c = vec2<u32>(0u, NO_ID);
    if (topN < vocab) {
      c = cut(false, f32(topN), 0u, NO_ID, lid);
    }
    if (lid == 0u) {
      atomicStore(&topCount, 0u);
    }
    workgroupBarrier();
    for (var j = lid; j < vocab; j += 256u) {
      if (within(bitcast<u32>(qOf(j)), j, c.x, c.y)) {
        let slot = atomicAdd(&topCount, 1u);
        if (slot < MAX_TOP) {
          top[(o * MAX_TOP + slot) * 2u] = j;
          top[(o * MAX_TOP + slot) * 2u + 1u] = bitcast<u32>(logits[rowBase + j] - lse);
        }
      }
    }
  }

  var token = raw.y;
  if (mode == MODE_TARGET) {
    token = min(outRows[info + 2u], vocab - 1u);
  } else {
    // z' = z + delta for the row's adjustments (the raw value kept beside each), then the mask.
    let adjustStart = outRows[info + 9u];
    let adjustCount = outRows[info + 10u];
    if (adjustCount > 0u) {
      storageBarrier();
      workgroupBarrier();
      for (var e = lid; e < adjustCount; e += 256u) {
        let a = (adjustStart + e) * 4u;
        let t = adjust[a];
        let z = logits[rowBase + t];
        adjust[a + 2u] = bitcast<u32>(z);
        logits[rowBase + t] = z + bitcast<f32>(adjust[a + 1u]);
      }
      storageBarrier();
      workgroupBarrier();
    }
    let maskRow = outRows[info + 8u];
    if (maskRow != NO_ID) {
      maskBase = maskRow * params.maskWords;
    }
    var best = raw;
    if (adjustCount > 0u || maskRow != NO_ID) {
      best = maxAllowed(lid);
    }
    zmax = bitcast<f32>(best.x);
    token = best.y;
    if (mode == MODE_SAMPLE) {
      temperature = bitcast<f32>(outRows[info + 4u]);
      let topK = outRows[info + 3u];
      let topP = bitcast<f32>(outRows[info + 5u]);
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
      let goal = uniform01(outRows[info + 6u], outRows[info + 7u]) * total;
      let per = (vocab + 255u) / 256u;
      let j0 = min(lid * per, vocab);
      let j1 = min(j0 + per, vocab);
      var own = 0.0;
      for (var j = j0; j < j1; j++) {
        let q = qOf(j);
        if (allowed(j) && within(bitcast<u32>(q), j, cb, cid)) {
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
        if (allowed(j) && within(bitcast<u32>(q), j, cb, cid)) {
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
    // The chosen token's raw logit: its adjustment entry's, if it has one.
    if (lid == 0u) {
      rawChosen = logits[rowBase + token];
    }
    workgroupBarrier();
    for (var e = lid; e < adjustCount; e += 256u) {
      let a = (adjustStart + e) * 4u;
      if (adjust[a] == token) {
        rawChosen = bitcast<f32>(adjust[a + 2u]);
      }
    }
    workgroupBarrier();
    if (lid == 0u) {
      result[o * 2u] = token;
      result[o * 2u + 1u] = bitcast<u32>(rawChosen - lse);
    }
    return;
  }
  if (lid == 0u) {
    result[o * 2u] = token;
    result[o * 2u + 1u] = bitcast<u32>(logits[rowBase + token] - lse);
  }
}
