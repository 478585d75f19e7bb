/**
 * Q4_0 decode tiles on lavapipe's shape with x quantized to Q8_0 blocks by a pass before the
 * projection (src/engine/webgpu/quantX.ts, shaders/quant_x.wgsl, linear.wgsl Q8X): the pass's
 * quants and scales against a CPU quantizer, and the projections (norm, GLU, bias, accumulate, row
 * chunks of the lm_head) against the reference run on the quantized x's values (tight) and on f32 x
 * (the int8 error, printed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { glu, matmul, rmsnorm } from '../../../src/engine/reference/ops.ts';
import { linearShape, PACKED_DOT } from '../../../src/engine/webgpu/linearPlan.ts';
import { linearOp, wholeAct } from '../../../src/engine/webgpu/ops.ts';
import { quantXOp, quantXRowWords } from '../../../src/engine/webgpu/quantX.ts';
import { matrixStride, uploadMatrix } from '../../../src/engine/webgpu/weights.ts';
import { gpuInstance, probeAdapter } from '../../../src/gpu/device.ts';
import { dequantize, quantize } from '../../../src/model/quant/index.ts';
import { createHarness, randomArray, relError, type KernelHarness } from './harness.ts';

const probe = await probeAdapter();
const lavapipe = probe.available && probe.adapter.subgroupMinSize === 8 && probe.adapter.subgroupMaxSize === 8;

/** Against the reference on the quantized x's values: f32 sums in another order, and a quant a near-tie may round the other way. */
const Q8_TOL = 1e-3;
/** Against f32 x: int8 activations per block of 32 (measured up to ~0.5% on these shapes). */
const INT8_TOL = 2e-2;

/** Rounds half to even, as WGSL's round() and the CPU backend's nearest do. */
function roundEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Q8_0 per 32 of each row as the pass computes it in f32: quants and scales, and the values they hold. */
function quantizeRows(x: Float32Array, rows: number, k: number): { q: Int8Array; d: Float32Array; values: Float32Array } {
  const q = new Int8Array(rows * k);
  const d = new Float32Array((rows * k) / 32);
  const values = new Float32Array(rows * k);
  for (let b = 0; b < d.length; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[32 * b + i]));
    d[b] = Math.fround(amax / 127);
    const id = d[b] !== 0 ? Math.fround(1 / d[b]) : 0;
    for (let i = 0; i < 32; i++) {
      q[32 * b + i] = roundEven(Math.fround(x[32 * b + i] * id));
      values[32 * b + i] = Math.fround(q[32 * b + i] * d[b]);
    }
  }
  return { q, d, values };
}

// Both block loops: integer dot products (dot4I8Packed, where WGSL offers it) and the int8 x as f32.
const packedDots = [...(probe.available && gpuInstance().wgslLanguageFeatures.has(PACKED_DOT) ? [true] : []), false];

