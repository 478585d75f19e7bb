import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attention, embedding, glu, kvWrite, matmul, rmsnorm, rope, type KvLayout } from '../../../src/engine/reference/ops.ts';
import { attentionOp, embedOp, gluOp, kvHeadStride, linearOp, rmsnormOp, ropeKvOp, wholeAct } from '../../../src/engine/webgpu/ops.ts';
import { OUT_ROW_WORDS } from '../../../src/engine/webgpu/passPlan.ts';
import { NORM_PARTIAL_BYTES, linearShape } from '../../../src/engine/webgpu/linearPlan.ts';
import type { OpContext } from '../../../src/engine/webgpu/ops.ts';
import { matrixStride, uploadMatrix } from '../../../src/engine/webgpu/weights.ts';
import { ropeInvFreq } from '../../../src/model/arch/rope.ts';
import type { DeviceMatrix } from '../../../src/model/deviceTensor.ts';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../../src/model/dtype.ts';
import { probeAdapter } from '../../../src/gpu/device.ts';
import { dequantize, quantize, QUANT_TYPES, isQuantType, type QuantType } from '../../../src/model/quant/index.ts';
import { createHarness, randomArray, relError, type KernelHarness } from './harness.ts';

const probe = await probeAdapter();

// Tolerances (max abs error / max |reference|): f32 kernels accumulate in f32 against a float64
// reference; f16 weights are compared with the reference run on the same f16-rounded weights.
const F32_TOL = 1e-5;
const F16_TOL = 1e-4;

/** A linear-kernel shape a test forces on the harness. */
type TestShape = Partial<Pick<OpContext, 'tpo' | 'opl' | 'workgroup' | 'xshuf' | 'tiled' | 'workgroupBytes' | 'minGroups' | 'sgNorm' | 'q4Q8x'>>;

/** Where the adapter's subgroups are exactly 8 wide (lavapipe): the shape linearShape() gives it (x broadcast, per-subgroup norm of one row, workgroups shrunk for narrow projections). */
const lavapipeShape: TestShape | undefined =
  probe.available && probe.adapter.subgroupMinSize === 8 && probe.adapter.subgroupMaxSize === 8 ? linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8, threads: 2 }) : undefined;

let h: KernelHarness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.destroy());

/** `values` in a device dtype (or ggml blocks), and the f32 values that dtype holds. */
function toDevice(values: Float32Array, dtype: 'f32' | 'f16' | 'bf16' | QuantType): { m: DeviceMatrix; rounded: Float32Array } {
  if (dtype === 'f32') return { m: { dtype, data: values }, rounded: values };
  if (isQuantType(dtype)) {
    const data = quantize({ values, type: dtype });
    return { m: { dtype, data }, rounded: dequantize({ data, type: dtype }) };
  }
  const bits = new Uint16Array(values.length);
  const rounded = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    bits[i] = dtype === 'f16' ? f32ToF16Bits(values[i]) : f32ToBf16Bits(values[i]);
    rounded[i] = dtype === 'f16' ? f16BitsToF32(bits[i]) : bf16BitsToF32(bits[i]);
  }
  return { m: { dtype, data: bits }, rounded };
}

/** `[rows, width]` values in a buffer whose rows are `stride` elements (padding `pad`, default 0). */
function padded(values: Float32Array, rows: number, width: number, stride: number, pad = 0): Float32Array {
  const out = new Float32Array(rows * stride).fill(pad);
  for (let r = 0; r < rows; r++) out.set(values.subarray(r * width, (r + 1) * width), r * stride);
  return out;
}

/** The `[rows, width]` columns of a `[rows, stride]` buffer's values. */
function unpadded(values: Float32Array, rows: number, width: number, stride: number, offset = 0): Float32Array {
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(values.subarray(r * stride + offset, r * stride + offset + width), r * width);
  return out;
}

