import { describe, expect, it } from 'vitest';
import { median } from '../../../../scripts/bench/lib/stats.ts';

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
