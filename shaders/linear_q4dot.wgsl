// The Q4DOT block loop of linear.wgsl's `main` (included in place there; Q4_0 weights, the plain
// broadcast kernel's 1- and 4-row decode tiles): adds each row tile's products to `acc`, using the
// kernel's x, w, params, laneGain, xBroadcastOf and its row and weight-row indices.
  // Q4_0 by blocks (see linear.wgsl's file comment): per block, a weight row's sum of q · x over raw nibbles,
  // then d · (that - 8 · sum x). Lane i scales its x by 16^-(i % 4) before the broadcast, so each
  // nibble is only masked in place (no shift) and converted as a signed integer. x comes first,
  // then each weight row's word is loaded, decoded and used at once (few values live at a time).
  let xf = bitcast<f32>((127u - 4u * (sgLane % 4u)) << 23u);
  let nm = vec4<u32>(0xFu, 0xF0u, 0xF00u, 0xF000u);
  let blocks = params.k / 32u;
  // Q4PAIR: an even block's scale word also holds the next block's (quantLayout.ts), so each weight
  // row's scales are loaded once per 2 blocks (4 of the 48 words per block a lane loads in a norm
  // projection): loaded at even blocks, kept for the odd one (one loop, as without pairs).
#if Q4PAIR
#unroll J OPL
  var dw${J} = 0u;
#endunroll
#endif
  for (var bk = 0u; bk < blocks; bk++) {
#unroll R ROWS
#unroll J OPL
    var s${R}_${J} = 0.0;
#endunroll
    var xs${R} = 0.0;
#endunroll
    for (var q = 0u; q < 4u; q++) {
      let c = bk * 4u + q;
      let g = laneGain(c, sgLane);
#unroll R ROWS
      let xv${R} = x[min(row0 + ${R}u, lastRow) * params.xStride + params.xOffset + c * 8u + sgLane] * g;
      xs${R} += xv${R};
      let xw${R} = xBroadcastOf(xv${R} * xf);
#endunroll
#unroll J OPL
      {
        let p = w[(wr${J} * blocks + bk) * 5u + 1u + q];
        let na = vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(p) & nm));
        let nb = vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(p >> 16u) & nm));
#unroll R ROWS
        s${R}_${J} += dot(na, xw${R}.a) + dot(nb, xw${R}.b);
#endunroll
      }
#endunroll
    }
#unroll R ROWS
    let sx${R} = 8.0 * subgroupAdd(xs${R});
#endunroll
#if Q4PAIR
    if ((bk & 1u) == 0u) {
#unroll J OPL
      dw${J} = w[(wr${J} * blocks + bk) * 5u];
#endunroll
    }
#endif
#unroll J OPL
    {
#if Q4PAIR
      let d = unpack2x16float(dw${J} >> (16u * (bk & 1u))).x;
#else
      let d = unpack2x16float(w[(wr${J} * blocks + bk) * 5u]).x;
#endif
#unroll R ROWS
      acc[${R}u * OPL + ${J}u] += d * (s${R}_${J} - sx${R});
#endunroll
    }
#endunroll
  }
