// Fragment of linear.wgsl's `main` (without Q4DOT): the chunk loop. Each of the invocation's OPL
// weight rows is loaded 8 elements at a time (loadW: any format, matrix.wgsl) and multiplied with
// the ROWS rows of x, which come
//   XSHUF: through the subgroup broadcast (linear_xshuf.wgsl; lavapipe, where workgroup memory
//          costs more than it saves), into `acc` or, TILED, the register tile (a0_0 ..);
//   TILED (GPUs): from a [ROWS, KT · 8] tile staged in workgroup memory once per round (every
//          invocation then reads x there instead of from the storage buffer; the TPO lanes of a
//          weight row split k), into the register tile with fma chains (fma8);
//   else: from the storage buffer, the TPO lanes of a weight row splitting k, into `acc`.
// Each weight element fetched (and dequantized) serves the ROWS rows of the tile.
#if XSHUF
  // The 8 lanes load 8 consecutive x values of a chunk at once and broadcast them, instead of
  // each lane loading the same 8 values.
  for (var c = 0u; c < chunks; c++) {
#unroll J OPL
    let w${J} = loadW(wr${J}, c);
#endunroll
    let g = laneGain(c, sgLane);
#unroll R ROWS
    {
      let xw = xBroadcast(min(row0 + ${R}u, lastRow) * params.xStride + params.xOffset + c * 8u + sgLane, g);
#unroll J OPL
#if TILED
      a${R}_${J} = fma8(a${R}_${J}, w${J}, xw);
#else
      acc[${R}u * OPL + ${J}u] += dot(w${J}.a, xw.a) + dot(w${J}.b, xw.b);
#endif
#endunroll
    }
#endunroll
  }
#else
#if TILED
  let xs = params.xStride / 4u;
  let xo = params.xOffset / 4u;
  for (var c0 = 0u; c0 < chunks; c0 += KT) {
    // Stage x[row0 .. row0 + ROWS - 1, 8 c0 .. 8 (c0 + KT) - 1] (zeros past k), every invocation helping.
    for (var i = lid; i < ROWS * KT * 2u; i += WG) {
      let q = c0 * 2u + i % (KT * 2u);
      var v = vec4<f32>(0.0);
      if (q < chunks * 2u) {
        v = x[min(row0 + i / (KT * 2u), lastRow) * xs + xo + q];
#if NORM
        v *= vecs[params.normAt / 4u + q];
#endif
      }
      xt[i] = v;
    }
    workgroupBarrier();
    let kc = min(KT, chunks - c0);
    for (var c = lane; c < kc; c += TPO) {
#unroll J OPL
      let w${J} = loadW(wr${J}, c0 + c);
#endunroll
#unroll R ROWS
      {
        let xw = W8(xt[(${R}u * KT + c) * 2u], xt[(${R}u * KT + c) * 2u + 1u]);
#unroll J OPL
        a${R}_${J} = fma8(a${R}_${J}, w${J}, xw);
#endunroll
      }
#endunroll
    }
    workgroupBarrier();
  }
#else
  if (live) {
    let xs = params.xStride / 4u;
    let xo = params.xOffset / 4u;
    for (var c = lane; c < chunks; c += TPO) {
#unroll J OPL
      let w${J} = loadW(wr${J}, c);
#endunroll
#if NORM
      let ga = vecs[params.normAt / 4u + c * 2u];
      let gb = vecs[params.normAt / 4u + c * 2u + 1u];
#endif
#unroll R ROWS
      {
        let xi = min(row0 + ${R}u, lastRow) * xs + xo + c * 2u;
#if NORM
        let xa = x[xi] * ga;
        let xb = x[xi + 1u] * gb;
#else
        let xa = x[xi];
        let xb = x[xi + 1u];
#endif
#unroll J OPL
        acc[${R}u * OPL + ${J}u] += dot(w${J}.a, xa) + dot(w${J}.b, xb);
#endunroll
      }
#endunroll
    }
  }
#endif
#endif
