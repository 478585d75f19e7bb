import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireGpu, type Gpu } from '../../../../src/gpu/device.ts';
import { dawnPollingMs } from '../../../../src/gpu/eventPolling.ts';
import { createDispatchProbe, dispatchProbeLines, MAX_PROBE_BINDINGS, parallelShares, runDispatchProbe, type DispatchFigure, type DispatchProbe } from '../../../../scripts/bench/lib/dispatchProbe.ts';

let gpu: Gpu;
let probe: DispatchProbe;
beforeAll(async () => {
  gpu = await acquireGpu();
  probe = createDispatchProbe(gpu.device);
});
afterAll(() => {
  probe?.destroy();
  gpu?.destroy();
});

describe('dispatch probe (bench:linear -- --dispatch)', () => {
  it.each([
    { dispatches: 1, bindings: 1, workgroups: 1, passPerDispatch: false },
    { dispatches: 7, bindings: MAX_PROBE_BINDINGS, workgroups: 3, passPerDispatch: false },
    { dispatches: 5, bindings: 2, workgroups: 64, passPerDispatch: true },
    { dispatches: 4, bindings: 1, workgroups: 2, passPerDispatch: false, work: 1000 },
  ])('runs every dispatch of a step: %o', async (c) => {
    // Twice: the counter starts from zero in every step.
    for (let i = 0; i < 2; i++) expect((await probe.step(c)).count).toBe(c.dispatches * c.workgroups);
  });

  it('refuses a binding count the kernel cannot have, naming it', async () => {
    await expect(probe.step({ dispatches: 1, bindings: 0, workgroups: 1, passPerDispatch: false })).rejects.toThrow(/0 bindings; give 1 to 8/);
    await expect(probe.step({ dispatches: 1, bindings: MAX_PROBE_BINDINGS + 1, workgroups: 1, passPerDispatch: false })).rejects.toThrow(/9 bindings/);
    await expect(probe.step({ dispatches: 1, bindings: 1, workgroups: 1, passPerDispatch: false, work: 1.5 })).rejects.toThrow(/work 1.5; give a whole number/);
  });

  it("takes the second workgroup's share from one workgroup against two, per way of waiting and amount of work", () => {
    const fig = (workgroups: number, pollMs: number, wallUsPerDispatch: number, work?: number): DispatchFigure => ({ case: { dispatches: 150, bindings: 1, workgroups, passPerDispatch: false, work }, pollMs, wallUsPerDispatch, cpuUsPerDispatch: 1 });
    const figures = [fig(1, 1, 100, 500), fig(2, 1, 110, 500), fig(1, 0, 100, 500), fig(2, 0, 200, 500), fig(2, 1, 30), fig(1, 1, 25), fig(2, 1, 400, 900)];
    // No work (nothing to share) and work without its one-workgroup case give no figure.
    expect(parallelShares(figures)).toEqual([
      { work: 500, pollMs: 1, oneUs: 100, twoUs: 110, share: 0.9 },
      { work: 500, pollMs: 0, oneUs: 100, twoUs: 200, share: 0 },
    ]);
    const lines = dispatchProbeLines({ figures, loadAverage: 1 });
    expect(lines.at(-2)).toMatch(/^ {2}2 workgroups of work 500 \(poll 1 ms\): 110.0 us per dispatch against 100.0 for 1: a second thread ran 90% of the second workgroup's time beside the first/);
    expect(lines.at(-1)).toMatch(/work 500 \(Dawn spin\).* ran 0% /);
  });

  it('times each case under each way of waiting, then restores the process-wide polling', async () => {
    const before = dawnPollingMs();
    const cases = [
      { dispatches: 3, bindings: 1, workgroups: 2, passPerDispatch: false },
      { dispatches: 3, bindings: 1, workgroups: 2, passPerDispatch: true },
    ];
    const r = await runDispatchProbe({ probe, cases, pollMs: [2, 0], rounds: 2, stepsPerRound: 2 });
    expect(dawnPollingMs()).toBe(before);
    expect(r.figures.map((f) => [f.case.passPerDispatch, f.pollMs])).toEqual([
      [false, 2],
      [false, 0],
      [true, 2],
      [true, 0],
    ]);
    for (const f of r.figures) {
      expect(f.wallUsPerDispatch).toBeGreaterThan(0);
      expect(f.cpuUsPerDispatch).toBeGreaterThan(0);
    }
    const lines = dispatchProbeLines(r);
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(/3 x {3}2 workgroups, 1 binding, one pass +poll 2 ms/);
    expect(lines[4]).toMatch(/a pass each +Dawn spin/);
  });
});
