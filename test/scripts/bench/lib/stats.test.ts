import { describe, expect, it } from 'vitest';
import { median, percentile } from '../../../../scripts/bench/lib/stats.ts';

describe('median', () => {
  it('is the middle value, the mean of the two middle ones for an even count, NaN for none; the input is left unsorted', () => {
    const xs = [5, 1, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });
});

describe('percentile', () => {
  it('is the nearest-rank value: the smallest sample with at least q of the samples at or below it; NaN for none; the input is left unsorted', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 .. 1
    expect(percentile(xs, 0.99)).toBe(99);
    expect(percentile(xs, 0.5)).toBe(50);
    expect(percentile(xs, 1)).toBe(100);
    expect(percentile(xs, 0)).toBe(1);
    expect(xs[0]).toBe(100);
    expect(percentile([3, 1], 0.5)).toBe(1);
    expect(percentile([2, Infinity, 1], 0.99)).toBe(Infinity);
    expect(percentile([], 0.5)).toBeNaN();
  });
});
