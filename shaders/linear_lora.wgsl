// Fragment of linear.wgsl (LORA): the LoRA expand, fused into the epilogue. Each row adds
// scale · B (A x) of its adapter slot (rowInfo[r].slot): v = A x comes from the shrink kernel
// (lora_shrink.wgsl), B is read here. LORA_PAGES (unified memory): B's rows lie in runs in the
// layer's V buffer, found through the slot's run table in info (src/engine/webgpu/lora/pagePool.ts);
// LORA_F16: B held as f16; LORA_B8 (with it): at the rank rounded to 8, loaded 8 halves at a time
// (one vec4<u32>: on lavapipe a load costs per lane whatever its width). The epilogue asks loraDeltas for a row's OPL weight rows at once
// (LORA_PER_WEIGHT_ROW: loraDelta per weight row, as before, to measure the difference).
@group(0) @binding(6) var<storage, read> rowInfo: array<RowInfo>; // [rows]: the adapter slot of each row
@group(0) @binding(7) var<storage, read> info: array<u32>;        // [slots, infoStride]: scale bits, ranks
@group(0) @binding(8) var<storage, read> v: array<vec4<f32>>;     // [rows, vStride / 4]: A x per member
#if LORA_PAGES
@group(0) @binding(9) var<storage, read> b: array<f32>;           // the layer's V buffer: B's runs [rows, rank] f32 (lora/pagePool.ts)
#else
#if LORA_B8
const B_RANKS = 8u; // ranks per load of B
@group(0) @binding(9) var<storage, read> b: array<vec4<u32>>;     // [slots, columns, rank rounded to 8] f16
// acc + B's 8 ranks at i · v0 (ranks 0-3), then · v1 (4-7): the sums and order of two 4-rank steps.
fn bAcc(acc: vec4<f32>, i: u32, v0: vec4<f32>, v1: vec4<f32>) -> vec4<f32> {
  let p = b[i];
  let lo = acc + vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y)) * v0;
  return lo + vec4<f32>(unpack2x16float(p.z), unpack2x16float(p.w)) * v1;
}
#else
const B_RANKS = 4u;
#if LORA_F16
@group(0) @binding(9) var<storage, read> b: array<vec2<u32>>;     // [slots, columns, rank rounded to 4] f16
fn bAt(i: u32) -> vec4<f32> {
  let p = b[i];
  return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
}
#else
@group(0) @binding(9) var<storage, read> b: array<vec4<f32>>;     // [slots, columns, rank rounded to 4] f32
fn bAt(i: u32) -> vec4<f32> {
  return b[i];
}
#endif
#endif
#endif

#if LORA_PAGES
// The run of a member's B rows holding its output o: the last of the `count` runs at info word
// `runs` (3 words each: first row, rows, f32 index) whose first row is <= o. Runs cover 0..out in
// order; binary search, a big projection has tens of runs.
fn runOf(runs: u32, count: u32, o: u32) -> u32 {
  var below = 0u;
  var above = count;
  while (above - below > 1u) {
    let mid = (below + above) / 2u;
    if (info[runs + 3u * mid] <= o) {
      below = mid;
    } else {
      above = mid;
    }
  }
  return runs + 3u * below;
}
#endif

