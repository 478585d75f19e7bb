// Fragment of linear.wgsl (NORM, without SGNORM): the RMSNorm prologue by the whole workgroup.
// x is RMS-normalized per row first: the workgroup sums each row's squares, the dot products run
// over x · gain (gain = offset + w, at vecs[normAt]) and are scaled by 1 / sqrt(mean + eps) (the
// recipe's rmsnorm, fused: no `h` buffer, no dispatch). SGNORM (XSHUF, plain kernel, 1 row) uses
// sgnorm.wgsl instead: each subgroup sums the squares itself, without a barrier.
const NR = ${NR}u; // rows reduced per round (NR · WG partial sums in workgroup memory)
var<workgroup> normRed: array<f32, NR * WG>;
var<workgroup> normInv: array<f32, ROWS>;

// 1 / rms of rows row0 .. row0 + ROWS - 1 into normInv; every invocation takes part. (Plain
// loops: the prologue is a small share of the work, and unrolled it would double compile time.)
fn normPrologue(lid: u32, row0: u32, lastRow: u32) {
  for (var r0 = 0u; r0 < ROWS; r0 += NR) {
    for (var r = 0u; r < NR; r++) {
      let xb = min(row0 + r0 + r, lastRow) * params.xStride + params.xOffset;
      var s = 0.0;
      for (var i = lid; i < params.normWidth; i += WG) {
        let e = xAt(xb + i);
        s += e * e;
      }
      normRed[r * WG + lid] = s;
    }
    workgroupBarrier();
    if (lid < NR) {
      var s = 0.0;
      for (var t = 0u; t < WG; t++) {
        s += normRed[lid * WG + t];
      }
      normInv[r0 + lid] = 1.0 / sqrt(s / f32(params.normWidth) + params.eps);
    }
    workgroupBarrier();
  }
}
