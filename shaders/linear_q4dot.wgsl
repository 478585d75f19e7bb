// The Q4DOT block loop of linear.wgsl's `main` (included in place there; Q4_0 weights, the plain
// broadcast kernel's 1- and 4-row decode tiles): adds each row tile's products to `acc`, using the
// kernel's x, w, params, laneGain, xBroadcastOf and its row and weight-row indices.
  // Q4_0 by blocks (see linear.wgsl's file comment): per block, a weight row's sum of q · x over raw nibbles,
  // then d · (that - 8 · sum x). Lane i scales its x by 16^-(i % 4) before the broadcast, so each
  // nibble is only masked in place (no shift) and converted as a signed integer. x comes first,
  // then each weight row's word is loaded, decoded and used at once (few values live at a time).
#if Q8X
  // Q8X: x comes as Q8_0 blocks (quant_x.wgsl, normed there): per block each lane loads one word
  // of 4 int8 and the block's scale, instead of 4 f32 x and 4 gains plus its share of the norm
  // pass (see docs/engine.md). Q8DOT (dot4I8Packed offered): a nibble word's even and odd nibbles
  // (masked, no other decode) against the chunk's even and odd int8 x, integer sums. Without it
  // the int8 x are scaled by 16^-j (j: the element's place in its nibble half) as the f32 path
  // scales per lane, so nibble · x products are integers in f32 (|s| <= 32 · 15 · 127: exact).
  let xq16 = vec4<f32>(1.0, 1.0 / 16.0, 1.0 / 256.0, 1.0 / 4096.0);
  let xqWords = params.k / 4u + params.k / 32u;
#else
  let xf = bitcast<f32>((127u - 4u * (sgLane % 4u)) << 23u);
#endif
  let nm = vec4<u32>(0xFu, 0xF0u, 0xF00u, 0xF000u);
  let blocks = params.k / 32u;
  // Q4PAIR: an even block's scale word also holds the next block's (quantLayout.ts), so each weight
  // row's scales are loaded once per 2 blocks (4 of the 48 words per block a lane loads in a norm
  // projection): loaded at even blocks, kept for the odd one (one loop, as without pairs).
#if Q4R4
  // Q4R4: the weights in groups of 4 rows (matrix.wgsl): each pair of blocks starts with the 4
  // rows' scale words (both blocks' scales: loaded at even blocks, kept for the odd one), then
  // each chunk's nibble words of the 4 rows. Q4R4V: the invocation's weight rows are Q4G whole
  // groups, so each chunk's words come as Q4G vec4 loads (a lane's 16 bytes) instead of OPL words.
#if Q4R4V
#unroll G Q4G
  let grp${G} = min(weightRow(o0, ${G}u * 4u), params.wRows - 1u) / 4u;
#endunroll
  var scw: array<vec4<u32>, ${Q4G}u>;
  var nw: array<vec4<u32>, ${Q4G}u>;
#else
#unroll J OPL
  var dw${J} = 0u;
#endunroll
#endif
#else
#if Q4PAIR
#unroll J OPL
  var dw${J} = 0u;
#endunroll
#endif
#endif
  for (var bk = 0u; bk < blocks; bk++) {
#unroll R ROWS
#unroll J OPL
#if Q8DOT
    var s${R}_${J} = 0i;
#else
    var s${R}_${J} = 0.0;
#endif
#endunroll
    var xs${R} = 0.0;
#endunroll
#if Q8X
#unroll R ROWS
    let xr${R} = min(row0 + ${R}u, lastRow) * xqWords;
    let xl${R} = x[xr${R} + bk * 8u + sgLane];
    let dx${R} = bitcast<f32>(x[xr${R} + params.k / 4u + bk]);
    xs${R} += dot(q8Values(xl${R}), vec4<f32>(1.0));
#endunroll
    // Chunk q's 8 x are lanes 2q and 2q + 1's words (a shuffle: a broadcast's lane must be a constant,
    // and the loop unrolled measured slower).
    for (var q = 0u; q < 4u; q++) {
#unroll R ROWS
      let xa${R} = subgroupShuffle(xl${R}, q * 2u);
      let xb${R} = subgroupShuffle(xl${R}, q * 2u + 1u);
#if Q8DOT
      // the chunk's even and odd elements (0, 2, 4, 6 and 1, 3, 5, 7), as a nibble word's low and high nibbles hold them
      let xe${R} = (xa${R} & 0xFFu) | ((xa${R} >> 8u) & 0xFF00u) | ((xb${R} << 16u) & 0xFF0000u) | ((xb${R} << 8u) & 0xFF000000u);
      let xo${R} = ((xa${R} >> 8u) & 0xFFu) | ((xa${R} >> 16u) & 0xFF00u) | ((xb${R} << 8u) & 0xFF0000u) | (xb${R} & 0xFF000000u);
#else
      let xw${R} = W8(q8Values(xa${R}) * xq16, q8Values(xb${R}) * xq16);
#endif
#endunroll
#include "linear_q4dot_rows.wgsl"
    }
#else
    for (var q = 0u; q < 4u; q++) {
      let c = bk * 4u + q;
      let g = laneGain(c, sgLane);
#unroll R ROWS
      let xv${R} = x[min(row0 + ${R}u, lastRow) * params.xStride + params.xOffset + c * 8u + sgLane] * g;
      xs${R} += xv${R};
      let xw${R} = xBroadcastOf(xv${R} * xf);
#endunroll
#include "linear_q4dot_rows.wgsl"
    }
#endif
#unroll R ROWS
    let sx${R} = 8.0 * subgroupAdd(xs${R});
#endunroll
#if Q4R4
    if ((bk & 1u) == 0u) {
#if Q4R4V
#unroll G Q4G
      scw[${G}u] = w[q4GroupAt(grp${G}, bk / 2u)];
#endunroll
#else
#unroll J OPL
      dw${J} = w[q4GroupAt(wr${J} / 4u, bk / 2u)][wr${J} % 4u];
#endunroll
#endif
    }
#else
#if Q4PAIR
    if ((bk & 1u) == 0u) {
#unroll J OPL
      dw${J} = w[(wr${J} * blocks + bk) * 5u];
#endunroll
    }
#endif
#endif
#unroll J OPL
    {
#if Q4R4V
      let d = unpack2x16float(scw[${J}u / 4u][${J}u % 4u] >> (16u * (bk & 1u))).x;
#else
#if Q4R4
      let d = unpack2x16float(dw${J} >> (16u * (bk & 1u))).x;
#else
#if Q4PAIR
      let d = unpack2x16float(dw${J} >> (16u * (bk & 1u))).x;
#else
      let d = unpack2x16float(w[(wr${J} * blocks + bk) * 5u]).x;
#endif
#endif
#endif
#unroll R ROWS
#if Q8X
      acc[${R}u * OPL + ${J}u] += d * dx${R} * (f32(s${R}_${J}) - sx${R});
#else
      acc[${R}u * OPL + ${J}u] += d * (s${R}_${J} - sx${R});
#endif
#endunroll
    }
#endunroll
  }
