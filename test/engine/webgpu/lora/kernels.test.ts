/**
 * The fused LoRA path against the CPU reference ops: one shrink dispatch for all members of a
 * fused projection (q|k|v, gate|up) and the expand in the projection's epilogue, with the
 * projection's norm prologue and GLU epilogue, over rows mixing adapters of different ranks,
 * untargeted modules, empty slots and rows without an adapter.
 * Tolerances (max abs error / max |reference|): f32 slots 1e-5, f16 slots 1e-2 (11-bit rounding).
 * f16 slots hold B at the rank rounded to 8 (the expand loads 8 halves at a time, LORA_B8);
 * `f16 b4` at the rank rounded to 4 (`bRank8: false`). `ranks 12/20/8` (slots of rank 20, so B's
 * and v's rank capacity 24 is not A's 20): ranks that end mid-load. Padded slots are filled with
 * a stale adapter of the slots' rank first, so rows past an adapter's rank hold other values.
 * `odd widths`: members whose widths are not multiples of a tile's weight rows (q 30, k and v 10,
 * gate and up 260), so in lavapipe's batch tile (16 weight rows per invocation) invocations' rows
 * span 2 members (q|k, k|v) and the last invocation's rows run past the projection.
 * `pages`: the adapters in pages of a KV cache (unified memory, `pagePool.ts`), scattered, read
 * through the slots' run tables, within the f32 slots' tolerance.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoraWeights } from '../../../../src/engine/backend.ts';
import { glu, loraExpand, loraShrink, matmul, rmsnorm } from '../../../../src/engine/reference/ops.ts';
import { webgpuRecipe } from '../../../../src/engine/webgpu/fusedRecipe.ts';
import { linearOp, wholeAct } from '../../../../src/engine/webgpu/ops.ts';
import { linearShape } from '../../../../src/engine/webgpu/linearPlan.ts';
import { ROW_INFO_WORDS } from '../../../../src/engine/webgpu/passPlan.ts';
import { planLoraTiles } from '../../../../src/engine/webgpu/lora/plan.ts';
import { createGpuLora } from '../../../../src/engine/webgpu/lora/runner.ts';
import { createGpuLoraSlotPool, type GpuLoraSlotPool } from '../../../../src/engine/webgpu/lora/slotPool.ts';
import { createGpuLoraPagePool } from '../../../../src/engine/webgpu/lora/pagePool.ts';
import { createGpuKvCache } from '../../../../src/engine/webgpu/kvCache.ts';
import { adapterTargets, layoutAdapterPages } from '../../../../src/lora/pages.ts';
import { matrixStride, uploadMatrix } from '../../../../src/engine/webgpu/weights.ts';
import type { FusedLinearOp } from '../../../../src/model/arch/fuse.ts';
import { moduleNames, projectionShape, type ModelConfig, type Projection } from '../../../../src/model/config.ts';
import { parseModelConfig } from '../../../../src/model/parseConfig.ts';
import { presetConfigJson } from '../../../../src/model/presets.ts';
import { normalStream } from '../../../../src/model/random.ts';
import { loraDeviceWeights } from '../../../../src/lora/dtype.ts';
import { createHarness, randomArray, relError, type KernelHarness } from '../harness.ts';
import { probeAdapter } from '../../../../src/gpu/device.ts';

const tinyJson = { ...presetConfigJson('tiny'), attention_bias: true };
const CONFIGS = {
  tiny: parseModelConfig({ json: tinyJson, file: 'tiny' }),
  'odd widths': parseModelConfig({ json: { ...tinyJson, head_dim: 10, num_attention_heads: 3, num_key_value_heads: 1, intermediate_size: 260 }, file: 'odd widths' }),
} satisfies Record<string, ModelConfig>;
const MAX_RANK = 16;
const SLOTS = 4;
const LAYER = 1;

/** Random adapter: A ~ N(0, 1/in), B ~ N(0, 1/r); `skip` projections absent. */
function randomWeights(config: ModelConfig, seed: number, rank: number, scale: number, skip: Projection[] = []): LoraWeights {
  const layers = Array.from({ length: config.numLayers }, (_, l) => {
    const layer: LoraWeights['layers'][number] = {};
    for (const proj of moduleNames(config)) {
      if (skip.includes(proj)) continue;
      const [out, inF] = projectionShape(config, proj);
      layer[proj] = {
        a: normalStream(seed, `a${l}${proj}`).fill(new Float32Array(rank * inF), 1 / Math.sqrt(inF), 0),
        b: normalStream(seed, `b${l}${proj}`).fill(new Float32Array(out * rank), 1 / Math.sqrt(rank), 0),
      };
    }
    return layer;
  });
  return { rank, scale, layers };
}

