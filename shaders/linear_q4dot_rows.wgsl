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
#unroll R ROWS
    s${R}_${J} += dot(na, xw${R}.a) + dot(nb, xw${R}.b);
#endunroll
#endif
  }
#endunroll
