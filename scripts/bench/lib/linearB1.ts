/**
 * `npm run bench:linear -- --b1`: the batch-1 projections of a model's layer (qkv with the norm
 * prologue, o accumulating, gate_up with the GLU epilogue, down accumulating) and its lm_head, one
 * kernel at a time on random weights, beside the streaming roofline (shaders/stream.wgsl) on the
 * same device. Each projection is dispatched over enough copies of its weights to pass 96 MB, so
 * the weights stream from memory as in decode, not from the CPU's last-level cache. Variants of the
 * linear kernel's shape (`--variants current,opl=8,...`: `current` is the device's own shape, any
 * other is `key=value` pairs joined by `+` overriding it) run in interleaved rounds (the order
 * alternates), each figure the median of the rounds, with its ratio to the first variant.
 */
import { availableParallelism, loadavg } from 'node:os';
import { f32ToBf16Bits, f32ToF16Bits } from '../../../src/model/dtype.ts';
import type { DeviceMatrix } from '../../../src/model/deviceTensor.ts';
import { isQuantType, quantize, type QuantType } from '../../../src/model/quant/index.ts';
import type { Gpu } from '../../../src/gpu/device.ts';
import { linearShape, PACKED_DOT, type LinearShape } from '../../../src/engine/webgpu/linearPlan.ts';
import { createUniform, linearOp, wholeAct, type LinearOpParameters, type OpContext, type RecordOp } from '../../../src/engine/webgpu/ops.ts';
import { createPipelineCache } from '../../../src/engine/webgpu/pipelines.ts';
import { createPassRecorder } from '../../../src/engine/webgpu/recorder.ts';
import { measureReadBandwidth } from '../../../src/engine/webgpu/roofline.ts';
import { createDataBuffer, inRowGroups, matrixStride, uploadMatrix } from '../../../src/engine/webgpu/weights.ts';
import { cpuMs } from './engineRuns.ts';
import { median } from './stats.ts';

/** A weight format the projections are measured in. */
export type B1Dtype = 'f16' | 'bf16' | 'f32' | QuantType;

/** The fields of a model's config.json the projections' shapes come from. */
export interface B1Config {
  hidden_size: number;
  intermediate_size: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  num_hidden_layers: number;
  head_dim?: number;
}

/** Parameters of {@link runLinearB1}. */
export interface LinearB1Parameters {
  gpu: Gpu;
  /** The model's config.json (Hugging Face field names). */
  config: B1Config;
  dtype: B1Dtype;
  /** Shape overrides, `current` or `key=value+key=value` (numbers or true/false). */
  variants: string[];
  rounds: number;
  /** Rows of x per dispatch (default 1: batch-1 decode; 8 or 32: a batched decode step's row tile). */
  rows?: number;
  log: (line: string) => void;
}

/** One projection's figure per variant. */
export interface B1Figure {
  projection: string;
  /** Weight bytes read per dispatch (the first variant's layout; GB/s use each variant's own). */
  bytes: number;
  /** Median milliseconds per dispatch, per variant (in `variants` order). */
  ms: number[];
  gbPerSecond: number[];
  /** Percent of the median streaming roofline. */
  roofline: number[];
  /** Time of the first variant / time of each (above 1: faster than the first). */
  speedup: number[];
  /** Median CPU milliseconds of this process per dispatch (all threads: lavapipe runs the kernel on them; steadier than wall time on a busy machine), per variant. */
  cpuMs: number[];
  /** CPU time of the first variant / CPU time of each. */
  cpuSpeedup: number[];
  loadAverage: number;
}

/** The result of {@link runLinearB1}. */
export interface LinearB1Result {
  dtype: B1Dtype;
  rows: number;
  variants: string[];
  rooflineGbPerSecond: number;
  figures: B1Figure[];
  /** One layer's projections times the layer count plus the lm_head: milliseconds per batch-1 step in the linear kernels, per variant. */
  stepMs: number[];
  /** The same sum of CPU milliseconds per dispatch, per variant. */
  stepCpuMs: number[];
}

/** A variant name as a shape override of the device's linear shape. */
export function parseVariant(spec: string): Partial<LinearShape> {
  if (spec === 'current') return {};
  const out: Record<string, number | boolean | LinearShape['tiled']> = {};
  for (const part of spec.split('+')) {
    const [key, value] = part.split('=');
    if (!key || value === undefined) throw new Error(`--variants ${spec}: use current or key=value pairs joined by + (e.g. opl=8+workgroup=32)`);
    // tiled=OPL/WORKGROUP: the tiled kernel's shape (from 8 rows); tiled=false: none.
    const tiled = key === 'tiled' && value.match(/^(\d+)\/(\d+)$/);
    if (tiled) {
      out.tiled = { opl: Number(tiled[1]), workgroup: Number(tiled[2]) };
      continue;
    }
    if (key === 'tiled' && value === 'false') {
      out.tiled = undefined;
      continue;
    }
    out[key] = value === 'true' ? true : value === 'false' ? false : Number(value);
    if (typeof out[key] === 'number' && !Number.isFinite(out[key])) throw new Error(`--variants ${spec}: ${key} needs a number, true or false`);
  }
  return out as Partial<LinearShape>;
}

