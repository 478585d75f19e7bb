// Fragment of linear.wgsl (XSHUF: CPU adapters, 8-wide subgroups, TPO 1): x shared through the
// subgroup. The 8 lanes each load one of 8 consecutive x values (times its norm gain) and
// broadcast them, instead of each lane loading the same 8 (on lavapipe cheaper than staging x in
// workgroup memory). Used by the chunk loop (linear_chunks.wgsl) and the Q4DOT block loop
// (linear_q4dot.wgsl).

// The norm gain of element 8c + lane (1 without NORM).
fn laneGain(c: u32, lane: u32) -> f32 {
#if NORM
  return vec(params.normAt + c * 8u + lane);
#else
  return 1.0;
#endif
}

// x[i - lane .. i - lane + 7] on every lane: each of the 8 lanes loads one (times its gain g) and
// the subgroup broadcasts them.
#if !Q8X
fn xBroadcast(i: u32, g: f32) -> W8 {
  return xBroadcastOf(x[i] * g);
}
#endif

// The 8 lanes' xv on every lane.
fn xBroadcastOf(xv: f32) -> W8 {
  return W8(vec4<f32>(subgroupBroadcast(xv, 0u), subgroupBroadcast(xv, 1u), subgroupBroadcast(xv, 2u), subgroupBroadcast(xv, 3u)),
            vec4<f32>(subgroupBroadcast(xv, 4u), subgroupBroadcast(xv, 5u), subgroupBroadcast(xv, 6u), subgroupBroadcast(xv, 7u)));
}
