/**
 * `npm run bench:lora -- --kernels`: the LoRA kernels of one decoder layer alone, per projection
 * (q|k|v with its norm, o, gate|up with its norm and GLU, down) on a batch-32 decode tile with
 * `distinct` rows each on its own adapter slot, per kernel-shape variant (as `--variants`; a
 * `loraDtype=f16` variant gets f16 slots): CPU ms per dispatch of the shrink, of the projection
 * with its expand epilogue and of the same projection with no adapter rows (base), so the expand's
 * cost is the difference of two kernels timed side by side. Rounds interleave the variants (order
 * reversed every other round); each figure is the median over rounds of `reps` dispatches in one
 * pass, which a busy machine disturbs less than one end-to-end step.
 */
import { availableParallelism, loadavg } from 'node:os';
import type { ModelConfig } from '../../../src/model/config.ts';
import type { FusedLinearOp } from '../../../src/model/arch/fuse.ts';
import type { LoraDtype } from '../../../src/lora/dtype.ts';
import type { Gpu } from '../../../src/gpu/device.ts';
import { f32ToF16Bits } from '../../../src/model/dtype.ts';
import { webgpuRecipe } from '../../../src/engine/webgpu/fusedRecipe.ts';
import { linearShape, PACKED_DOT, type LinearShape } from '../../../src/engine/webgpu/linearPlan.ts';
import { createUniform, linearOp, wholeAct, type OpContext, type RecordOp } from '../../../src/engine/webgpu/ops.ts';
import { createPipelineCache } from '../../../src/engine/webgpu/pipelines.ts';
import { createPassRecorder } from '../../../src/engine/webgpu/recorder.ts';
import { cpuMs } from './engineRuns.ts';
import { ROW_INFO_WORDS } from '../../../src/engine/webgpu/passPlan.ts';
import { createGpuLora } from '../../../src/engine/webgpu/lora/runner.ts';
import { createGpuLoraSlotPool, type GpuLoraSlotPool } from '../../../src/engine/webgpu/lora/slotPool.ts';
import { createDataBuffer, matrixStride, uploadMatrix } from '../../../src/engine/webgpu/weights.ts';
import { randomLoraWeights } from './loraDecode.ts';
import { uniform } from './loraTraffic.ts';
import { median } from './stats.ts';

/** One projection's figures for one variant: CPU ms per dispatch. */
export interface LoraKernelFigure {
  variant: string;
  projection: string;
  /** The shrink (v = A x of every member). */
  shrinkMs: number;
  /** The projection with `distinct` adapter rows (its epilogue adds B v). */
  linearMs: number;
  /** The same projection with no adapter rows. */
  baseMs: number;
  /** (shrink + linear) / base: what the adapters cost this projection. */
  ofBase: number;
}

/** A variant: its slot dtype and kernel-shape overrides. */
export interface LoraKernelVariant {
  name: string;
  loraDtype: LoraDtype;
  shape: Partial<LinearShape>;
}

/** Parameters of {@link runLoraKernels}. */
export interface LoraKernelsParameters {
  gpu: Gpu;
  config: ModelConfig;
  variants: LoraKernelVariant[];
  rank: number;
  /** The modules the random adapters target (`config.modules` names). */
  targets: readonly string[];
  /** Rows of the decode tile (each its own adapter up to `distinct`, then cycling). */
  rows: number;
  distinct: number;
  rounds: number;
  /** Dispatches per figure and round, in one pass. */
  reps: number;
  log: (line: string) => void;
}

const LAYER = 0;

