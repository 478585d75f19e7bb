/** bench:lora's GC accounting (scripts/bench/lib/gcPauses.ts): the parts of pauses within a window, and pauses recorded from V8. */
import { describe, expect, it } from 'vitest';
import { pauseMsWithin, recordGcPauses } from '../../../../scripts/bench/lib/gcPauses.ts';

describe('GC pauses', () => {
  it('counts the parts of pauses that overlap a window', () => {
    const pauses = [
      { start: 0, end: 2 },
      { start: 5, end: 9 },
      { start: 10, end: 11 },
      { start: 20, end: 30 },
    ];
    expect(pauseMsWithin(pauses, 1, 10)).toBe(1 + 4); // half of the first, all of the second, none of the third (it starts at the end)
    expect(pauseMsWithin(pauses, 25, 100)).toBe(5);
    expect(pauseMsWithin(pauses, 12, 19)).toBe(0);
  });

  it("records the main thread's pauses on the performance.now() clock", async () => {
    const gc = recordGcPauses();
    const from = performance.now();
    let keep: unknown[] = [];
    for (let i = 0; i < 200; i++) keep = [new ArrayBuffer(2 ** 20), ...keep.slice(0, 4)]; // 200 MiB of external memory churn: V8 collects
    const to = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 20)); // V8 reports a pause in a task after it
    const pauses = gc.pauses();
    gc.stop();
    expect(keep).toHaveLength(5);
    expect(pauses.length).toBeGreaterThan(0);
    expect(pauses.every((p) => p.end >= p.start)).toBe(true);
    expect(gc.within(from, to)).toBeGreaterThan(0);
  });
});
