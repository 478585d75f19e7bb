/**
 * Which variant of the linear kernel (shaders/linear.wgsl) runs a projection, decided in one
 * place from the device and the step's row count: the device's shape ({@link linearShape}), the
 * row tiles a backend compiles ({@link linearRowTiles}) and, per row tile, the plain register-tile
 * kernel or the tiled one ({@link linearTiles}). Every tile listed is compiled at load (the ops ask
 * for each), so the warm-up covers them all.
 */

/** The WGSL language extension whose `dot4I8Packed` the Q4_0 decode tiles use (`navigator.gpu.wgslLanguageFeatures`). */
export const PACKED_DOT = 'packed_4x8_integer_dot_product';

/** How the linear kernel is laid out on a device (part of `OpContext`). */
export interface LinearShape {
  /** Reduce with subgroup shuffles (needs `subgroups` and a subgroup size >= `tpo`). */
  subgroups: boolean;
  /** Invocations per output feature in the linear kernel (a power of two, 1..32). */
  tpo: number;
  /** Invocations per workgroup of the linear kernel; default 256. */
  workgroup?: number;
  /** Output features per invocation of the linear kernel (register tile); default 1. */
  opl?: number;
  /** f16 linear with `tpo` 1 on 8-wide subgroups: lanes load x together and broadcast it. */
  xshuf?: boolean;
  /** Invocations per attention workgroup; default 32 (8 on CPU adapters: less merge work per row). */
  attentionWorkgroup?: number;
  /** An attention workgroup of one 8-wide subgroup (`xshuf` adapters, `attentionWorkgroup` 8) shares its loads through broadcasts and merges without barriers (shaders/attention.wgsl SGBCAST). */
  attentionBroadcast?: boolean;
  /** That workgroup in decode passes takes up to this many query heads of one kv group (default {@link ATTENTION_MAX_HEADS}; 1: one head each). */
  attentionHeads?: number;
  /** That workgroup in decode passes splits each head's dimensions over its lanes instead of the positions (shaders/attention_dims.wgsl; default; headDim a multiple of 32 and rotaryDim of 64, else as before); `false`: positions over the lanes. */
  attentionDims?: boolean;
  /** That workgroup merges its lanes' partial results by butterflies of subgroup shuffles (shaders/attention.wgsl SGBFLY; default); `false`: by subgroupAdd / subgroupMax, which lavapipe runs as loops over the lanes. */
  attentionButterfly?: boolean;
  /**
   * The tiled kernel for row tiles of {@link TILED_MIN_ROWS} rows and more (prefill chunks,
   * batched decode); absent: the plain kernel for every tile (the fallback).
   */
  tiled?: { opl: number; workgroup: number };
  /** Bytes of workgroup memory a kernel may use (`maxComputeWorkgroupStorageSize`); default 16384, WebGPU's guaranteed minimum. */
  workgroupBytes?: number;
  /**
   * CPU adapters: the plain kernel's workgroup in decode tiles (below {@link TILED_MIN_ROWS} rows)
   * shrinks (halving, down to one 8-wide subgroup) until a projection splits into at least this
   * many workgroups, so narrow projections keep every thread of the driver's pool busy (see
   * {@link fitWorkgroup}).
   */
  minGroups?: number;
  /** The plain broadcast kernel (`xshuf`) of one row norms x per subgroup instead of per workgroup behind a barrier (shaders/linear.wgsl SGNORM). */
  sgNorm?: boolean;
  /**
   * The plain kernel's weight rows per invocation (`opl`) and workgroup in row tiles of
   * {@link TILED_MIN_ROWS} rows and more (batched decode, prefill chunks) where no tiled shape
   * runs them; absent: `opl` and `workgroup` as in the other tiles.
   */
  batchOpl?: number;
  batchWorkgroup?: number;
  /**
   * Norm projections' plain broadcast tiles of {@link TILED_MIN_ROWS} rows and more read each row's
   * 1 / rms from a small pass before them (shaders/norm_stats.wgsl) instead of every workgroup
   * summing its rows' squares behind a barrier (shaders/linear.wgsl NORM_STATS). On where `xshuf`
   * is: end to end on lavapipe a batch-32 step takes 0.83-0.99x the CPU ms (1.00-1.07x tokens/s at
   * load 2.8-10; `npm run bench:linear -- --variants current,current+normStats=false`, docs/engine.md).
   */
  normStats?: boolean;
  /** Q4_0 weights in the plain broadcast kernel's decode tiles (up to {@link Q4DOT_MAX_ROWS} rows) go by blocks (shaders/linear.wgsl Q4DOT); `false` keeps the per-chunk dequantization. */
  q4Dot?: boolean;
  /** That kernel loads each weight row's scales once per 2 blocks (the Q4_0 layout pairs them); `false` loads each block's own (one word more per block and weight row). */
  q4PairScales?: boolean;
  /** That kernel reads x quantized to Q8_0 blocks by a pass before it (shaders/quant_x.wgsl: the norm done there once); off by default (f32 x, normed per subgroup): on a quiet machine it was no faster end to end and adds 2 dispatches per layer (docs/engine.md). */
  q4Q8x?: boolean;
  /** ...projections without a norm prologue too (o, down): by default only those with one, where the pass also takes the norm off every subgroup. */
  q8xUnnormed?: boolean;
  /** The LoRA shrink as one 8-wide subgroup per workgroup that loads x once and broadcasts it (shaders/lora_shrink.wgsl BCAST; default with `xshuf`); `false` keeps the one-invocation-per-output CPU shape. */
  loraBroadcast?: boolean;
  /** The LoRA expand epilogue loads a row's slot, ranks, scale and v once for the invocation's weight rows (shaders/linear.wgsl `loraDeltas`); `false` loads them per weight row. */
  loraRowDeltas?: boolean;
  /** f16 LoRA slots hold B at the rank rounded to 8 and the expand epilogue loads 8 halves at once (`slotPool.ts` bRank8, shaders/linear_lora.wgsl LORA_B8; default); `false` keeps the rank rounded to 4, 4 halves a load. */
  loraB8?: boolean;
  /** The broadcast LoRA shrink computes 2 outputs per lane (shaders/lora_shrink.wgsl PAIR: each x word loaded and broadcast serves 2 rows of A); padded slots only. */
  loraShrinkPairs?: boolean;
  /**
   * Q4_0 matrices are uploaded in groups of 4 rows (quantLayout.ts `repackQ4RowGroups`) and the Q4_0
   * decode tiles load each chunk's nibble words of 4 weight rows, and each pair of blocks' scales
   * of 4 rows, as one `vec4<u32>` (shaders/linear_q4dot.wgsl Q4R4V); other kernels read the layout
   * through `loadW`. On where `xshuf` is: on lavapipe 1.46x the one-row Q4_0 linear kernels per step
   * (`npm run bench:linear -- --b1 --dtype q4_0 --variants current,q4RowGroups=true`, load 5.5),
   * Q4_0 decode 1.25-1.46x less CPU per step end to end, batch 32 the same (docs/engine.md).
   */
  q4RowGroups?: boolean;
  /**
   * f16 and bf16 matrices are uploaded in groups of 4 rows (weights.ts `repackHalfRowGroups`), so
   * the one-row decode tile, whose lanes take 4 weight rows each, streams 64 contiguous bytes per
   * lane and chunk instead of 16 from each of 4 rows (shaders/matrix.wgsl HR4); every kernel reads
   * the layout through `loadW`. On where `xshuf` is (docs/engine.md "f16 and bf16 in groups of 4 rows").
   */
  halfRowGroups?: boolean;
  /** Weight rows per invocation of that kernel's one-row tile (default {@link Q4DOT_OPL}; for benchmarks: with row groups 16 measured 1.02x, 12 0.90x). */
  q4Opl?: number;
  /** WGSL offers `dot4I8Packed` (the `packed_4x8_integer_dot_product` language extension): that kernel takes integer dot products of nibbles and int8 x; without it, the int8 x are converted to f32. */
  packedDot?: boolean;
}