// scale · sum_t B[slot, column, t] · v[row, member, t] for row's adapter (0 without one).
fn loraDelta(row: u32, column: u32) -> f32 {
  let slot = rowInfo[row].slot;
  if (slot < 0) {
    return 0.0;
  }
  let m = u32(column >= params.col1) + u32(column >= params.col2);
  let s = u32(slot) * params.infoStride;
  let rank = info[s + select(select(params.rank0, params.rank1, m == 1u), params.rank2, m == 2u)];
  if (rank == 0u) {
    return 0.0;
  }
  let vb = (row * params.vStride + m * params.vMember) / 4u;
  var acc = vec4<f32>(0.0);
#if LORA_PAGES
  let o = column - select(select(0u, params.col1, m == 1u), params.col2, m == 2u);
  let header = s + params.tableAt + 4u * (select(select(params.rank0, params.rank1, m == 1u), params.rank2, m == 2u) - 1u) + 2u;
  let run = runOf(s + info[header], info[header + 1u], o);
  let bb = info[run + 2u] + (o - info[run]) * rank;
  // As the padded slots sum it: four lanes of rank rounded to 4, v past the rank 0.
  for (var t = 0u; t < rank; t += 4u) {
    let w = vec4<f32>(b[bb + t], select(0.0, b[bb + t + 1u], t + 1u < rank), select(0.0, b[bb + t + 2u], t + 2u < rank), select(0.0, b[bb + t + 3u], t + 3u < rank));
    acc += w * v[vb + t / 4u];
  }
#else
#if LORA_B8
  let r8 = (rank + 7u) / 8u;
  let bb = (u32(slot) * params.bSlot) / 8u + column * r8;
  for (var t = 0u; t < r8; t++) {
    acc = bAcc(acc, bb + t, v[vb + 2u * t], v[vb + 2u * t + 1u]);
  }
#else
  let r4 = (rank + 3u) / 4u;
  let bb = (u32(slot) * params.bSlot) / 4u + column * r4;
  for (var t = 0u; t < r4; t++) {
    acc += bAt(bb + t) * v[vb + t];
  }
#endif
#endif
  return bitcast<f32>(info[s]) * (acc.x + acc.y + acc.z + acc.w);
}

#if LORA_PAGES
#if !LORA_PER_WEIGHT_ROW
// loraDeltas in pages: the row's slot and scale are read once, each member's rank, table and v
// offset once per member the OPL weight rows lie in, and the B run holding a weight row is
// searched for only when the row is not in the previous row's run (OPL consecutive rows of a
// member mostly share a run); a rank that is a multiple of 4 reads B with no check per element.
// The same sums, in the same order, as loraDelta.
fn loraDeltasInPages(row: u32, o0: u32) -> array<f32, OPL> {
  var d: array<f32, OPL>;
  let slot = rowInfo[row].slot;
  if (slot < 0) {
    return d;
  }
  let s = u32(slot) * params.infoStride;
  let scale = bitcast<f32>(info[s]);
  var m = 3u;      // member of the rows at hand (3: none yet)
  var rank = 0u;
  var runs = 0u;   // word of the member's first B run
  var count = 0u;  // its B runs
  var vb = 0u;
  var start = 0u;  // the member's first column
  var lo = 1u;     // the run at hand: output rows [lo, hi) of the member, from f32 index base
  var hi = 0u;
  var base = 0u;
  for (var j = 0u; j < OPL; j++) {
    let wrow = weightRow(o0, j);
    if (wrow >= params.wRows) {
      continue;
    }
    let column = params.rowStart + wrow;
    let mj = u32(column >= params.col1) + u32(column >= params.col2);
    if (mj != m) {
      m = mj;
      let rankWord = select(select(params.rank0, params.rank1, m == 1u), params.rank2, m == 2u);
      rank = info[s + rankWord];
      let header = s + params.tableAt + 4u * (rankWord - 1u) + 2u;
      runs = s + info[header];
      count = info[header + 1u];
      vb = (row * params.vStride + m * params.vMember) / 4u;
      start = select(select(0u, params.col1, m == 1u), params.col2, m == 2u);
      lo = 1u;
      hi = 0u;
    }
    if (rank == 0u) {
      continue;
    }
    let o = column - start;
    if (o < lo || o >= hi) {
      let run = runOf(runs, count, o);
      lo = info[run];
      hi = lo + info[run + 1u];
      base = info[run + 2u];
    }
    let bb = base + (o - lo) * rank;
    var acc = vec4<f32>(0.0);
    if (rank % 4u == 0u) {
      for (var t = 0u; t < rank; t += 4u) {
        acc += vec4<f32>(b[bb + t], b[bb + t + 1u], b[bb + t + 2u], b[bb + t + 3u]) * v[vb + t / 4u];
      }
    } else {
      for (var t = 0u; t < rank; t += 4u) {
        let w = vec4<f32>(b[bb + t], select(0.0, b[bb + t + 1u], t + 1u < rank), select(0.0, b[bb + t + 2u], t + 2u < rank), select(0.0, b[bb + t + 3u], t + 3u < rank));
        acc += w * v[vb + t / 4u];
      }
    }
    d[j] = scale * (acc.x + acc.y + acc.z + acc.w);
  }
  return d;
}
#endif
#endif

