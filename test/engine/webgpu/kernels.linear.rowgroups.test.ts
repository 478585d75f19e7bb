import { describe, expect, it } from 'vitest';
import { relError } from './harness.ts';
import { F16_TOL, F32_TOL, kernelHarness, lavapipeShape } from '../../fixtures/kernels.ts';

// Matrices in groups of 4 rows on lavapipe's shape.
// Q4_0 in groups of 4 rows (`q4RowGroups`: quantLayout.ts repackQ4RowGroups, matrix.wgsl Q4R4):
// lavapipe's decode tiles load a chunk of 4 weight rows as one vec4 (linear_q4dot.wgsl Q4R4V) where
// an invocation's weight rows are whole groups (one-row tiles: 8 rows, gate and up at multiples
// of 4), else each row's word from the layout; batch tiles and the embedding read it through
// loadW. Shapes at the edges: n not a multiple of 4 (the last group padded with zero rows), k of
// 3 and 9 blocks (a row's last pair half padded), GLU whose up rows start mid-group (n 34: the
// one-row tile falls back to per-row words), the matrix split in row chunks (each a whole number
// of groups), 1 / 4 / 9 / 33 rows (Q4DOT tiles, then the per-chunk batch tiles).
const { runFused, runLinear, runEmbed } = kernelHarness();

// The same shapes by rows (`q4RowGroups: false`, the layout before; GPUs' too) on that kernel.
for (const q4RowGroups of lavapipeShape ? [true, false] : []) {
  const shape = { ...lavapipeShape, q4Q8x: false, q4RowGroups };
  describe(`Q4_0 ${q4RowGroups ? 'in groups of 4 rows' : 'by rows'} on lavapipe's shape`, () => {
    for (const rows of [1, 3, 9, 33]) {
      it(`rmsnorm prologue (gain offset 1, bias), ${rows} rows, n 70, k 288`, async () => {
        const { got, want } = await runFused({ rows, n: 70, k: 288, dtype: 'q4_0', weightOffset: 1, bias: true, shape });
        expect(relError(got, want)).toBeLessThan(F32_TOL);
      });
    }
    for (const n of [36, 34]) {
      for (const rows of [1, 4]) {
        it(`GLU epilogue after the rmsnorm prologue, ${rows} rows, n ${n} (up rows from ${n}), k 96`, async () => {
          const { got, want } = await runFused({ rows, n, k: 96, dtype: 'q4_0', glu: 'silu', shape });
          expect(relError(got, want)).toBeLessThan(F32_TOL);
        });
      }
    }
    for (const rows of [1, 3, 9]) {
      it(`accumulating, bias, ${rows} rows, n 45, k 768, matrix split in row chunks`, async () => {
        const { got, want, chunks } = await runLinear({ rows, n: 45, k: 768, dtype: 'q4_0', bias: true, accumulate: true, maxBinding: 8 * 4 * 108, shape });
        expect(chunks).toBeGreaterThan(1);
        expect(relError(got, want)).toBeLessThan(F32_TOL);
      });
    }
  });
}

// f16 and bf16 in groups of 4 rows (`halfRowGroups`: weights.ts repackHalfRowGroups, matrix.wgsl
// HR4): every kernel reads the layout through loadW; on lavapipe's one-row tile a lane's 4 weight
// rows are one group, read as 64 contiguous bytes per chunk. The same edges as Q4_0's: n not a
// multiple of 4, GLU with up rows mid-group, row chunks of whole groups, the plain kernel's tiles
// of 1, 9 and 33 rows; f16 also by rows (GPUs' layout) on that kernel, and bf16 in groups.
for (const [dtype, halfRowGroups] of lavapipeShape ? ([['f16', true], ['f16', false], ['bf16', true]] as const) : []) {
  const shape = { ...lavapipeShape, halfRowGroups };
  describe(`${dtype} ${halfRowGroups ? 'in groups of 4 rows' : 'by rows'} on lavapipe's shape`, () => {
    for (const rows of [1, 9, 33]) {
      it(`rmsnorm prologue (gain offset 1, bias), ${rows} rows, n 70, k 72`, async () => {
        const { got, want } = await runFused({ rows, n: 70, k: 72, dtype, weightOffset: 1, bias: true, shape });
        expect(relError(got, want)).toBeLessThan(F16_TOL);
      });
    }
    for (const n of [36, 34]) {
      it(`GLU epilogue after the rmsnorm prologue, 1 row, n ${n} (up rows from ${n}), k 48`, async () => {
        const { got, want } = await runFused({ rows: 1, n, k: 48, dtype, glu: 'silu', shape });
        expect(relError(got, want)).toBeLessThan(F16_TOL);
      });
    }
    it('accumulating, bias, 3 rows, n 45, k 136, matrix split in row chunks', async () => {
      const { got, want, chunks } = await runLinear({ rows: 3, n: 45, k: 136, dtype, bias: true, accumulate: true, maxBinding: 10 * 136 * 2, shape });
      expect(chunks).toBeGreaterThan(1);
      expect(relError(got, want)).toBeLessThan(F16_TOL);
    });
  });
}

describe('Q4_0 in groups of 4 rows: embedding gather', () => {
  it('table of 23 rows (the last group padded) split in chunks of whole groups, scaled', async () => {
    const { got, want, chunks, rowGroups } = await runEmbed({ vocab: 23, size: 288, dtype: 'q4_0', maxBinding: 4 * 4 * 45 * 3, tokens: [22, 0, 7, 6, 13, 20], layout: { q4RowGroups: true } });
    expect(rowGroups).toBe(true);
    expect(chunks).toBeGreaterThan(1);
    expect(relError(got, want)).toBeLessThan(1e-6);
  });
});