/**
 * Linear-kernel shape for a device. GPUs: `tpo` invocations (a subgroup's width, at most 32) split
 * each output's dot product along k, so a subgroup's loads are contiguous (coalesced), reduced
 * by a subgroup butterfly; the tiled kernel stages x in workgroup memory. CPU implementations
 * (lavapipe): one invocation per 4 outputs (`tpo` 1, `opl` 4), each weight row streaming on its
 * own, and with 8-wide subgroups the lanes load a chunk of x together and broadcast it (`xshuf`);
 * on lavapipe this is 3x (1 row) to 10x (32 rows) faster than the GPU shape. `tiled`: the tiled
 * kernel from 8 rows; default on for GPUs, off for CPU adapters, where it measured slower end to
 * end (`npm run bench:linear`, load 2.6: batch 32 0.69x, prefill 128/512 0.68x/0.78x, batch 8
 * 1.08x; alone on 32 rows it is slower too, with or without the norm prologue: docs/engine.md), so
 * it runs there only when asked, and the plain kernel's tiles of 8 rows and more take
 * {@link CPU_BATCH}'s shape instead. The tiled kernel on lavapipe keeps the broadcast
 * (its workgroup memory is plain memory behind a barrier: staging x there measured 2-3x slower)
 * and needs it, so CPU adapters without 8-wide subgroups have none. `packedDot`: WGSL offers
 * `dot4I8Packed` (the Q4_0 decode tiles' integer path, see {@link LinearShape.packedDot}).
 */