async function runLinear(p: { rows: number; n: number; k: number; dtype: 'f32' | 'f16' | 'bf16' | QuantType; bias?: boolean; accumulate?: boolean; softcap?: number; maxBinding?: number; subgroups?: boolean; shape?: TestShape; harness?: KernelHarness }) {
  const harness = p.harness ?? (p.subgroups === false || p.shape ? await createHarness({ subgroups: p.subgroups, shape: p.shape }) : h);
  const w = randomArray(p.n * p.k, 1 + p.n, 0.5);
  const x = randomArray(p.rows * p.k, 2 + p.rows);
  const y0 = randomArray(p.rows * p.n, 3);
  const bias = p.bias ? randomArray(p.n, 4) : undefined;
  const { m, rounded } = toDevice(w, p.dtype);
  const weight = uploadMatrix(harness.ctx.device, 'w', m, p.n, p.k, p.maxBinding ?? 1 << 27);
  const xStride = matrixStride(p.k); // activation rows padded as the forward pass pads them
  const yBuf = harness.buffer(y0);
  const op = linearOp(harness.ctx, { weight, x: wholeAct(harness.buffer(padded(x, p.rows, p.k, xStride)), p.k, xStride), y: wholeAct(yBuf, p.n), vecs: bias && harness.buffer(bias), biasAt: bias ? 0 : undefined, accumulate: p.accumulate, softcap: p.softcap });
  await harness.run(p.rows, 0, (rec) => op(rec, p.rows));
  const got = await harness.read(yBuf, p.rows * p.n);
  const want = matmul({ x, w: rounded, bias, rows: p.rows, inFeatures: p.k, outFeatures: p.n });
  if (p.softcap) for (let i = 0; i < want.length; i++) want[i] = p.softcap * Math.tanh(want[i] / p.softcap);
  if (p.accumulate) for (let i = 0; i < want.length; i++) want[i] += y0[i];
  if (harness !== h && harness !== p.harness) harness.destroy();
  return { got, want, chunks: weight.chunks.length };
}

/** The embedding kernel's rows for `tokens` (scale 2.5) from a `[vocab, size]` table in `dtype`, and the reference's on the values that dtype holds. */
async function runEmbed(p: { vocab: number; size: number; dtype: 'f32' | 'f16' | 'bf16' | QuantType; maxBinding: number; tokens: number[] }) {
  const { size, tokens } = p;
  const stride = isQuantType(p.dtype) ? size : matrixStride(size);
  const { m: dm, rounded } = toDevice(randomArray(p.vocab * size, 13), p.dtype);
  const m = uploadMatrix(h.ctx.device, 'embed', dm, p.vocab, size, p.maxBinding);
  const rowInfo = new Uint32Array(tokens.flatMap((t) => [t, 0, 0, 0, 0, 0, 0, 0]));
  const x = h.empty(tokens.length * stride);
  const op = embedOp(h.ctx, { table: m, rowInfo: h.buffer(rowInfo), x: wholeAct(x, size, stride), scale: 2.5 });
  await h.run(tokens.length, 0, (rec) => op(rec, tokens.length));
  const got = unpadded(await h.read(x, tokens.length * stride), tokens.length, size, stride);
  return { got, want: embedding({ table: rounded, tokens, hiddenSize: size, scale: 2.5 }), chunks: m.chunks.length };
}

describe('linear kernel (tiled mat-vec / mat-mul)', () => {
  for (const rows of [1, 3, 8, 17, 40]) {
    it(`f32 weights, ${rows} rows`, async () => {
      const { got, want } = await runLinear({ rows, n: 72, k: 96, dtype: 'f32' });
      expect(relError(got, want)).toBeLessThan(F32_TOL);
    });
  }
  it('f16 weights with bias, 5 rows', async () => {
    const { got, want } = await runLinear({ rows: 5, n: 64, k: 128, dtype: 'f16', bias: true });
    expect(relError(got, want)).toBeLessThan(F16_TOL);
  });
  it('accumulates into y (residual projections), f16, 33 rows', async () => {
    const { got, want } = await runLinear({ rows: 33, n: 40, k: 64, dtype: 'f16', accumulate: true });
    expect(relError(got, want)).toBeLessThan(F16_TOL);
  });
  it('splits a weight larger than one binding into row chunks', async () => {
    const { got, want, chunks } = await runLinear({ rows: 2, n: 100, k: 64, dtype: 'f32', maxBinding: 64 * 4 * 30 });
    expect(chunks).toBe(4);
    expect(relError(got, want)).toBeLessThan(F32_TOL);
  });
  it('bf16 weights (unpacked exactly), 3 rows', async () => {
    const { got, want } = await runLinear({ rows: 3, n: 64, k: 128, dtype: 'bf16' });
    expect(relError(got, want)).toBeLessThan(F32_TOL);
  });
  it('inner sizes that are not a multiple of 8 (intermediate 260): rows padded with zeros', async () => {
    for (const dtype of ['f32', 'f16', 'bf16'] as const) {
      const { got, want } = await runLinear({ rows: 4, n: 24, k: 260, dtype });
      expect(relError(got, want)).toBeLessThan(dtype === 'f16' ? F16_TOL : F32_TOL);
    }
  });
  it('soft-capped output (Gemma 2 logits)', async () => {
    const { got, want } = await runLinear({ rows: 2, n: 40, k: 64, dtype: 'f32', softcap: 1.5 });
    expect(relError(got, want)).toBeLessThan(F32_TOL);
  });
  it('workgroup-memory reduction (no subgroups)', async () => {
    const { got, want } = await runLinear({ rows: 6, n: 48, k: 64, dtype: 'f16', subgroups: false });
    expect(relError(got, want)).toBeLessThan(F16_TOL);
  });
  // The shapes linearShape() picks: GPUs (split k, subgroup butterfly) and CPU adapters (tpo 1, opl 4).
  const shapes: { tpo: number; opl: number; workgroup: number; xshuf?: boolean }[] = [{ tpo: 8, opl: 1, workgroup: 256 }, { tpo: 1, opl: 4, workgroup: 64 }, { tpo: 4, opl: 2, workgroup: 64 }];
  // x broadcast through 8-wide subgroups: runs where the adapter's subgroups are exactly 8 wide (lavapipe).
  if (lavapipeShape) shapes.push({ tpo: 1, opl: 4, workgroup: 64, xshuf: true }, { ...lavapipeShape } as (typeof shapes)[number]);
  for (const shape of shapes) {
    for (const rows of [1, 9]) {
      it(`shape tpo ${shape.tpo} opl ${shape.opl} wg ${shape.workgroup}${shape.xshuf ? ' xshuf' : ''}${'minGroups' in shape ? ' (lavapipe: workgroups fitted)' : ''}: ${rows} rows, n not a multiple of the tile`, async () => {
        const { got, want } = await runLinear({ rows, n: 70, k: 96, dtype: 'f16', accumulate: true, shape });
        expect(relError(got, want)).toBeLessThan(F16_TOL);
        const f32 = await runLinear({ rows, n: 70, k: 96, dtype: 'f32', shape });
        expect(relError(f32.got, f32.want)).toBeLessThan(F32_TOL);
      });
    }
  }
});