/** Deterministic values in [-scale, scale). */
function values(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = (a / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

function deviceMatrix(w: Float32Array, dtype: B1Dtype): DeviceMatrix {
  if (dtype === 'f32') return { dtype, data: w };
  if (isQuantType(dtype)) return { dtype, data: quantize({ values: w, type: dtype }) };
  const bits = new Uint16Array(w.length);
  for (let i = 0; i < w.length; i++) bits[i] = dtype === 'f16' ? f32ToF16Bits(w[i]) : f32ToBf16Bits(w[i]);
  return { dtype, data: bits };
}

/** Bytes the projections' copies must pass so they are not served from the CPU's last-level cache. */
const STREAM_BYTES = 96e6;

/** Measures each batch-1 projection of the model per variant (see the file comment). */
export async function runLinearB1(p: LinearB1Parameters): Promise<LinearB1Result> {
  const { gpu, config } = p;
  const { device } = gpu;
  const h = config.hidden_size;
  const headDim = config.head_dim ?? h / config.num_attention_heads;
  const inter = config.intermediate_size;
  const qkv = (config.num_attention_heads + 2 * config.num_key_value_heads) * headDim;
  const projections = [
    { name: 'qkv (norm)', k: h, n: qkv, norm: true },
    { name: 'o (accumulate)', k: config.num_attention_heads * headDim, n: h, accumulate: true },
    { name: 'gate_up (norm, glu)', k: h, n: 2 * inter, norm: true, glu: true },
    { name: 'down (accumulate)', k: inter, n: h, accumulate: true },
    { name: 'lm_head (norm)', k: h, n: config.vocab_size, norm: true },
  ];
  const base = linearShape({ software: gpu.summary.software, subgroups: gpu.hasSubgroups, subgroupMinSize: gpu.summary.subgroupMinSize, subgroupMaxSize: gpu.summary.subgroupMaxSize, workgroupBytes: device.limits.maxComputeWorkgroupStorageSize, threads: availableParallelism(), packedDot: gpu.wgslFeatures.has(PACKED_DOT) });
  const rows = p.rows ?? 1;
  const stepBuffer = createUniform(device, 'b1.step', new Uint32Array([rows, rows, 0, 0]));
  const pipelines = createPipelineCache(device);
  const contexts: OpContext[] = p.variants.map((v) => ({ device, pipelines, stepBuffer, maxRows: rows, ...base, ...parseVariant(v) }));
  const buffers: GPUBuffer[] = [stepBuffer];
  const keep = (b: GPUBuffer) => (buffers.push(b), b);
  const prepared = projections.map((proj, pi) => {
    const m = deviceMatrix(values(proj.n * proj.k, 7 + pi, 0.05), p.dtype);
    const stride = matrixStride(proj.k);
    const x = keep(createDataBuffer(device, 'b1.x', values(rows * stride, 3, 1)));
    const outWidth = proj.glu ? proj.n / 2 : proj.n;
    const y = keep(device.createBuffer({ label: 'b1.y', size: rows * outWidth * 4, usage: GPUBufferUsage.STORAGE }));
    const vecs = keep(createDataBuffer(device, 'b1.vecs', values(stride, 5, 1)));
    // Copies of the weights in each layout a variant asks for (by rows or in groups of 4 rows).
    const grouped = (ctx: OpContext) => inRowGroups(ctx, m.dtype);
    const upload = (groups: boolean) => uploadMatrix(device, `b1.${proj.name}`, m, proj.n, proj.k, gpu.limits.maxStorageBufferBindingSize, groups ? { q4RowGroups: true, halfRowGroups: true } : {});
    const first = upload(false);
    const copies = Math.max(1, Math.ceil(STREAM_BYTES / first.bytes));
    const layouts = new Map<boolean, ReturnType<typeof upload>[]>();
    for (const groups of new Set(contexts.map(grouped))) layouts.set(groups, Array.from({ length: copies }, () => upload(groups)));
    first.chunks.forEach((c) => c.buffer.destroy());
    for (const copiesOf of layouts.values()) for (const wm of copiesOf) for (const c of wm.chunks) buffers.push(c.buffer);
    const ops: RecordOp[][] = contexts.map((ctx) =>
      layouts.get(grouped(ctx))!.map((weight) => {
        const op: LinearOpParameters = {
          weight,
          x: wholeAct(x, proj.k, stride),
          y: wholeAct(y, outWidth),
          vecs,
          norm: proj.norm ? { at: 0, width: proj.k, eps: 1e-5 } : undefined,
          glu: proj.glu ? { act: 'silu', gate: 0, up: proj.n / 2, width: proj.n / 2 } : undefined,
          accumulate: proj.accumulate,
          label: proj.name,
        };
        return linearOp(ctx, op);
      }),
    );
    return { ...proj, bytes: first.bytes, variantBytes: contexts.map((ctx) => layouts.get(grouped(ctx))![0].bytes), ops };
  });
  await pipelines.warm();
  const time = async (ops: RecordOp[]) => {
    const encoder = device.createCommandEncoder();
    const rec = createPassRecorder(encoder);
    for (const op of ops) op(rec, rows);
    rec.end();
    const t0 = performance.now();
    const c0 = cpuMs();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    return { ms: (performance.now() - t0) / ops.length, cpu: (cpuMs() - c0) / ops.length };
  };
  const samples = prepared.map(() => p.variants.map(() => [] as number[]));
  const cpuSamples = prepared.map(() => p.variants.map(() => [] as number[]));
  const loads: number[] = [];
  const roofs: number[] = [];
  for (let round = 0; round <= p.rounds; round++) {
    // Round 0 warms every kernel and buffer; it is not recorded.
    const order = p.variants.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const [pi, proj] of prepared.entries()) {
      for (const vi of order) {
        const t = await time(proj.ops[vi]);
        if (round > 0) {
          samples[pi][vi].push(t.ms);
          cpuSamples[pi][vi].push(t.cpu);
        }
      }
    }
    if (round > 0) {
      roofs.push((await measureReadBandwidth({ device, runs: 3 })).gbPerSecond);
      loads.push(loadavg()[0]);
      p.log(`round ${round}/${p.rounds} done, load average ${loadavg()[0].toFixed(2)}`);
    }
  }
  for (const b of buffers) b.destroy();
  const roof = median(roofs);
  const figures: B1Figure[] = prepared.map((proj, pi) => {
    const ms = samples[pi].map(median);
    const gb = ms.map((t, vi) => proj.variantBytes[vi] / t / 1e6);
    const cpu = cpuSamples[pi].map(median);
    return { projection: proj.name, bytes: proj.bytes, ms, gbPerSecond: gb, roofline: gb.map((g) => (100 * g) / roof), speedup: ms.map((t) => ms[0] / t), cpuMs: cpu, cpuSpeedup: cpu.map((t) => cpu[0] / t), loadAverage: median(loads) };
  });
  const layers = config.num_hidden_layers;
  const step = (of: (f: B1Figure) => number[]) => p.variants.map((_, vi) => figures.reduce((s, f, i) => s + of(f)[vi] * (i === figures.length - 1 ? 1 : layers), 0));
  return { dtype: p.dtype, rows, variants: p.variants, rooflineGbPerSecond: roof, figures, stepMs: step((f) => f.ms), stepCpuMs: step((f) => f.cpuMs) };
}

/** The summary lines of a {@link LinearB1Result}: one per projection and variant, then the step. */
export function linearB1Lines(r: LinearB1Result, model: string): string[] {
  const f = (n: number, d = 2) => n.toFixed(d);
  return [
    `openlora ${r.rows}-row linear kernels: ${model} (${r.dtype}), streaming roofline ${f(r.rooflineGbPerSecond)} GB/s (median of the rounds)`,
    ...r.figures.flatMap((fig) =>
      r.variants.map((v, vi) => `  ${fig.projection.padEnd(20)} ${v.padEnd(18)} ${f(fig.ms[vi], 3).padStart(7)} ms  ${f(fig.gbPerSecond[vi]).padStart(6)} GB/s  ${f(fig.roofline[vi], 0).padStart(3)}% of roofline  ${f(fig.speedup[vi])}x  (CPU ${f(fig.cpuMs[vi], 3)} ms, ${f(fig.cpuSpeedup[vi])}x; load average ${f(fig.loadAverage)})`),
    ),
    ...r.variants.map((v, vi) => `  step (layers + lm_head) ${v.padEnd(18)} ${f(r.stepMs[vi], 1)} ms in the linear kernels: at most ${f(1000 / r.stepMs[vi], 1)} tokens/s  ${f(r.stepMs[0] / r.stepMs[vi])}x  (CPU ${f(r.stepCpuMs[vi], 1)} ms, ${f(r.stepCpuMs[0] / r.stepCpuMs[vi])}x)`),
  ];
}