/** The fused op's reference output for each row: norm, every member's projection plus its LoRA delta, then GLU. */
function reference(p: { op: FusedLinearOp; x: Float32Array; rows: number; w: Float32Array; gain?: Float32Array; bias?: Float32Array; rowSlots: number[]; held: (LoraWeights | undefined)[] }): Float32Array {
  const { op } = p;
  const xn = op.norm ? rmsnorm({ x: p.x, weight: p.gain!, rows: p.rows, size: op.cols, eps: op.norm.eps, weightOffset: op.norm.weightOffset }) : p.x;
  const y = matmul({ x: xn, w: p.w, bias: p.bias, rows: p.rows, inFeatures: op.cols, outFeatures: op.rows });
  for (let r = 0; r < p.rows; r++) {
    const w = p.rowSlots[r] >= 0 ? p.held[p.rowSlots[r]] : undefined;
    for (const m of op.members) {
      const t = w?.layers[op.layer][m.module.name];
      if (!w || !t) continue;
      const v = loraShrink({ x: xn.subarray(r * op.cols, (r + 1) * op.cols), a: t.a, rows: 1, inFeatures: op.cols, rank: w.rank });
      const yr = y.slice(r * op.rows + m.column, r * op.rows + m.column + m.module.out);
      loraExpand({ y: yr, v, b: t.b, rows: 1, rank: w.rank, outFeatures: m.module.out, scale: w.scale });
      y.set(yr, r * op.rows + m.column);
    }
  }
  if (!op.glu) return y;
  const { gate, up, width } = op.glu;
  const out = new Float32Array(p.rows * width);
  for (let r = 0; r < p.rows; r++) {
    const g = y.slice(r * op.rows + gate, r * op.rows + gate + width);
    out.set(glu({ gate: g, up: y.subarray(r * op.rows + up, r * op.rows + up + width), act: op.glu.act }), r * width);
  }
  return out;
}

/** Each config's fused recipe and the layer's q|k|v, o and gate|up projections. */
const recipes = Object.fromEntries(
  Object.entries(CONFIGS).map(([name, config]) => {
    const recipe = webgpuRecipe(config);
    return [name, { recipe, ops: recipe.layers[LAYER].filter((op): op is FusedLinearOp => op.op === 'linear').slice(0, 3) }];
  }),
) as Record<keyof typeof CONFIGS, { recipe: ReturnType<typeof webgpuRecipe>; ops: FusedLinearOp[] }>;

const layouts = [
  // SGMV run, a lone row, rows without adapter, a long run (tiles of 4), decode rows, an empty slot
  { name: 'mixed prefill and decode', rowSlots: [0, 0, 0, 0, 0, 0, 0, 1, -1, -1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 0, 2, 3, 3, -1] },
  { name: 'decode only', rowSlots: [2, 0, 1, -1, 3, 1] },
  { name: 'no adapters', rowSlots: [-1, -1, -1, -1, -1, -1] },
];

/** Linear-kernel shapes: lavapipe's plain and tiled (the tiled one runs the 25-row layout, where the adapter has 8-wide subgroups), the GPUs' plain, and the GPUs' tiled (x staged in workgroup memory). */
const SHAPES = {
  cpu: linearShape({ software: true, subgroups: false }),
  'cpu tiled': linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8, tiled: true }),
  'cpu broadcast': linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8 }),
  'cpu broadcast, expand per weight row': { ...linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8 }), loraRowDeltas: false },
  'cpu broadcast, shrink pairs': { ...linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8 }), loraShrinkPairs: true },
  gpu: { tpo: 8, opl: 1, workgroup: 256 },
  'gpu tiled': { tpo: 8, opl: 1, workgroup: 256, tiled: { opl: 2, workgroup: 64 }, workgroupBytes: 16384 },
} as const;
const probe = await probeAdapter();
const lavapipeSubgroups = probe.available && probe.adapter.subgroupMinSize === 8 && probe.adapter.subgroupMaxSize === 8;

/** The adapters' ranks (slots 0-2) and the slots' rank: by default 4/16/6 in slots of rank 16. */
const RANKS = {
  default: { ranks: [4, 16, 6], maxRank: MAX_RANK },
  /** A pass's tiles mix ranks 8 to 64. */
  'ranks 8/16/64': { ranks: [8, 16, 64], maxRank: 64 },
  /** Ranks ending mid-way through B's 8-rank loads, in slots of rank 20 (B and v at 24, A at 20). */
  'ranks 12/20/8': { ranks: [12, 20, 8], maxRank: 20 },
} as const;