describe('linear kernel prologue and epilogue (fused RMSNorm, GLU)', () => {
  /** rmsnorm(x) W^T (+ bias), or act(gate) · up over two row ranges of W, on the given shape. */
  /** `padX`: x's padding columns (k to its stride) hold this value instead of 0 (the weights' padding is 0, so only a norm summing them would change y). */
  async function runFused(p: { rows: number; n: number; k: number; dtype: 'f32' | 'f16' | QuantType; weightOffset?: number; glu?: 'silu' | 'gelu_tanh'; bias?: boolean; shape?: TestShape; harness?: KernelHarness; padX?: number }) {
    const harness = p.harness ?? (p.shape ? await createHarness({ shape: p.shape }) : h);
    const rowsW = p.glu ? 2 * p.n : p.n;
    const w = randomArray(rowsW * p.k, 31, 0.5);
    const x = randomArray(p.rows * p.k, 32, 3);
    const gain = randomArray(p.k, 33);
    const bias = p.bias ? randomArray(rowsW, 34) : undefined;
    const offset = p.weightOffset ?? 0;
    const { m, rounded } = toDevice(w, p.dtype);
    const xStride = matrixStride(p.k);
    const vec = new Float32Array(xStride + rowsW);
    vec.set(gain.map((g) => g + offset));
    if (bias) vec.set(bias, xStride);
    const width = p.glu ? p.n : rowsW;
    const y = harness.empty(p.rows * width);
    const op = linearOp(harness.ctx, {
      weight: uploadMatrix(harness.ctx.device, 'w', m, rowsW, p.k, 1 << 27),
      x: wholeAct(harness.buffer(padded(x, p.rows, p.k, xStride, p.padX)), p.k, xStride),
      y: wholeAct(y, width),
      vecs: harness.buffer(vec),
      norm: { at: 0, width: p.k, eps: 1e-5 },
      biasAt: bias ? xStride : undefined,
      glu: p.glu && { act: p.glu, gate: 0, up: p.n, width: p.n },
    });
    await harness.run(p.rows, 0, (rec) => op(rec, p.rows));
    const got = await harness.read(y, p.rows * width);
    const xn = rmsnorm({ x, weight: gain, rows: p.rows, size: p.k, eps: 1e-5, weightOffset: offset });
    const full = matmul({ x: xn, w: rounded, bias, rows: p.rows, inFeatures: p.k, outFeatures: rowsW });
    let want = full;
    if (p.glu) {
      want = new Float32Array(p.rows * p.n);
      for (let r = 0; r < p.rows; r++) want.set(glu({ gate: full.slice(r * rowsW, r * rowsW + p.n), up: full.subarray(r * rowsW + p.n, (r + 1) * rowsW), act: p.glu }), r * p.n);
    }
    if (harness !== h && harness !== p.harness) harness.destroy();
    return { got, want };
  }
  tiledRunFused = runFused;
  const shapes: (TestShape | undefined)[] = [undefined, { tpo: 1, opl: 4, workgroup: 64 }, ...(lavapipeShape ? [{ tpo: 1, opl: 4, workgroup: 64, xshuf: true }, lavapipeShape] : [])];
  for (const shape of shapes) {
    const name = shape ? `tpo ${shape.tpo} opl ${shape.opl}${shape.xshuf ? ' xshuf' : ''}${shape.sgNorm ? ' (lavapipe: subgroup norm, workgroups fitted)' : ''}` : 'default shape';
    for (const rows of [1, 3, 9, 33]) {
      it(`rmsnorm prologue (gain offset 1, bias), ${name}, ${rows} rows, width 260`, async () => {
        const { got, want } = await runFused({ rows, n: 70, k: 260, dtype: 'f32', weightOffset: 1, bias: true, shape });
        expect(relError(got, want)).toBeLessThan(F32_TOL);
      });
    }
    for (const act of ['silu', 'gelu_tanh'] as const) {
      for (const rows of [1, 5]) {
        it(`GLU epilogue (${act}) after the rmsnorm prologue, ${name}, f16 weights, ${rows} rows`, async () => {
          const { got, want } = await runFused({ rows, n: 36, k: 96, dtype: 'f16', glu: act, shape });
          expect(relError(got, want)).toBeLessThan(F16_TOL);
        });
      }
    }
  }

  // lavapipe's Q4_0 decode tiles (1 and 4 rows) go by blocks (shaders/linear.wgsl Q4DOT: raw
  // nibbles against x scaled per lane, d · (q · x - 8 · sum x) per block, 8 weight rows per
  // invocation in one-row tiles, each weight row's scales loaded once per 2 blocks: k 288 and 96
  // are odd block counts, so a row's last block has no pair and rows after the first start
  // mid-pair in memory; k 768 below pairs every block); 9 and 33 rows take the per-chunk path.
  // Against the reference on the dequantized values, with f32 x (`q4Q8x: false`; x as Q8_0 blocks:
  // q8x.test.ts).
  if (lavapipeShape) {
    const f32x = { ...lavapipeShape, q4Q8x: false };
    for (const rows of [1, 3, 9, 33]) {
      it(`Q4_0 on lavapipe's shape: rmsnorm prologue (gain offset 1, bias), ${rows} rows, n 70, k 288`, async () => {
        const { got, want } = await runFused({ rows, n: 70, k: 288, dtype: 'q4_0', weightOffset: 1, bias: true, shape: f32x });
        expect(relError(got, want)).toBeLessThan(F32_TOL);
      });
    }
    for (const rows of [1, 4]) {
      it(`Q4_0 on lavapipe's shape: GLU epilogue after the rmsnorm prologue, ${rows} rows, n 36, k 96`, async () => {
        const { got, want } = await runFused({ rows, n: 36, k: 96, dtype: 'q4_0', glu: 'silu', shape: f32x });
        expect(relError(got, want)).toBeLessThan(F32_TOL);
      });
    }
  }
});