describe.runIf(lavapipe).each(packedDots)('Q4_0 decode tiles with x as Q8_0 blocks (lavapipe), packedDot %s', (packedDot) => {
  const shape = { ...linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8, threads: 2, packedDot }), q4Q8x: true, q8xUnnormed: true };
  let h: KernelHarness;
  beforeAll(async () => {
    h = await createHarness({ shape });
  });
  afterAll(() => h?.destroy());

  it('the pass refuses rows that are not whole blocks of 32, naming them', () => {
    expect(() => quantXOp(h.ctx, { x: wholeAct(h.buffer(new Float32Array(40)), 40), k: 40, rows: 1, vecs: h.buffer(new Float32Array(4)), label: 'qkv' })).toThrow(/qkv\.xq.*40 elements.*blocks of 32/);
  });

  for (const rows of [1, 3]) {
    it(`the pass's quants and scales (rmsnorm with gain), ${rows} rows, k 288 at column 8 of 304-wide rows`, async () => {
      const k = 288;
      const stride = 304;
      const x = randomArray(rows * stride, 41, 3);
      const gain = randomArray(k, 42);
      const { buffer, record } = quantXOp(h.ctx, { x: { buffer: h.buffer(x), stride, offset: 8, width: k }, k, rows, norm: { at: 4, width: k, eps: 1e-5 }, vecs: h.buffer(new Float32Array([9, 9, 9, 9, ...gain])) });
      await h.run(rows, 0, (rec) => record(rec, rows));
      const words = new Uint32Array((await h.read(buffer, rows * quantXRowWords(k))).buffer);
      const xs = new Float32Array(rows * k);
      for (let r = 0; r < rows; r++) xs.set(x.subarray(r * stride + 8, r * stride + 8 + k), r * k);
      const want = quantizeRows(rmsnorm({ x: xs, weight: gain, rows, size: k, eps: 1e-5 }), rows, k);
      let off = 0;
      for (let r = 0; r < rows; r++) {
        const row = words.subarray(r * quantXRowWords(k), (r + 1) * quantXRowWords(k));
        const q = new Int8Array(row.buffer, row.byteOffset, k);
        for (let i = 0; i < k; i++) off += Math.abs(q[i] - want.q[r * k + i]);
        const d = new Float32Array(row.buffer, row.byteOffset + k, k / 32);
        expect(relError(d, want.d.subarray((r * k) / 32, ((r + 1) * k) / 32))).toBeLessThan(1e-5);
      }
      // The norm's sums run in another order: a quant at a near-tie may differ by one.
      expect(off).toBeLessThanOrEqual(2);
    });
  }

  /** A Q4_0 projection of rows of x through linearOp (Q8X tiles), and the reference on the quantized and on the f32 x. */
  async function project(p: { rows: number; n: number; k: number; norm?: boolean; glu?: boolean; bias?: boolean; accumulate?: boolean; maxBinding?: number }) {
    const rowsW = p.glu ? 2 * p.n : p.n;
    const { k } = p;
    const data = quantize({ values: randomArray(rowsW * k, 51 + k, 0.5), type: 'q4_0' });
    const w = dequantize({ data, type: 'q4_0' });
    const x = randomArray(p.rows * k, 52, 3);
    const gain = randomArray(k, 53);
    const bias = p.bias ? randomArray(rowsW, 54) : undefined;
    const stride = matrixStride(k);
    const vecs = new Float32Array(stride + rowsW);
    vecs.set(gain.map((g) => g + 1));
    if (bias) vecs.set(bias, stride);
    const width = p.glu ? p.n : rowsW;
    const y0 = randomArray(p.rows * width, 55);
    const y = h.buffer(p.accumulate ? y0 : new Float32Array(p.rows * width));
    const op = linearOp(h.ctx, {
      weight: uploadMatrix(h.ctx.device, 'w', { dtype: 'q4_0', data }, rowsW, k, p.maxBinding ?? 1 << 27, h.ctx),
      x: wholeAct(h.buffer(x), k),
      y: wholeAct(y, width),
      vecs: h.buffer(vecs),
      norm: p.norm ? { at: 0, width: k, eps: 1e-5 } : undefined,
      biasAt: bias ? stride : undefined,
      glu: p.glu ? { act: 'silu', gate: 0, up: p.n, width: p.n } : undefined,
      accumulate: p.accumulate,
    });
    await h.run(p.rows, 0, (rec) => op(rec, p.rows));
    const got = await h.read(y, p.rows * width);
    const reference = (xv: Float32Array) => {
      const full = matmul({ x: xv, w, bias, rows: p.rows, inFeatures: k, outFeatures: rowsW });
      if (!p.glu) return p.accumulate ? full.map((v, i) => v + y0[i]) : full;
      const out = new Float32Array(p.rows * p.n);
      for (let r = 0; r < p.rows; r++) out.set(glu({ gate: full.slice(r * rowsW, r * rowsW + p.n), up: full.subarray(r * rowsW + p.n, (r + 1) * rowsW), act: 'silu' }), r * p.n);
      return out;
    };
    const xn = p.norm ? rmsnorm({ x, weight: gain, rows: p.rows, size: k, eps: 1e-5, weightOffset: 1 }) : x;
    return { got, quantized: reference(quantizeRows(xn, p.rows, k).values), exact: reference(xn) };
  }

  const cases = [
    { name: 'rmsnorm prologue (gain offset 1, bias), n 70, k 288', n: 70, k: 288, norm: true, bias: true },
    { name: 'GLU epilogue after the rmsnorm prologue, n 36, k 96', n: 36, k: 96, norm: true, glu: true },
    { name: 'accumulate without a norm, n 40, k 768', n: 40, k: 768, accumulate: true },
    { name: 'rmsnorm prologue over 3 row chunks of the weights, n 200, k 64', n: 200, k: 64, norm: true, maxBinding: 80 * 40 },
  ];
  for (const c of cases) {
    for (const rows of [1, 4]) {
      it(`${c.name}, ${rows} rows`, async () => {
        const { got, quantized, exact } = await project({ rows, ...c });
        const errQ = relError(got, quantized);
        const errX = relError(got, exact);
        process.stderr.write(`q8x ${c.name}, ${rows} rows: max error / max |ref| ${errQ.toExponential(2)} against the quantized x, ${errX.toExponential(2)} against f32 x\n`);
        expect(errQ).toBeLessThan(Q8_TOL);
        expect(errX).toBeLessThan(INT8_TOL);
      });
    }
  }
});