/** Slot dtype (`f16 b4`: f16 B at the rank rounded to 4), kernel shape, the adapters' ranks ({@link RANKS}); and the config (default tiny). */
type Case = readonly ['f32' | 'f16' | 'f16 b4' | 'pages', keyof typeof SHAPES, (Exclude<keyof typeof RANKS, 'default'> | undefined)?, ('odd widths' | undefined)?];
const CASES: Case[] = [
  ['f32', 'cpu'],
  ['f32', 'gpu'],
  ['f16', 'cpu'],
  ['f16', 'cpu', 'ranks 12/20/8'],
  ['f16', 'gpu', 'ranks 12/20/8'],
  ['f16 b4', 'cpu', 'ranks 12/20/8'],
  ['f32', 'gpu tiled'],
  ['pages', 'cpu'],
  ['pages', 'gpu'],
  ['f32', 'cpu', 'ranks 8/16/64'],
  ...(lavapipeSubgroups
    ? ([
        ['f32', 'cpu tiled'],
        ['f32', 'cpu broadcast'],
        ['f16', 'cpu broadcast'],
        ['f16', 'cpu broadcast', 'ranks 12/20/8'],
        ['f16 b4', 'cpu broadcast', 'ranks 12/20/8'],
        ['f16', 'cpu broadcast, expand per weight row', 'ranks 12/20/8'],
        ['f16', 'cpu broadcast', 'ranks 12/20/8', 'odd widths'],
        ['f16', 'cpu broadcast, shrink pairs', 'ranks 12/20/8'],
        ['f32', 'cpu broadcast, shrink pairs', 'ranks 8/16/64'],
        ['f16', 'cpu broadcast, shrink pairs', 'ranks 12/20/8', 'odd widths'],
        ['pages', 'cpu broadcast'],
        ['f32', 'cpu broadcast', 'ranks 8/16/64'],
        ['pages', 'cpu broadcast', 'ranks 8/16/64'],
        ['f32', 'cpu broadcast, expand per weight row', 'ranks 8/16/64'],
        ['f32', 'cpu broadcast', undefined, 'odd widths'],
      ] as const)
    : []),
];

/** One harness (device and kernel cache) per kernel shape, shared by its cases: a kernel variant compiles once per file. */
const harnesses = new Map<keyof typeof SHAPES, Promise<KernelHarness>>();
const harnessFor = (shape: keyof typeof SHAPES): Promise<KernelHarness> => {
  if (!harnesses.has(shape)) harnesses.set(shape, createHarness({ shape: SHAPES[shape] }));
  return harnesses.get(shape)!;
};
afterAll(async () => {
  for (const h of harnesses.values()) (await h).destroy();
});

