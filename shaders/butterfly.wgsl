// Fragment: the max and sum of a value over the 8 lanes of a subgroup, on every lane, as
// butterflies of subgroupShuffleXor (3 steps). lavapipe compiles a shuffle of 32-bit values to one
// AVX2 permute, but subgroupAdd / subgroupMax to a loop over the lanes with a branch and a memory
// round trip each (Mesa's lp_bld_nir_soa.c emit_reduce). Each pair of lanes combines the same two
// values in either order, so every lane ends with the same bits.
fn butterflyMax(v: f32) -> f32 {
  var s = max(v, subgroupShuffleXor(v, 4u));
  s = max(s, subgroupShuffleXor(s, 2u));
  return max(s, subgroupShuffleXor(s, 1u));
}
fn butterflySum(v: f32) -> f32 {
  var s = v + subgroupShuffleXor(v, 4u);
  s += subgroupShuffleXor(s, 2u);
  return s + subgroupShuffleXor(s, 1u);
}
fn butterflySum4(v: vec4<f32>) -> vec4<f32> {
  var s = v + subgroupShuffleXor(v, 4u);
  s += subgroupShuffleXor(s, 2u);
  return s + subgroupShuffleXor(s, 1u);
}
