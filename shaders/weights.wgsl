// Half-precision weight words: two elements per u32, low half first. HALF is set for f16 or
// bf16 storage; BF16 picks bfloat16 (the top 16 bits of an f32: exact for bf16 checkpoints),
// otherwise IEEE f16 (no `shader-f16` needed). Accumulation is f32 either way.
#if BF16
fn unpackHalves(w: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}
#else
fn unpackHalves(w: u32) -> vec2<f32> {
  return unpack2x16float(w);
}
#endif
