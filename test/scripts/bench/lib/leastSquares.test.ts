import { describe, expect, it } from 'vitest';
import { leastSquares } from '../../../../scripts/bench/lib/leastSquares.ts';

describe('leastSquares', () => {
  it('recovers the coefficients of exact data', () => {
    const x = [
      [1, 2, 0],
      [1, 0, 5],
      [1, 7, 1],
      [1, 3, 3],
    ];
    const y = x.map(([a, b, c]) => 0.5 * a + 0.09 * b + 2 * c);
    const c = leastSquares(x, y);
    expect(c[0]).toBeCloseTo(0.5, 10);
    expect(c[1]).toBeCloseTo(0.09, 10);
    expect(c[2]).toBeCloseTo(2, 10);
  });

  it('fits a line through noisy points as the closed form does', () => {
    const xs = [1, 2, 3, 4, 5, 6];
    const ys = [1.1, 1.9, 3.2, 3.8, 5.1, 6.2];
    const n = xs.length;
    const mx = xs.reduce((s, v) => s + v, 0) / n;
    const my = ys.reduce((s, v) => s + v, 0) / n;
    const slope = xs.reduce((s, v, i) => s + (v - mx) * (ys[i] - my), 0) / xs.reduce((s, v) => s + (v - mx) ** 2, 0);
    const [intercept, b] = leastSquares(xs.map((v) => [1, v]), ys);
    expect(b).toBeCloseTo(slope, 10);
    expect(intercept).toBeCloseTo(my - slope * mx, 10);
  });

  it('gives 0 to a column nothing determines and refuses ragged input', () => {
    const c = leastSquares([[1, 0], [2, 0], [3, 0]], [2, 4, 6]);
    expect(c[0]).toBeCloseTo(2, 10);
    expect(c[1]).toBe(0);
    expect(() => leastSquares([[1, 2], [1]], [1, 2])).toThrow(/row 1 of X has 1 columns/);
    expect(() => leastSquares([[1]], [1, 2])).toThrow(/1 rows of X but 2 values/);
  });
});