export function linearShape(p: { software: boolean; subgroups: boolean; subgroupMinSize?: number; subgroupMaxSize?: number; workgroupBytes?: number; tiled?: boolean; threads?: number; packedDot?: boolean }): LinearShape {
  if (p.software) {
    const xshuf = p.subgroups && p.subgroupMinSize === 8 && p.subgroupMaxSize === 8;
    return { tpo: 1, opl: 4, workgroup: 64, attentionWorkgroup: 8, attentionBroadcast: xshuf, subgroups: p.subgroups, xshuf, minGroups: CPU_GROUPS_PER_THREAD * (p.threads ?? 1), sgNorm: xshuf, normStats: xshuf, q4RowGroups: xshuf, halfRowGroups: xshuf, loraBroadcast: xshuf, packedDot: p.packedDot === true, batchOpl: CPU_BATCH.opl, batchWorkgroup: CPU_BATCH.workgroup, ...(xshuf && p.tiled === true ? { tiled: CPU_TILED } : {}) };
  }
  const subgroups = p.subgroups && (p.subgroupMinSize ?? 0) >= 8;
  return { tpo: subgroups ? Math.min(32, p.subgroupMinSize!) : 16, opl: 1, workgroup: 256, subgroups, ...(p.tiled === false ? {} : { tiled: { opl: 2, workgroup: 256 } }), workgroupBytes: p.workgroupBytes };
}

/**
 * The tiled kernel on CPU adapters: 4 weight rows per invocation and one subgroup per workgroup, so
 * narrow projections (576 outputs) still split into enough workgroups for every thread of
 * lavapipe's pool. Measured on lavapipe at 32 rows (one projection timed alone, variants interleaved, busy
 * machine): 4 rows per invocation beat 8 on the 576- and 3072-output shapes and compile in half the
 * time (the register tile is ROWS x OPL fma chains, unrolled).
 */
const CPU_TILED = { opl: 4, workgroup: 8 } as const;

/**
 * The plain kernel's tiles of 8 rows and more on CPU adapters (batched decode, prefill chunks): 16
 * weight rows per invocation, so each x value a lane loads and broadcasts serves 16 weight rows
 * instead of 4 (on lavapipe every 32-bit word a lane loads costs a ~14-instruction loop per lane,
 * and at 32 rows x is 32 of the 48 words an invocation loaded per chunk with 4 weight rows), and
 * workgroups of 16 so the 576-output projections still split into 3. Measured with
 * `npm run bench:linear -- --b1 --rows 32 --variants current,opl=16+workgroup=16,...` (bench-135m,
 * f16, load 1.6): linear kernels of a 32-row step 1.43x faster than 4 weight rows in workgroups of
 * 64 (qkv 1.44x, o 1.34x, gate_up 1.61x, down 1.23x, lm_head 1.37x); 8 and 32 weight rows, or
 * workgroups of 8 or 64, slower; at 8 rows (`--rows 8`, load 2.3) 1.10x. 24 weight rows in workgroups
 * of 8 ran the 32-row kernels with 1.10-1.18x less CPU (load 5-11) and batch 32 with 8.06x batch 1's
 * throughput (quiet), but LLVM took 97.6 s instead of 4.1 s to compile the model's kernels (their
 * 32 x 24 accumulators unrolled), so start-up and the suite paid 20x: not kept (docs/engine.md).
 */
const CPU_BATCH = { opl: 16, workgroup: 16 } as const;

/**
 * Workgroups per CPU thread a projection should split into (`minGroups` = this x the driver's
 * threads). Measured on lavapipe, 2 threads, batch 1, f16 (`npm run bench:linear -- --b1`): the
 * 576-output projections (o, down: 3 workgroups of 64) ran 1.2-1.3x faster in 9 workgroups of 16.
 */
const CPU_GROUPS_PER_THREAD = 4;

/** Smallest workgroup {@link fitWorkgroup} shrinks to: one 8-wide subgroup (the broadcast kernel needs whole subgroups). */
const MIN_CPU_WORKGROUP = 8;

/**
 * A plain tile's workgroup (decode tiles: below {@link TILED_MIN_ROWS} rows) for a projection of
 * `outputs` outputs under `minGroups`: halved while the projection would split into fewer
 * workgroups (never below 8 invocations); other tiles as given.
 */
