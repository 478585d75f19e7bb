import { describe, expect, it } from 'vitest';
import { QUANT_TYPES } from '../../../src/model/quant/index.ts';
import { relError } from './harness.ts';
import { F16_TOL, F32_TOL, kernelHarness, lavapipeShape } from '../../fixtures/kernels.ts';

// The linear kernel's plain variants (shaders/linear.wgsl, linear_chunks.wgsl): weight formats
// (matrix.wgsl), bias, accumulation and soft-cap in the epilogue, weights split in chunks, and the
// shapes linearShape() picks. The fused prologue and GLU: kernels.linear.fused.test.ts; the tiled
// kernel: kernels.linear.tiled.test.ts.
const { runLinear } = kernelHarness();

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
});