// lavapipe's batch tiles (8, 16, 32 rows: batched decode, prefill chunks): the plain kernel with
// 16 weight rows per invocation in workgroups of 16 (`batchOpl`, `batchWorkgroup`), norm prologue
// and GLU epilogue, n odd and past one workgroup's 256 outputs, 33 rows (two workgroups along y);
// x's padding columns nonzero (a norm must stop at its width: the weights' padding is 0).
if (lavapipeShape) {
  describe("linear kernel on lavapipe's batch tiles", () => {
    let th: KernelHarness;
    beforeAll(async () => {
      th = await createHarness({ shape: lavapipeShape });
    });
    afterAll(() => th?.destroy());
    it('plans 16 weight rows per invocation in workgroups of 16 from 8 rows', () => {
      expect(lavapipeShape).toMatchObject({ batchOpl: 16, batchWorkgroup: 16 });
    });
    for (const rows of [6, 13, 29, 33]) {
      it(`rmsnorm prologue (gain offset 1, bias), ${rows} rows, n 299, width 260, x padded with 7`, async () => {
        const { got, want } = await tiledRunFused({ rows, n: 299, k: 260, dtype: 'f32', weightOffset: 1, bias: true, harness: th, padX: 7 });
        expect(relError(got, want)).toBeLessThan(F32_TOL);
      });
    }
    for (const rows of [7, 16, 27]) {
      it(`GLU (silu) epilogue after the norm, f16, ${rows} rows, n 35, width 100`, async () => {
        const { got, want } = await tiledRunFused({ rows, n: 35, k: 100, dtype: 'f16', glu: 'silu', harness: th, padX: -5 });
        expect(relError(got, want)).toBeLessThan(F16_TOL);
      });
    }
    it('f16 weights accumulating into y, 21 rows, n 299, k 260', async () => {
      const { got, want } = await runLinear({ rows: 21, n: 299, k: 260, dtype: 'f16', accumulate: true, harness: th });
      expect(relError(got, want)).toBeLessThan(F16_TOL);
    });
  });
}