/** Measures the layer's LoRA kernels per variant (see the file comment). */
export async function runLoraKernels(p: LoraKernelsParameters): Promise<{ figures: LoraKernelFigure[]; loadAverages: number[] }> {
  const { gpu, config, rows } = p;
  const { device } = gpu;
  const recipe = webgpuRecipe(config);
  const ops = recipe.layers[LAYER].filter((op): op is FusedLinearOp => op.op === 'linear');
  const base = linearShape({ software: gpu.summary.software, subgroups: gpu.hasSubgroups, subgroupMinSize: gpu.summary.subgroupMinSize, subgroupMaxSize: gpu.summary.subgroupMaxSize, workgroupBytes: device.limits.maxComputeWorkgroupStorageSize, threads: availableParallelism(), packedDot: gpu.wgslFeatures.has(PACKED_DOT) });
  const stepBuffer = createUniform(device, 'lk.step', new Uint32Array([rows, rows, 0, 0]));
  const pipelines = createPipelineCache(device);
  const owned: GPUBuffer[] = [stepBuffer];
  const keep = (b: GPUBuffer) => (owned.push(b), b);
  // One slot pool per layout (dtype, B's rank rounding), filled with the same random adapters.
  const poolKey = (v: LoraKernelVariant) => `${v.loraDtype}/${v.shape.loraB8 !== false}`;
  const pools = new Map<string, GpuLoraSlotPool>();
  for (const v of p.variants) {
    if (pools.has(poolKey(v))) continue;
    const pool = createGpuLoraSlotPool({ device, config, recipe, slots: p.distinct, maxRank: p.rank, dtype: v.loraDtype, maxBindingBytes: gpu.limits.maxStorageBufferBindingSize, bRank8: v.shape.loraB8 });
    for (let s = 0; s < p.distinct; s++) await pool.load(s, randomLoraWeights(config, 1000 + s, p.rank, p.targets));
    pools.set(poolKey(v), pool);
  }
  const rowSlots = Array.from({ length: rows }, (_, r) => r % p.distinct);
  const rowInfoOf = (slots: number[]) => {
    const info = new Uint32Array(rows * ROW_INFO_WORDS);
    slots.forEach((s, r) => (info[r * ROW_INFO_WORDS + 4] = s >>> 0));
    return keep(createDataBuffer(device, 'lk.rowInfo', info));
  };
  const adapterRows = rowInfoOf(rowSlots);
  const baseRows = rowInfoOf(rowSlots.map(() => -1));
  const u = uniform(7);
  const fill = (n: number, s: number) => Float32Array.from({ length: n }, () => (u() * 2 - 1) * s);
  const prepared = p.variants.map((variant) => {
    const ctx: OpContext = { device, pipelines, stepBuffer, maxRows: rows, ...base, ...variant.shape };
    const pool = pools.get(poolKey(variant))!;
    const lora = createGpuLora({ device, pool, maxRows: rows, pipelines, cpu: gpu.summary.software, broadcast: ctx.loraBroadcast === true, pairs: ctx.loraShrinkPairs === true });
    lora.setRows(rowSlots);
    const projections = ops.map((op) => {
      const xStride = matrixStride(op.cols);
      const x = wholeAct(keep(createDataBuffer(device, 'lk.x', fill(rows * xStride, 1))), op.cols, xStride);
      const outWidth = op.glu ? op.glu.width : op.rows;
      const y = keep(device.createBuffer({ label: 'lk.y', size: rows * matrixStride(outWidth) * 4, usage: GPUBufferUsage.STORAGE }));
      const vecs = keep(createDataBuffer(device, 'lk.vecs', fill(xStride + op.rows + 4, 1)));
      const bits = Uint16Array.from(fill(op.rows * op.cols, 0.05), f32ToF16Bits);
      const weight = uploadMatrix(device, `lk.${op.key}`, { dtype: 'f16', data: bits }, op.rows, op.cols, gpu.limits.maxStorageBufferBindingSize, ctx); // in the layout the variant's engine uploads
      for (const c of weight.chunks) owned.push(c.buffer);
      const norm = op.norm && { at: 0, width: op.cols, eps: op.norm.eps };
      const linear = (rowInfo: GPUBuffer) => linearOp(ctx, { weight, x, y: wholeAct(y, outWidth, matrixStride(outWidth)), vecs, norm, glu: op.glu, accumulate: op.accumulate, lora: lora.epilogue(op, rowInfo), label: op.key });
      const name = op.members.map((m) => m.module.name).join('+');
      return { name, shrink: lora.shrinkOp({ op, x, vecs, norm }), linear: linear(adapterRows), base: linear(baseRows) };
    });
    return { variant, lora, projections };
  });
  await pipelines.warm();
  /**
   * CPU ms of this process per dispatch of `op` (all threads: lavapipe runs kernels on them; on a
   * busy machine steadier than timestamps, which count the time a kernel waited for a core), over
   * `reps` dispatches in one pass (a norm projection's batch tile includes its norm_stats pass).
   */
  const time = async (op: RecordOp): Promise<number> => {
    const encoder = device.createCommandEncoder();
    const rec = createPassRecorder(encoder);
    for (let r = 0; r < p.reps; r++) op(rec, rows);
    rec.end();
    const c0 = cpuMs();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (cpuMs() - c0) / p.reps;
  };
  const samples = prepared.map((v) => v.projections.map(() => ({ shrink: [] as number[], linear: [] as number[], base: [] as number[] })));
  const loadAverages: number[] = [];
  for (let round = 0; round <= p.rounds; round++) {
    // Round 0 warms every kernel and buffer; it is not recorded.
    const order = prepared.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const vi of order) {
      for (const [pi, proj] of prepared[vi].projections.entries()) {
        const shrink = await time(proj.shrink);
        const linear = await time(proj.linear);
        const baseMs = await time(proj.base);
        if (round === 0) continue;
        const s = samples[vi][pi];
        s.shrink.push(shrink);
        s.linear.push(linear);
        s.base.push(baseMs);
      }
    }
    if (round > 0) {
      loadAverages.push(loadavg()[0]);
      p.log(`round ${round}/${p.rounds}, load ${loadAverages.at(-1)!.toFixed(2)}`);
    }
  }
  const figures = prepared.flatMap((v, vi) =>
    v.projections.map((proj, pi): LoraKernelFigure => {
      const s = samples[vi][pi];
      const [shrinkMs, linearMs, baseMs] = [median(s.shrink), median(s.linear), median(s.base)];
      return { variant: v.variant.name, projection: proj.name, shrinkMs, linearMs, baseMs, ofBase: (shrinkMs + linearMs) / baseMs };
    }),
  );
  for (const v of prepared) v.lora.destroy();
  for (const pool of pools.values()) pool.destroy();
  for (const b of owned) b.destroy();
  return { figures, loadAverages };
}