// loraDeltas outside pages (and in pages with LORA_PER_WEIGHT_ROW): loraDelta of the invocation's
// OPL weight rows (0 past wRows) for one row. Padded slots: the
// row's slot, ranks and scale are loaded once, and each v word once for all OPL rows (which lie in
// at most 2 members: one member's start to the other's). In pages (only with LORA_PER_WEIGHT_ROW),
// or where the rows span 3 members (OPL wider than a member), loraDelta per weight row (always
// with LORA_PER_WEIGHT_ROW).
fn loraDeltasBySlot(row: u32, o0: u32) -> array<f32, OPL> {
  var d: array<f32, OPL>;
  let slot = rowInfo[row].slot;
  if (slot < 0) {
    return d;
  }
  let cFirst = params.rowStart + min(weightRow(o0, 0u), params.wRows - 1u);
  let cLast = params.rowStart + min(weightRow(o0, OPL - 1u), params.wRows - 1u);
  let mA = u32(cFirst >= params.col1) + u32(cFirst >= params.col2);
  let mB = u32(cLast >= params.col1) + u32(cLast >= params.col2);
#if !LORA_PAGES
#if !LORA_PER_WEIGHT_ROW
  if (mB - mA <= 1u) {
    let s = u32(slot) * params.infoStride;
    // r4A, r4B, r4J: B's loads per column (of B_RANKS ranks each).
    let r4A = (info[s + select(select(params.rank0, params.rank1, mA == 1u), params.rank2, mA == 2u)] + B_RANKS - 1u) / B_RANKS;
    let r4B = (info[s + select(select(params.rank0, params.rank1, mB == 1u), params.rank2, mB == 2u)] + B_RANKS - 1u) / B_RANKS;
    let startB = select(select(0u, params.col1, mB == 1u), params.col2, mB == 2u);
    let bs = (u32(slot) * params.bSlot) / B_RANKS;
    let vA = (row * params.vStride + mA * params.vMember) / 4u;
    let vB = (row * params.vStride + mB * params.vMember) / 4u;
#unroll J OPL
    let c${J} = params.rowStart + weightRow(o0, ${J}u);
    let inB${J} = c${J} >= startB;
    let r4${J} = select(select(r4A, r4B, inB${J}), 0u, weightRow(o0, ${J}u) >= params.wRows);
    let b${J} = bs + c${J} * r4${J};
    var acc${J} = vec4<f32>(0.0);
#endunroll
    for (var t = 0u; t < max(r4A, r4B); t++) {
#if LORA_B8
      let va0 = select(vec4<f32>(0.0), v[vA + 2u * t], t < r4A);
      let va1 = select(vec4<f32>(0.0), v[vA + 2u * t + 1u], t < r4A);
      let vb0 = select(vec4<f32>(0.0), v[vB + 2u * t], t < r4B);
      let vb1 = select(vec4<f32>(0.0), v[vB + 2u * t + 1u], t < r4B);
#unroll J OPL
      if (t < r4${J}) {
        acc${J} = bAcc(acc${J}, b${J} + t, select(va0, vb0, inB${J}), select(va1, vb1, inB${J}));
      }
#endunroll
#else
      let va = select(vec4<f32>(0.0), v[vA + t], t < r4A);
      let vb = select(vec4<f32>(0.0), v[vB + t], t < r4B);
#unroll J OPL
      if (t < r4${J}) {
        acc${J} += bAt(b${J} + t) * select(va, vb, inB${J});
      }
#endunroll
#endif
    }
    let scale = bitcast<f32>(info[s]);
#unroll J OPL
    d[${J}u] = scale * (acc${J}.x + acc${J}.y + acc${J}.z + acc${J}.w);
#endunroll
    return d;
  }
#endif
#endif
  for (var j = 0u; j < OPL; j++) {
    let wrow = weightRow(o0, j);
    if (wrow < params.wRows) {
      d[j] = loraDelta(row, params.rowStart + wrow);
    }
  }
  return d;
}

// The LoRA deltas of the invocation's OPL weight rows for one row (linear_epilogue.wgsl).
fn loraDeltas(row: u32, o0: u32) -> array<f32, OPL> {
#if LORA_PAGES
#if !LORA_PER_WEIGHT_ROW
  return loraDeltasInPages(row, o0);
#else
  return loraDeltasBySlot(row, o0);
#endif
#else
  return loraDeltasBySlot(row, o0);
#endif
}
