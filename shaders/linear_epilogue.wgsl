// Fragment of linear.wgsl's `main`: the epilogue, on lane 0 of each weight-row group once `acc` is
// reduced. Per row of the tile and weight row: NORM scales by the row's 1 / rms, BIAS adds
// vecs[biasAt + weight row], LORA adds the row's adapter delta (linear_lora.wgsl); then per
// output: GLU writes act(gate) · up (the OPL weight rows are OPL / 2 gate rows and the matching
// up rows: params.gate, params.up), SOFTCAP caps it (cap · tanh(y / cap): Gemma 2 logits), and
// y is written or, params.accumulate, added to.
  for (var r = 0u; r < ROWS; r++) {
    let row = row0 + r;
    if (row >= totalRows) {
      break;
    }
#if NORM
#if NORM_STATS
    let inv = normStats[row];
#else
    let inv = normInv[r];
#endif
#endif
    // Finished values of the OPL weight rows: scaled, biased, with the row's LoRA delta.
    var val: array<f32, OPL>;
#if LORA
    let delta = loraDeltas(row, o0);
#endif
    for (var j = 0u; j < OPL; j++) {
      let wrow = weightRow(o0, j);
#if NORM
      var s = acc[r * OPL + j] * inv;
#else
      var s = acc[r * OPL + j];
#endif
#if BIAS
      s += vec(params.biasAt + params.rowStart + min(wrow, params.wRows - 1u));
#endif
#if LORA
      s += delta[j];
#endif
      val[j] = s;
    }
    for (var j = 0u; j < OUTS; j++) {
      let o = o0 + j;
      if (o >= params.n) {
        break;
      }
#if GLU
      var value = act(val[j]) * val[j + OUTS];
#else
      var value = val[j];
#endif
#if SOFTCAP
      value = params.softcap * tanh(clamp(value / params.softcap, -15.0, 15.0));
#endif
      let i = row * params.yStride + params.yOffset + o;
      if (params.accumulate == 1u) {
        y[i] += value;
      } else {
        y[i] = value;
      }
    }
  }