export function fitWorkgroup(tile: LinearTile, outputs: number, glu: boolean, minGroups?: number): LinearTile {
  // Tiles of TILED_MIN_ROWS rows and more also run prefill chunks, many workgroups along y, where
  // smaller workgroups would only repeat the norm prologue more often.
  if (!minGroups || tile.tiled || tile.rows >= TILED_MIN_ROWS) return tile;
  const outs = glu ? tile.opl / 2 : tile.opl;
  let workgroup = tile.workgroup;
  while (workgroup > MIN_CPU_WORKGROUP && Math.ceil(outputs / ((workgroup / tile.tpo) * outs)) < minGroups) workgroup /= 2;
  return { ...tile, workgroup };
}

/** Row tiles of the linear kernel: the smallest that holds the step's rows, 32 for prefill. */
export const LINEAR_ROW_TILES = [1, 4, 8, 16, 32] as const;

/** Row tiles from which the tiled kernel runs (where a weight element serves enough rows for its tiling to pay). */
export const TILED_MIN_ROWS = 8;

/**
 * Most query heads one attention workgroup of one 8-wide subgroup takes in decode passes (all of a
 * kv group's when they are this many or fewer, else the largest divisor below): each cached k and
 * v a lane loads serves them all; each head's q and accumulator are registers (spilled beyond).
 */
export const ATTENTION_MAX_HEADS = 4;

/** Largest row tile whose Q4_0 weights go by blocks in the plain broadcast kernel (decode tiles; larger register tiles of block sums would spill). */
export const Q4DOT_MAX_ROWS = 4;

/**
 * Weight rows per invocation of that kernel's one-row tile: each block's x chunk (and norm gain)
 * is loaded once for this many weight rows. 8 measured 1.5x the per-chunk kernel over bench-135m's
 * batch-1 projections on lavapipe (`npm run bench:linear -- --b1 --dtype q4_0 --variants q4Dot=false,current`),
 * 4 and 16 slower than 8 (16: register spills).
 */
export const Q4DOT_OPL = 8;

/** The row tiles a step of at most `maxRows` rows can use: those up to the smallest that holds `maxRows`. */
export function linearRowTiles(maxRows = Infinity): number[] {
  const top = LINEAR_ROW_TILES.findIndex((r) => r >= maxRows);
  return LINEAR_ROW_TILES.slice(0, top === -1 ? LINEAR_ROW_TILES.length : top + 1);
}

/** One row tile's variant of the linear kernel. */
export interface LinearTile {
  /** Rows per workgroup (the register tile's rows). */
  rows: number;
  /** The tiled kernel (register accumulators, fma chains, x staged or broadcast). */
  tiled: boolean;
  /** Weight rows per invocation. */
  opl: number;
  workgroup: number;
  /** Invocations per weight row (split along k). */
  tpo: number;
  /** Tiled with x in workgroup memory: chunks of 8 elements staged per round. */
  kt?: number;
}

/** Bytes of workgroup memory the norm prologue's partial sums may take (`NR · WG` f32). */
export const NORM_PARTIAL_BYTES = 8192;

/**
 * The variant of each row tile a backend compiles for a device: the plain kernel below
 * {@link TILED_MIN_ROWS} rows or without a tiled shape; the tiled one above. With x staged in
 * workgroup memory, the stage is sized to what the device allows after the norm prologue's
 * partial sums (KT chunks of 8 for ROWS rows of f32), and the k-split to the chunks staged.
 */
export function linearTiles(shape: LinearShape & { maxRows?: number }, glu = false): LinearTile[] {
  const even = (opl: number) => (glu ? Math.max(2, opl + (opl % 2)) : opl);
  return linearRowTiles(shape.maxRows).map((rows) => {
    const { tiled } = shape;
    if (!tiled || rows < TILED_MIN_ROWS) {
      const batch = rows >= TILED_MIN_ROWS;
      return { rows, tiled: false, opl: even((batch ? shape.batchOpl : undefined) ?? shape.opl ?? 1), workgroup: (batch ? shape.batchWorkgroup : undefined) ?? shape.workgroup ?? 256, tpo: shape.tpo };
    }
    if (shape.xshuf) return { rows, tiled: true, opl: even(tiled.opl), workgroup: tiled.workgroup, tpo: 1 };
    const budget = (shape.workgroupBytes ?? 16384) - NORM_PARTIAL_BYTES;
    const kt = 2 ** Math.floor(Math.log2(Math.max(1, budget / (rows * 32))));
    return { rows, tiled: true, opl: even(tiled.opl), workgroup: tiled.workgroup, tpo: Math.min(shape.tpo, kt), kt };
  });
}