let tiledRunFused: (p: Parameters<typeof runLinear>[0] & { weightOffset?: number; glu?: 'silu' | 'gelu_tanh'; dtype: 'f32' | 'f16'; padX?: number }) => Promise<{ got: Float32Array; want: Float32Array }>;

// The tiled kernel (rows >= TILED_MIN_ROWS), in the shapes linearTiles() picks: lavapipe's (x
// broadcast through 8-wide subgroups, register tile 8 weight rows) where the adapter has them, and
// the GPUs' (x staged in workgroup memory; a small budget forces several stage rounds, a k-split
// of 2 to 4 and partial last rounds), with subgroup and with workgroup-memory reductions. Row
// counts that are not a multiple of the tile, k padded (260 -> 264), n not a multiple of a workgroup's outputs.
const tiledShapes: { name: string; shape: TestShape; subgroups?: boolean }[] = [
  { name: 'x in workgroup memory, subgroup reduction', shape: { tpo: 4, opl: 1, workgroup: 64, tiled: { opl: 2, workgroup: 64 }, workgroupBytes: NORM_PARTIAL_BYTES + 2048 } },
  { name: 'x in workgroup memory, workgroup-memory reduction', shape: { tpo: 8, opl: 1, workgroup: 64, tiled: { opl: 3, workgroup: 32 }, workgroupBytes: NORM_PARTIAL_BYTES + 4096 }, subgroups: false },
  ...(probe.available && probe.adapter.subgroupMinSize === 8 && probe.adapter.subgroupMaxSize === 8 ? [{ name: 'x broadcast through subgroups (lavapipe)', shape: linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8, tiled: true }) }] : []),
];
describe.each(tiledShapes)('tiled linear kernel: $name', ({ shape, subgroups }) => {
  let th: KernelHarness;
  beforeAll(async () => {
    th = await createHarness({ shape, subgroups });
  });
  afterAll(() => th?.destroy());
  for (const rows of [8, 13, 40]) {
    it(`f32 and f16 weights, ${rows} rows, k 260, accumulating`, async () => {
      const f32 = await runLinear({ rows, n: 70, k: 260, dtype: 'f32', accumulate: true, harness: th });
      expect(relError(f32.got, f32.want)).toBeLessThan(F32_TOL);
      const f16 = await runLinear({ rows, n: 70, k: 260, dtype: 'f16', harness: th });
      expect(relError(f16.got, f16.want)).toBeLessThan(F16_TOL);
    });
  }
  it('bias and soft-cap, 33 rows', async () => {
    const { got, want } = await runLinear({ rows: 33, n: 24, k: 64, dtype: 'f32', bias: true, softcap: 1.5, harness: th });
    expect(relError(got, want)).toBeLessThan(F32_TOL);
  });
  for (const type of QUANT_TYPES) {
    it(`${type} blocks, 17 rows, matrix split in chunks`, async () => {
      const { got, want, chunks } = await runLinear({ rows: 17, n: 40, k: 512, dtype: type, bias: true, maxBinding: 8192, harness: th });
      expect(chunks).toBeGreaterThan(1);
      expect(relError(got, want)).toBeLessThan(F32_TOL);
    });
  }
  it('rmsnorm prologue with bias, 13 rows, width 260', async () => {
    const { got, want } = await tiledRunFused({ rows: 13, n: 70, k: 260, dtype: 'f32', weightOffset: 1, bias: true, harness: th });
    expect(relError(got, want)).toBeLessThan(F32_TOL);
  });
  it('GLU epilogue after the rmsnorm prologue, 9 rows, f16', async () => {
    const { got, want } = await tiledRunFused({ rows: 9, n: 36, k: 96, dtype: 'f16', glu: 'silu', harness: th });
    expect(relError(got, want)).toBeLessThan(F16_TOL);
  });
});