describe.each(CASES.map(([dtype, shape, ranks, widths]) => [dtype, shape, ranks ? `, ${ranks}` : '', widths ?? 'tiny', ranks] as const))('fused LoRA (%s slots, %s kernel shape%s, %s)', (dtype, shape, _, widths, ranks) => {
  const config = CONFIGS[widths];
  const { recipe, ops } = recipes[widths];
  const f16 = dtype === 'f16' || dtype === 'f16 b4';
  const tolerance = f16 ? 1e-2 : 1e-5;
  const { ranks: adapterRanks, maxRank } = RANKS[ranks || 'default'];
  const PAGES = maxRank > MAX_RANK ? 512 : 128; // KV blocks: room for the three adapters' pages interleaved
  let h: KernelHarness;
  const held: (LoraWeights | undefined)[] = [];
  beforeAll(async () => {
    h = await harnessFor(shape);
    held[0] = randomWeights(config, 1, adapterRanks[0], 2);
    held[1] = randomWeights(config, 2, adapterRanks[1], 0.5, ['v_proj', 'up_proj']);
    held[2] = randomWeights(config, 3, adapterRanks[2], 1.25); // rank not a multiple of 4 (6): B rows padded on upload
  });
  for (const op of ops) {
    for (const layout of layouts) {
      it(`${op.key.replace(/model\.layers\.\d+\./g, '')}: ${layout.name}`, async () => {
        if (f16 && !h.gpu.hasF16) return;
        const { device } = h.gpu;
        const maxBindingBytes = h.gpu.limits.maxStorageBufferBindingSize;
        const kv = dtype === 'pages' ? createGpuKvCache({ device, config, blocks: PAGES, maxBindingBytes }) : undefined;
        const pool: GpuLoraSlotPool = kv ? createGpuLoraPagePool({ device, config, recipe, slots: SLOTS, maxRank, kv }) : createGpuLoraSlotPool({ device, config, recipe, slots: SLOTS, maxRank, dtype: f16 ? 'f16' : 'f32', maxBindingBytes, bRank8: dtype !== 'f16 b4' });
        expect(pool.bAlign).toBe(dtype === 'f16' ? 8 : 4);
        if (!kv) for (let s = 0; s < 3; s++) await pool.load(s, randomWeights(config, 9 + s, maxRank, 3)); // stale rows past the next adapters' ranks
        // In pages: each adapter's pages interleaved with the others' (ids counting down in steps of 3).
        for (let s = 0; s < 3; s++) {
          const need = kv ? layoutAdapterPages({ config, rank: held[s]!.rank, targets: adapterTargets(config, held[s]!), geometry: pool.pageGeometry! }) : 0;
          await pool.load(s, held[s]!, undefined, Array.from({ length: need }, (_, i) => PAGES - 1 - s - 3 * i));
        }
        const rounded = held.map((w) => (w && f16 ? loraDeviceWeights(w, 'f16') : w));
        const lora = createGpuLora({ device, pool, maxRows: 32, pipelines: h.ctx.pipelines, cpu: shape.startsWith('cpu'), broadcast: shape.startsWith('cpu broadcast'), pairs: shape.endsWith('shrink pairs') });
        const { rowSlots } = layout;
        const rows = rowSlots.length;
        const xStride = matrixStride(op.cols);
        const x = randomArray(rows * op.cols, 5, 2);
        const xPadded = new Float32Array(rows * xStride);
        for (let r = 0; r < rows; r++) xPadded.set(x.subarray(r * op.cols, (r + 1) * op.cols), r * xStride);
        const w = randomArray(op.rows * op.cols, 6, 0.3);
        const gain = op.norm ? randomArray(op.cols, 7) : undefined;
        const bias = op.members.some((m) => m.bias) ? randomArray(op.rows, 8) : undefined;
        const gainLength = op.norm ? xStride : 0;
        const vecValues = new Float32Array(gainLength + (bias ? op.rows : 0) + 4);
        if (gain) vecValues.set(gain.map((g) => g + op.norm!.weightOffset));
        if (bias) vecValues.set(bias, gainLength);
        const vecs = h.buffer(vecValues);
        const rowInfo = new Uint32Array(rows * ROW_INFO_WORDS);
        rowSlots.forEach((s, r) => (rowInfo[r * ROW_INFO_WORDS + 4] = s >>> 0));
        const outWidth = op.glu ? op.glu.width : op.rows;
        const yStride = matrixStride(outWidth);
        const y = h.empty(rows * yStride);
        const xAct = wholeAct(h.buffer(xPadded), op.cols, xStride);
        const norm = op.norm && { at: 0, width: op.cols, eps: op.norm.eps };
        const base = linearOp(h.ctx, {
          weight: uploadMatrix(device, 'w', { dtype: 'f32', data: w }, op.rows, op.cols, 1 << 27),
          x: xAct,
          y: wholeAct(y, outWidth, yStride),
          vecs,
          norm,
          biasAt: bias ? gainLength : undefined,
          glu: op.glu,
          lora: lora.epilogue(op, h.buffer(rowInfo)),
        });
        const shrink = lora.shrinkOp({ op, x: xAct, vecs, norm });
        const plan = lora.setRows(rowSlots);
        expect(plan).toEqual(planLoraTiles({ rowSlots, rankOf: pool.rankOf }));
        await h.run(rows, 0, (rec) => {
          shrink(rec, rows);
          base(rec, rows);
        });
        const got = await h.read(y, rows * yStride);
        const flat = new Float32Array(rows * outWidth);
        for (let r = 0; r < rows; r++) flat.set(got.subarray(r * yStride, r * yStride + outWidth), r * outWidth);
        const want = reference({ op, x, rows, w, gain, bias, rowSlots, held: rounded });
        expect(relError(flat, want)).toBeLessThan(tolerance);
        if (layout.name === 'no adapters') expect(plan.count).toBe(0);
        lora.destroy();
        pool.destroy();
        kv?.destroy();
      });
    }
  }
});

/** The adapter as f16 slots hold it. */
describe('tile planning', () => {
  it('cuts runs of one slot into tiles of 4, skips rows without an adapter or with an empty slot', () => {
    const plan = planLoraTiles({ rowSlots: [1, 1, 1, 1, 1, 1, -1, 0, 2, 2, 3], rankOf: (s) => [8, 4, 16, 0][s] });
    expect(Array.from(plan.tiles)).toEqual([0, 4, 1, 0, 4, 2, 1, 0, 7, 1, 0, 0, 8, 2, 2, 0]);
    expect(plan).toMatchObject({ count: 4, maxRank: 16, slotsUsed: [0, 1, 2] });
  });
});
