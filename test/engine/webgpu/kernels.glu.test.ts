import { describe, expect, it } from 'vitest';
import { glu } from '../../../src/engine/reference/ops.ts';
import { gluOp } from '../../../src/engine/webgpu/ops.ts';
import { matrixStride } from '../../../src/engine/webgpu/weights.ts';
import { randomArray, relError } from './harness.ts';
import { F32_TOL, kernelHarness, unpadded } from '../../fixtures/kernels.ts';

// shaders/glu.wgsl (the GLU as its own pass; fused into a projection: kernels.linear.fused.test.ts).
const { harness } = kernelHarness();

describe('elementwise and row kernels', () => {
  for (const act of ['silu', 'gelu_tanh'] as const) {
    it(`glu ${act}, gate and up as columns of one buffer (Phi-3 gate_up)`, async () => {
      const h = harness();
      const rows = 3;
      const width = 260;
      const stride = matrixStride(2 * width);
      const gate = randomArray(rows * width, 11, 4);
      const up = randomArray(rows * width, 12);
      const both = new Float32Array(rows * stride);
      for (let r = 0; r < rows; r++) {
        both.set(gate.subarray(r * width, (r + 1) * width), r * stride);
        both.set(up.subarray(r * width, (r + 1) * width), r * stride + width);
      }
      const b = h.buffer(both);
      const op = gluOp(h.ctx, { gate: { buffer: b, stride, offset: 0, width }, up: { buffer: b, stride, offset: width, width }, act });
      await h.run(rows, 0, (rec) => op(rec, rows));
      expect(relError(unpadded(await h.read(b, rows * stride), rows, width, stride), glu({ gate, up, act }))).toBeLessThan(F32_TOL);
    });
  }
});
