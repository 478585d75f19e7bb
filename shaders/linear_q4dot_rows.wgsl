// Fragment of linear_q4dot.wgsl: chunk q of block bk against each of the invocation's weight rows
// (OPL), for each row of x (ROWS), its 8 x in xw (scaled per place: see there). Q4R4: the weights
// in groups of 4 rows (matrix.wgsl), Q4R4V: the chunk's words of Q4G whole groups as Q4G vec4 loads.
#if Q4R4V
#unroll G Q4G
  nw[${G}u] = w[q4GroupAt(grp${G}, bk / 2u) + 1u + (bk & 1u) * 4u + q];
#endunroll
#endif
#unroll J OPL
  {
#if Q4R4V
    let p = nw[${J}u / 4u][${J}u % 4u];
#else
#if Q4R4
    let p = w[q4GroupAt(wr${J} / 4u, bk / 2u) + 1u + (bk & 1u) * 4u + q][wr${J} % 4u];
#else
    let p = w[(wr${J} * blocks + bk) * 5u + 1u + q];
#endif
#endif
#if Q8DOT
    let pe = p & 0x0F0F0F0Fu;
    let po = (p >> 4u) & 0x0F0F0F0Fu;
#unroll R ROWS
    s${R}_${J} += dot4I8Packed(pe, xe${R}) + dot4I8Packed(po, xo${R});
#endunroll
#else
    let na = vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(p) & nm));
    let nb = vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(p >> 16u) & nm));
    // The 8 products as a chain of fma: lavapipe emits `dot` + add as separate multiplies and adds,
    // `fma` as vfmadd (the one-row Q4_0 kernels 1.00-1.07x wall, 1.02-1.06x CPU per step in three
    // side-by-side runs; f16's one-row tile measured 1.02x, its 32-row tiles 0.98x: they keep `dot`).
#unroll R ROWS
    {
      var t = fma(na.x, xw${R}.a.x, s${R}_${J});
      t = fma(na.y, xw${R}.a.y, t);
      t = fma(na.z, xw${R}.a.z, t);
      t = fma(na.w, xw${R}.a.w, t);
      t = fma(nb.x, xw${R}.b.x, t);
      t = fma(nb.y, xw${R}.b.y, t);
      t = fma(nb.z, xw${R}.b.z, t);
      s${R}_${J} = fma(nb.w, xw${R}.b.w, t);
    }
#endunroll
#endif
  }
#endunroll
