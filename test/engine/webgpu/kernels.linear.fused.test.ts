import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, relError, type KernelHarness } from './harness.ts';
import { F16_TOL, F32_TOL, kernelHarness, lavapipeShape, type TestShape } from '../../fixtures/kernels.ts';

// The linear kernel's fused prologue and epilogue (shaders/linear_norm.wgsl, sgnorm.wgsl,
// linear_epilogue.wgsl), in the plain kernel's shapes, lavapipe's Q4_0 decode tiles
// (linear_q4dot.wgsl) and lavapipe's batch tiles.
const { runFused, runLinear } = kernelHarness();

describe('linear kernel prologue and epilogue (fused RMSNorm, GLU)', () => {
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
// and GLU epilogue, n odd and past one workgroup's 256 outputs (GLU: 128), 33 rows (two workgroups along y);
// x's padding columns nonzero (a norm must stop at its width: the weights' padding is 0). Both ways
// of norming those tiles: each workgroup summing its rows' squares (linear_norm.wgsl) and each
// row's 1 / rms from a pass before the projection (`normStats`: norm_stats.wgsl).
if (lavapipeShape) {
  for (const normStats of [false, true]) {
    describe(`linear kernel on lavapipe's batch tiles, ${normStats ? "each row's 1 / rms from a pass before it" : 'norm prologue per workgroup'}`, () => {
      let th: KernelHarness;
      beforeAll(async () => {
        th = await createHarness({ shape: { ...lavapipeShape, normStats } });
      });
      afterAll(() => th?.destroy());
      it('plans 16 weight rows per invocation in workgroups of 16 from 8 rows', () => {
        expect(lavapipeShape).toMatchObject({ batchOpl: 16, batchWorkgroup: 16 });
      });
      for (const rows of [6, 13, 29, 33]) {
        it(`rmsnorm prologue (gain offset 1, bias), ${rows} rows, n 299, width 260, x padded with 7`, async () => {
          const { got, want } = await runFused({ rows, n: 299, k: 260, dtype: 'f32', weightOffset: 1, bias: true, harness: th, padX: 7 });
          expect(relError(got, want)).toBeLessThan(F32_TOL);
        });
      }
      for (const rows of [7, 16, 27]) {
        it(`GLU (silu) epilogue after the norm, f16, ${rows} rows, n 35, width 100`, async () => {
          const { got, want } = await runFused({ rows, n: 35, k: 100, dtype: 'f16', glu: 'silu', harness: th, padX: -5 });
          expect(relError(got, want)).toBeLessThan(F16_TOL);
        });
      }
      it('GLU (silu) epilogue after the norm, f16, 11 rows, n 131 (past one workgroup of 128 products), width 100', async () => {
        const { got, want } = await runFused({ rows: 11, n: 131, k: 100, dtype: 'f16', glu: 'silu', harness: th });
        expect(relError(got, want)).toBeLessThan(F16_TOL);
      });
      it('f16 weights accumulating into y, 21 rows, n 299, k 260', async () => {
        const { got, want } = await runLinear({ rows: 21, n: 299, k: 260, dtype: 'f16', accumulate: true, harness: th });
        expect(relError(got, want)).toBeLessThan(F16_TOL);
      });
    });
  }
}