describe('elementwise and row kernels', () => {
  for (const variant of [{ weightOffset: 0, add: false }, { weightOffset: 1, add: true }]) {
    it(`rmsnorm (gain offset ${variant.weightOffset}${variant.add ? ', added into y' : ''}), strided rows`, async () => {
      const rows = 5;
      const size = 300;
      const stride = matrixStride(size);
      const x = randomArray(rows * size, 7, 3);
      const weight = randomArray(size, 8);
      const y0 = randomArray(rows * size, 9);
      const y = h.buffer(padded(y0, rows, size, stride));
      const op = rmsnormOp(h.ctx, { x: wholeAct(h.buffer(padded(x, rows, size, stride)), size, stride), weight: h.buffer(weight), y: wholeAct(y, size, stride), eps: 1e-5, ...variant });
      await h.run(rows, 0, (rec) => op(rec, rows));
      const want = rmsnorm({ x, weight, rows, size, eps: 1e-5, weightOffset: variant.weightOffset, add: variant.add, out: y0.slice() });
      expect(relError(unpadded(await h.read(y, rows * stride), rows, size, stride), want)).toBeLessThan(F32_TOL);
    });
  }

  it('rmsnorm gathering output rows', async () => {
    const size = 64;
    const x = randomArray(6 * size, 9);
    const weight = randomArray(size, 10);
    const table = new Uint32Array(2 * OUT_ROW_WORDS); // srcRow first in each output row
    table[0] = 4;
    table[OUT_ROW_WORDS] = 1;
    const y = h.empty(2 * size);
    const op = rmsnormOp(h.ctx, { x: wholeAct(h.buffer(x), size), weight: h.buffer(weight), y: wholeAct(y, size), eps: 1e-6, gather: h.buffer(table) });
    await h.run(6, 2, (rec) => op(rec, 2));
    const picked = new Float32Array([...x.subarray(4 * size, 5 * size), ...x.subarray(size, 2 * size)]);
    expect(relError(await h.read(y, 2 * size), rmsnorm({ x: picked, weight, rows: 2, size, eps: 1e-6 }))).toBeLessThan(F32_TOL);
  });

  for (const act of ['silu', 'gelu_tanh'] as const) {
    it(`glu ${act}, gate and up as columns of one buffer (Phi-3 gate_up)`, async () => {
      const rows = 3;
      const width = 260;
      const stride = matrixStride(2 * width);
      const gate = randomArray(rows * width, 11, 4);
      const up = randomArray(rows * width, 12);
      const both = new Float32Array(rows * stride);
      for (let r = 0; r < rows; r++) {
        both.set(gate.subarray(r * width, (r + 1) * width), r * stride);
        both.set(up.subarray(r * width, (r + 1) * width), r * stride + width);
      }
      const b = h.buffer(both);
      const op = gluOp(h.ctx, { gate: { buffer: b, stride, offset: 0, width }, up: { buffer: b, stride, offset: width, width }, act });
      await h.run(rows, 0, (rec) => op(rec, rows));
      expect(relError(unpadded(await h.read(b, rows * stride), rows, width, stride), glu({ gate, up, act }))).toBeLessThan(F32_TOL);
    });
  }

  for (const dtype of ['f32', 'f16', 'bf16'] as const) {
    it(`embedding gather (${dtype}, table split in chunks, odd width, scaled)`, async () => {
      const size = 66;
      const stride = matrixStride(size);
      const { got, want, chunks } = await runEmbed({ vocab: 50, size, dtype, maxBinding: 16 * stride * 4, tokens: [49, 0, 17, 16, 33] });
      expect(chunks).toBeGreaterThan(1);
      expect(Array.from(got)).toEqual(Array.from(want));
    });
  }
});

// ggml blocks read in place (matrix.wgsl): the kernels dequantize with ggml's f32 products, so
// they match the reference run on the dequantized values within f32 accumulation error.
describe.each(QUANT_TYPES)('quantized weights (%s blocks on the GPU)', (type) => {
  for (const rows of [1, 9]) {
    it(`linear, ${rows} rows, bias, matrix split in chunks`, async () => {
      const { got, want, chunks } = await runLinear({ rows, n: 40, k: 512, dtype: type, bias: true, maxBinding: 8192 });
      expect(chunks).toBeGreaterThan(1);
      expect(relError(got, want)).toBeLessThan(F32_TOL);
    });
  }

  // lavapipe's plain kernel: k of 3 K-quant blocks, n not a multiple of a workgroup's outputs (the
  // workgroup shrunk so the projection splits into 8).
  if (lavapipeShape) {
    for (const rows of [1, 3]) {
      it(`linear on lavapipe's shape, ${rows} rows, bias, accumulating`, async () => {
        const { got, want } = await runLinear({ rows, n: 45, k: 768, dtype: type, bias: true, accumulate: true, shape: lavapipeShape });
        expect(relError(got, want)).toBeLessThan(F32_TOL);
      });
    }
  }

  it('embedding gather (table split in chunks, scaled)', async () => {
    const { got, want, chunks } = await runEmbed({ vocab: 20, size: 256, dtype: type, maxBinding: 1024, tokens: [19, 0, 7, 6, 13] });
    expect(chunks).toBeGreaterThan(1);
    expect(relError(got, want)).toBeLessThan(1e-6);
  });
});

