import { describe, expect, it } from 'vitest';
import { rmsnorm } from '../../../src/engine/reference/ops.ts';
import { rmsnormOp, wholeAct } from '../../../src/engine/webgpu/ops.ts';
import { OUT_ROW_WORDS } from '../../../src/engine/webgpu/passPlan.ts';
import { matrixStride } from '../../../src/engine/webgpu/weights.ts';
import { randomArray, relError } from './harness.ts';
import { F32_TOL, kernelHarness, padded, unpadded } from '../../fixtures/kernels.ts';

// shaders/rmsnorm.wgsl: strided rows, gain offset, added into y, gathered output rows.
const { harness } = kernelHarness();

describe('elementwise and row kernels', () => {
  for (const variant of [{ weightOffset: 0, add: false }, { weightOffset: 1, add: true }]) {
    it(`rmsnorm (gain offset ${variant.weightOffset}${variant.add ? ', added into y' : ''}), strided rows`, async () => {
      const h = harness();
      const rows = 5;
      const size = 300;
      const stride = matrixStride(size);
      const x = randomArray(rows * size, 7, 3);
      const weight = randomArray(size, 8);
      const y0 = randomArray(rows * size, 9);
      const y = h.buffer(padded(y0, rows, size, stride));
      const op = rmsnormOp(h.ctx, { x: wholeAct(h.buffer(padded(x, rows, size, stride)), size, stride), weight: h.buffer(weight), y: wholeAct(y, size, stride), eps: 1e-5, ...variant });
      await h.run(rows, 0, (rec) => op(rec, rows));
      const want = rmsnorm({ x, weight, rows, size, eps: 1e-5, weightOffset: variant.weightOffset, add: variant.add, out: y0.slice() });
      expect(relError(unpadded(await h.read(y, rows * stride), rows, size, stride), want)).toBeLessThan(F32_TOL);
    });
  }

  it('rmsnorm gathering output rows', async () => {
    const h = harness();
    const size = 64;
    const x = randomArray(6 * size, 9);
    const weight = randomArray(size, 10);
    const table = new Uint32Array(2 * OUT_ROW_WORDS); // srcRow first in each output row
    table[0] = 4;
    table[OUT_ROW_WORDS] = 1;
    const y = h.empty(2 * size);
    const op = rmsnormOp(h.ctx, { x: wholeAct(h.buffer(x), size), weight: h.buffer(weight), y: wholeAct(y, size), eps: 1e-6, gather: h.buffer(table) });
    await h.run(6, 2, (rec) => op(rec, 2));
    const picked = new Float32Array([...x.subarray(4 * size, 5 * size), ...x.subarray(size, 2 * size)]);
    expect(relError(await h.read(y, 2 * size), rmsnorm({ x: picked, weight, rows: 2, size, eps: 1e-6 }))).toBeLessThan(F32_TOL);
  });
});
