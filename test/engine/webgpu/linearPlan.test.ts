import { describe, expect, it } from 'vitest';
import { LINEAR_ROW_TILES, NORM_PARTIAL_BYTES, TILED_MIN_ROWS, fitWorkgroup, linearShape, linearTiles } from '../../../src/engine/webgpu/linearPlan.ts';

describe('linear kernel plan', () => {
  const lavapipe = linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8, tiled: true });
  const gpu = linearShape({ software: false, subgroups: true, subgroupMinSize: 32, subgroupMaxSize: 32, workgroupBytes: 32768 });

  it('runs the tiled kernel from TILED_MIN_ROWS rows, the plain one below', () => {
    for (const shape of [lavapipe, gpu]) {
      const tiles = linearTiles(shape);
      expect(tiles.map((t) => t.rows)).toEqual([...LINEAR_ROW_TILES]);
      expect(tiles.map((t) => t.tiled)).toEqual(tiles.map((t) => t.rows >= TILED_MIN_ROWS));
    }
  });

  it('lavapipe: x broadcast through its 8-wide subgroups (tpo 1), one subgroup per workgroup, 4 weight rows per invocation', () => {
    const t = linearTiles(lavapipe).find((x) => x.rows === 32)!;
    expect(t).toEqual({ rows: 32, tiled: true, opl: 4, workgroup: 8, tpo: 1 });
  });

  it('GPUs: x staged in workgroup memory sized to the device limit after the norm partial sums, the k-split within the chunks staged', () => {
    for (const t of linearTiles(gpu).filter((x) => x.tiled)) {
      expect(t.rows * t.kt! * 32).toBeLessThanOrEqual(32768 - NORM_PARTIAL_BYTES);
      expect(t.tpo).toBeLessThanOrEqual(t.kt!);
    }
    expect(linearTiles({ ...gpu, workgroupBytes: 16384 }).find((x) => x.rows === 32)).toMatchObject({ kt: 8, tpo: 8 });
  });

  it('falls back to the plain kernel where a device has no tiled shape (CPU adapters without 8-wide subgroups) and keeps GLU tiles even', () => {
    const noSubgroups = linearShape({ software: true, subgroups: false });
    expect(linearTiles(noSubgroups).some((t) => t.tiled)).toBe(false);
    expect(linearTiles({ ...gpu, tiled: { opl: 3, workgroup: 64 } }, true).every((t) => t.opl % 2 === 0)).toBe(true);
  });

  it('CPU adapters run the tiled kernel only when asked (it measured no faster there); GPUs unless told not to', () => {
    expect(linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8 }).tiled).toBeUndefined();
    expect(linearShape({ software: false, subgroups: true, subgroupMinSize: 32, subgroupMaxSize: 32, tiled: false }).tiled).toBeUndefined();
  });

  it('CPU adapters: a narrow projection gets smaller workgroups in decode tiles until it splits into 4 per thread (down to one subgroup); wide ones, prefill tiles and GPUs keep theirs', () => {
    const cpu = linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8, threads: 2, tiled: true });
    expect(cpu.minGroups).toBe(8);
    const [b1] = linearTiles(cpu);
    expect(b1.workgroup).toBe(64);
    expect(fitWorkgroup(b1, 576, false, cpu.minGroups).workgroup).toBe(16); // 9 workgroups of 64 outputs
    expect(fitWorkgroup(b1, 960, false, cpu.minGroups).workgroup).toBe(32);
    expect(fitWorkgroup(b1, 1536, true, cpu.minGroups).workgroup).toBe(64); // GLU: 2 products per invocation, 12 workgroups
    expect(fitWorkgroup(b1, 49152, false, cpu.minGroups).workgroup).toBe(64);
    expect(fitWorkgroup(b1, 40, false, cpu.minGroups).workgroup).toBe(8);
    for (const t of linearTiles(cpu).filter((x) => x.rows >= TILED_MIN_ROWS)) expect(fitWorkgroup(t, 40, false, cpu.minGroups)).toEqual(t); // prefill tiles: many workgroups along y
    expect(fitWorkgroup({ ...b1, rows: 32, tiled: false }, 40, false, cpu.minGroups).workgroup).toBe(64);
    expect(gpu.minGroups).toBeUndefined();
    expect(cpu.sgNorm).toBe(true);
  });

  it('CPU adapters: the plain kernel takes 16 weight rows per invocation in workgroups of 16 from 8 rows (batched decode, prefill); decode tiles and GPUs keep their shape', () => {
    const cpu = linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8, threads: 2 });
    expect(linearTiles(cpu).map((t) => [t.rows, t.opl, t.workgroup])).toEqual([[1, 4, 64], [4, 4, 64], [8, 16, 16], [16, 16, 16], [32, 16, 16]]);
    expect(linearTiles({ ...cpu, tiled: { opl: 4, workgroup: 8 } }).find((t) => t.rows === 32)).toMatchObject({ tiled: true, opl: 4, workgroup: 8 });
    expect(gpu.batchOpl).toBeUndefined();
  });

  it("CPU adapters with 8-wide subgroups norm the batch tiles' rows in a pass before the projection (normStats); GPUs in the projection", () => {
    expect(linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8, threads: 2 })).toMatchObject({ normStats: true });
    expect(linearShape({ software: true, subgroups: false }).normStats).toBe(false);
    expect(gpu.normStats).toBeUndefined();
  });

  it('compiles no row tile above the one that holds maxRows', () => {
    expect(linearTiles({ ...lavapipe, maxRows: 6 }).map((t) => t.rows)).toEqual([1, 4, 8]);
  });
});
