import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NORM_PARTIAL_BYTES, linearShape } from '../../../src/engine/webgpu/linearPlan.ts';
import { QUANT_TYPES } from '../../../src/model/quant/index.ts';
import { createHarness, relError, type KernelHarness } from './harness.ts';
import { F16_TOL, F32_TOL, eightWideSubgroups, kernelHarness, type TestShape } from '../../fixtures/kernels.ts';

const { runFused, runLinear } = kernelHarness();

// The tiled kernel (rows >= TILED_MIN_ROWS), in the shapes linearTiles() picks: lavapipe's (x
// broadcast through 8-wide subgroups, register tile 8 weight rows) where the adapter has them, and
// the GPUs' (x staged in workgroup memory; a small budget forces several stage rounds, a k-split
// of 2 to 4 and partial last rounds), with subgroup and with workgroup-memory reductions. Row
// counts that are not a multiple of the tile, k padded (260 -> 264), n not a multiple of a workgroup's outputs.
const tiledShapes: { name: string; shape: TestShape; subgroups?: boolean }[] = [
  { name: 'x in workgroup memory, subgroup reduction', shape: { tpo: 4, opl: 1, workgroup: 64, tiled: { opl: 2, workgroup: 64 }, workgroupBytes: NORM_PARTIAL_BYTES + 2048 } },
  { name: 'x in workgroup memory, workgroup-memory reduction', shape: { tpo: 8, opl: 1, workgroup: 64, tiled: { opl: 3, workgroup: 32 }, workgroupBytes: NORM_PARTIAL_BYTES + 4096 }, subgroups: false },
  ...(eightWideSubgroups ? [{ name: 'x broadcast through subgroups (lavapipe)', shape: linearShape({ software: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8, tiled: true }) }] : []),
];
describe.each(tiledShapes)('tiled linear kernel: $name', ({ shape, subgroups }) => {
  let th: KernelHarness;
  beforeAll(async () => {
    th = await createHarness({ shape, subgroups });
  });
  afterAll(() => th?.destroy());
  for (const rows of [8, 13, 40]) {
    it(`f32 and f16 weights, ${rows} rows, k 260, accumulating`, async () => {
      const f32 = await runLinear({ rows, n: 70, k: 260, dtype: 'f32', accumulate: true, harness: th });
      expect(relError(f32.got, f32.want)).toBeLessThan(F32_TOL);
      const f16 = await runLinear({ rows, n: 70, k: 260, dtype: 'f16', harness: th });
      expect(relError(f16.got, f16.want)).toBeLessThan(F16_TOL);
    });
  }
  it('bias and soft-cap, 33 rows', async () => {
    const { got, want } = await runLinear({ rows: 33, n: 24, k: 64, dtype: 'f32', bias: true, softcap: 1.5, harness: th });
    expect(relError(got, want)).toBeLessThan(F32_TOL);
  });
  for (const type of QUANT_TYPES) {
    it(`${type} blocks, 17 rows, matrix split in chunks`, async () => {
      const { got, want, chunks } = await runLinear({ rows: 17, n: 40, k: 512, dtype: type, bias: true, maxBinding: 8192, harness: th });
      expect(chunks).toBeGreaterThan(1);
      expect(relError(got, want)).toBeLessThan(F32_TOL);
    });
  }
  it('rmsnorm prologue with bias, 13 rows, width 260', async () => {
    const { got, want } = await runFused({ rows: 13, n: 70, k: 260, dtype: 'f32', weightOffset: 1, bias: true, harness: th });
    expect(relError(got, want)).toBeLessThan(F32_TOL);
  });
  it('GLU epilogue after the rmsnorm prologue, 9 rows, f16', async () => {
    const { got, want } = await runFused({ rows: 9, n: 36, k: 96, dtype: 'f16', glu: 'silu', harness: th });
    expect(relError(got, want)).toBeLessThan(F16_TOL);
  });
});
