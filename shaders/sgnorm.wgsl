// Fragment (linear.wgsl SGNORM, quant_x.wgsl): the including shader declares `params` with
// xStride, xOffset, normWidth and eps, and `xAt(i)`, x's element i as f32.
// 1 / rms of `row`, on every lane of the subgroup: the 8 lanes sum the squares of every 8th element
// and add their sums. No workgroup memory and no barrier: on lavapipe a barrier makes the kernel a
// coroutine, which costs more than the subgroup's own pass over x (plain kernel, 1 row).
fn subgroupNormInv(row: u32, lane: u32) -> f32 {
  let xb = row * params.xStride + params.xOffset;
  var s = 0.0;
  for (var i = 0u; i < params.normWidth; i += 8u) {
    let e = select(0.0, xAt(xb + i + lane), i + lane < params.normWidth);
    s += e * e;
  }
  return 1.0 / sqrt(subgroupAdd(s) / f32(params.normWidth) + params.eps);
}
