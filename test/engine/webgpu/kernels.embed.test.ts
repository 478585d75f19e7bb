import { describe, expect, it } from 'vitest';
import { matrixStride } from '../../../src/engine/webgpu/weights.ts';
import { QUANT_TYPES } from '../../../src/model/quant/index.ts';
import { relError } from './harness.ts';
import { kernelHarness } from '../../fixtures/kernels.ts';

// shaders/embed.wgsl: token rows gathered from a table in any weight format (read through matrix.wgsl), scaled.
const { runEmbed } = kernelHarness();

describe('elementwise and row kernels', () => {
  for (const dtype of ['f32', 'f16', 'bf16'] as const) {
    it(`embedding gather (${dtype}, table split in chunks, odd width, scaled)`, async () => {
      const size = 66;
      const stride = matrixStride(size);
      const { got, want, chunks } = await runEmbed({ vocab: 50, size, dtype, maxBinding: 16 * stride * 4, tokens: [49, 0, 17, 16, 33] });
      expect(chunks).toBeGreaterThan(1);
      expect(Array.from(got)).toEqual(Array.from(want));
    });
  }
  // f16 and bf16 tables in groups of 4 rows (lavapipe's layout, weights.ts repackHalfRowGroups):
  // 50 rows (the last group padded), chunks of 18 rows' bytes rounded down to whole groups.
  for (const dtype of ['f16', 'bf16'] as const) {
    it(`embedding gather (${dtype} in groups of 4 rows, table split in chunks, odd width, scaled)`, async () => {
      const size = 66;
      const { got, want, chunks, rowGroups } = await runEmbed({ vocab: 50, size, dtype, maxBinding: 18 * matrixStride(size) * 2, tokens: [49, 0, 17, 16, 33, 2, 47], layout: { halfRowGroups: true } });
      expect(rowGroups).toBe(true);
      expect(chunks).toBe(4);
      expect(Array.from(got)).toEqual(Array.from(want));
    });
  }
});

// ggml blocks read in place, dequantized with ggml's f32 products (matrix.wgsl).
describe.each(QUANT_TYPES)('quantized weights (%s blocks on the GPU)', (type) => {
  it('embedding gather (table split in chunks, scaled)', async () => {
    const { got, want, chunks } = await runEmbed({ vocab: 20, size: 256, dtype: type, maxBinding: 1024, tokens: [19, 0, 7, 6, 13] });
    expect(chunks).toBeGreaterThan(1);
    expect(relError(got, want)).toBeLessThan(1e-6);
  });
});
