import { describe, expect, it } from 'vitest';
import { DEVICE_BLOCK_WORDS, quantRowWords, repackBlocks } from '../../../src/engine/webgpu/quantLayout.ts';
import { f16BitsToF32 } from '../../../src/model/dtype.ts';
import { dequantize, quantize } from '../../../src/model/quant/index.ts';
import { randomArray } from './harness.ts';

describe('Q4_0 device layout (quantLayout.ts)', () => {
  // Rows of an odd block count (3, 9) start mid-pair in memory, so a pairing by the matrix's block
  // index instead of the row's would give the wrong scales; 8 blocks: every block paired.
  for (const cols of [96, 256, 288]) {
    it(`${cols / 32} blocks per row: an even block's scale word holds the next block's scale, and both readings give ggml's values`, () => {
      const rows = 3;
      const values = randomArray(rows * cols, 41, 2);
      const data = quantize({ values, type: 'q4_0' });
      const want = dequantize({ data, type: 'q4_0' });
      const dev = repackBlocks('q4_0', data, rows * cols, cols);
      const rowWords = quantRowWords('q4_0', cols);
      expect(dev.length).toBe(rows * rowWords);
      const blocks = cols / 32;
      const words = DEVICE_BLOCK_WORDS.q4_0;
      // Each block's own scale (the low half, as loadW reads it) and the scale the decode tiles read
      // (block 2m's word: low half for block 2m, high half for block 2m + 1).
      const own = new Float32Array(rows * cols);
      const paired = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        for (let b = 0; b < blocks; b++) {
          const base = r * rowWords + b * words;
          const pairWord = dev[r * rowWords + (b - (b % 2)) * words];
          const dOwn = f16BitsToF32(dev[base] & 0xffff);
          const dPair = f16BitsToF32(b % 2 ? pairWord >>> 16 : pairWord & 0xffff);
          if (b % 2 === 0 && b + 1 === blocks) expect(dev[base] >>> 16).toBe(0);
          for (let e = 0; e < 32; e++) {
            const q = (dev[base + 1 + (e >> 3)] >>> (4 * (e & 7))) & 0xf;
            own[r * cols + b * 32 + e] = dOwn * (q - 8);
            paired[r * cols + b * 32 + e] = dPair * (q - 8);
          }
        }
      }
      expect(own).toEqual(want);
      expect(paired).toEqual(want);
    });
  }
});