describe('RoPE + paged KV write + attention', () => {
  // Two sequences in one step over a shared pool, with scattered block tables spanning many blocks:
  // A has 40 cached positions and 3 new rows (prefill chunk), B decodes one row at position 70.
  // q, k and v are columns of one buffer (as Phi-3's fused qkv_proj writes them).
  const cases = [
    { name: 'plain', headDim: 32, rotaryDim: 32, window: 0, softcap: 0, workgroup: 32 },
    { name: 'plain, CPU-adapter workgroup', headDim: 32, rotaryDim: 32, window: 0, softcap: 0, workgroup: 8 },
    { name: 'sliding window 20, soft-cap 5 (Gemma 2 local layer)', headDim: 32, rotaryDim: 32, window: 20, softcap: 5, workgroup: 32 },
    { name: 'window 16 crossing block edges, partial rotary 3/4', headDim: 16, rotaryDim: 12, window: 16, softcap: 0, workgroup: 8 },
    { name: 'head_dim 10 (not a multiple of 4)', headDim: 10, rotaryDim: 10, window: 0, softcap: 0, workgroup: 32 },
    // lavapipe's shape (8-wide subgroups): one subgroup per workgroup, loads broadcast, merged by
    // subgroup operations; fused (decode), the query heads of a kv group share a workgroup (2 of
    // 2 heads per kv head; with 12 heads over 2 kv heads, 3 per workgroup, 2 workgroups per kv head).
    ...(lavapipeShape
      ? [
          { name: 'plain, one 8-wide subgroup (broadcast loads, subgroup merge)', headDim: 32, rotaryDim: 32, window: 0, softcap: 0, workgroup: 8, broadcast: true },
          { name: '12 heads over 2 kv heads, one 8-wide subgroup', headDim: 32, rotaryDim: 32, window: 0, softcap: 0, workgroup: 8, broadcast: true, numHeads: 12 },
          { name: 'window 16, partial rotary 3/4, one 8-wide subgroup', headDim: 16, rotaryDim: 12, window: 16, softcap: 0, workgroup: 8, broadcast: true },
          { name: 'head_dim 10, soft-cap 5, one 8-wide subgroup', headDim: 10, rotaryDim: 10, window: 0, softcap: 5, workgroup: 8, broadcast: true },
        ]
      : []),
  ];
  for (const c of cases) for (const fused of [false, true]) it(`matches the reference over many blocks: ${c.name}${fused ? ', RoPE and the KV store fused into attention' : ''}`, async () => {
    h.ctx.attentionWorkgroup = c.workgroup;
    h.ctx.attentionBroadcast = 'broadcast' in c && c.broadcast;
    const numHeads = ('numHeads' in c ? c.numHeads : undefined) ?? 4;
    const numKvHeads = 2;
    const { headDim, rotaryDim } = c;
    const hs = kvHeadStride(headDim);
    const scale = 0.7 / Math.sqrt(headDim);
    const numBlocks = 12; // blocks 0..11
    const layout: KvLayout = { numLayers: 1, numKvHeads, headDim, blockSize: 16 };
    const invFreq = ropeInvFreq({ rotaryDim, theta: 10000 });
    // The fused kernel runs decode passes: one row per sequence.
    const seqs = [
      { table: [7, 2, 9], cached: 40, rows: fused ? 1 : 3 },
      { table: [1, 11, 4, 0, 5], cached: 70, rows: 1 },
      ...(fused ? [{ table: [3, 6], cached: 16, rows: 1 }] : []),
    ];
    const qDim = numHeads * headDim;
    const kvDim = numKvHeads * headDim;
    const refCache = new Float32Array(numBlocks * 2 * 16 * kvDim);
    const gpuK = new Float32Array(numBlocks * 16 * numKvHeads * hs);
    const gpuV = new Float32Array(numBlocks * 16 * numKvHeads * hs);
    // Fill the cached positions directly (as earlier steps would have).
    seqs.forEach((s, si) => {
      const k = randomArray(s.cached * kvDim, 20 + si);
      const v = randomArray(s.cached * kvDim, 30 + si);
      const positions = Array.from({ length: s.cached }, (_, i) => i);
      kvWrite({ cache: refCache, layout, blockTable: s.table, layer: 0, k, v, positions, rows: s.cached });
      for (let pos = 0; pos < s.cached; pos++) {
        const block = s.table[Math.floor(pos / 16)];
        for (let hh = 0; hh < numKvHeads; hh++) {
          const dst = ((block * numKvHeads + hh) * 16 + (pos % 16)) * hs;
          gpuK.set(k.subarray(pos * kvDim + hh * headDim, pos * kvDim + (hh + 1) * headDim), dst);
          gpuV.set(v.subarray(pos * kvDim + hh * headDim, pos * kvDim + (hh + 1) * headDim), dst);
        }
      }
    });
    const rows = seqs.reduce((n, x) => n + x.rows, 0);
    const q = randomArray(rows * qDim, 40);
    const k = randomArray(rows * kvDim, 41);
    const v = randomArray(rows * kvDim, 42);
    const stride = matrixStride(qDim + 2 * kvDim);
    const qkv = new Float32Array(rows * stride); // [rows, stride]: q | k | v columns
    for (let r = 0; r < rows; r++) {
      qkv.set(q.subarray(r * qDim, (r + 1) * qDim), r * stride);
      qkv.set(k.subarray(r * kvDim, (r + 1) * kvDim), r * stride + qDim);
      qkv.set(v.subarray(r * kvDim, (r + 1) * kvDim), r * stride + qDim + kvDim);
    }
    const rowInfo: number[] = [];
    const bt: number[] = [];
    const positions: number[] = [];
    seqs.forEach((s) => {
      const off = bt.length;
      const first = positions.length;
      bt.push(...s.table);
      for (let i = 0; i < s.rows; i++) {
        rowInfo.push(0, s.cached + i, off, first, 0, 0, 0, 0);
        positions.push(s.cached + i);
      }
    });
    const half = rotaryDim / 2;
    const table = new Float32Array(80 * half * 2);
    for (let pos = 0; pos < 80; pos++)
      for (let i = 0; i < half; i++) {
        const a = Math.fround(pos * invFreq[i]);
        table[(pos * half + i) * 2] = Math.cos(a);
        table[(pos * half + i) * 2 + 1] = Math.sin(a);
      }
    const qkvBuf = h.buffer(qkv);
    const view = (offset: number, width: number) => ({ buffer: qkvBuf, stride, offset, width });
    const bufs = { rowInfo: h.buffer(new Uint32Array(rowInfo)), blockTables: h.buffer(new Uint32Array(bt)), ropeTable: h.buffer(table), kCache: h.buffer(gpuK), vCache: h.buffer(gpuV) };
    const outStride = matrixStride(qDim);
    const out = h.empty(rows * outStride);
    const heads = { numHeads, numKvHeads, headDim };
    const ropeOp = ropeKvOp(h.ctx, { ...heads, rotaryDim, maxPos: 80, ...bufs, q: view(0, qDim), k: view(qDim, kvDim), v: view(qDim + kvDim, kvDim) });
    const fusedParams = fused ? { k: view(qDim, kvDim), v: view(qDim + kvDim, kvDim), rotaryDim, ropeTable: bufs.ropeTable } : undefined;
    const attnOp = attentionOp(h.ctx, { ...heads, scale, window: c.window, softcap: c.softcap, rowInfo: bufs.rowInfo, blockTables: bufs.blockTables, q: view(0, qDim), kCache: bufs.kCache, vCache: bufs.vCache, out: wholeAct(out, qDim, outStride), fused: fusedParams });
    await h.run(rows, 0, (rec) => {
      if (!fused) ropeOp(rec, rows);
      attnOp(rec, rows);
    });
    // Reference: rope on q and k, write k/v per sequence, attention per sequence.
    const qr = rope({ x: q.slice(), positions, rows, numHeads, headDim, invFreq });
    const kr = rope({ x: k.slice(), positions, rows, numHeads: numKvHeads, headDim, invFreq });
    const want = new Float32Array(rows * qDim);
    let r0 = 0;
    seqs.forEach((s) => {
      const pos = positions.slice(r0, r0 + s.rows);
      kvWrite({ cache: refCache, layout, blockTable: s.table, layer: 0, k: kr.subarray(r0 * kvDim), v: v.subarray(r0 * kvDim), positions: pos, rows: s.rows });
      const o = attention({ q: qr.subarray(r0 * qDim), cache: refCache, layout, blockTable: s.table, layer: 0, positions: pos, rows: s.rows, numHeads, scale, window: c.window, softcap: c.softcap });
      want.set(o, r0 * qDim);
      r0 += s.rows;
    });
    if (!fused) expect(relError(unpadded(await h.read(qkvBuf, rows * stride), rows, qDim, stride), qr)).toBeLessThan(F32_TOL);
    expect(relError(unpadded(await h.read(out, rows * outStride), rows, qDim, outStride), want)).toBeLessThan(F32_TOL);
    // The new rows' rotated k and v are in the cache for later steps.
    const [kGot, vGot] = [await h.read(bufs.kCache, gpuK.length), await h.read(bufs.vCache, gpuV.length)];
    const seqOfRow = seqs.flatMap((s) => Array.from({ length: s.rows }, () => s));
    positions.forEach((pos, r) => {
      const s = seqOfRow[r];
      const block = s.table[Math.floor(pos / 16)];
      for (let hh = 0; hh < numKvHeads; hh++) {
        const at = ((block * numKvHeads + hh) * 16 + (pos % 16)) * hs;
        expect(relError(kGot.subarray(at, at + headDim), kr.subarray(r * kvDim + hh * headDim, r * kvDim + (hh + 1) * headDim))).toBeLessThan(F32_TOL);
        expect(Array.from(vGot.subarray(at, at + headDim))).toEqual(Array.from(v.subarray(r * kvDim + hh * headDim, r * kvDim + (hh + 1) * headDim)));
      }
    });
  });
});
