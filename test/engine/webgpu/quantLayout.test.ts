import { describe, expect, it } from 'vitest';
import { DEVICE_BLOCK_WORDS, Q4_GROUP_PAIR_WORDS, q4Pairs, q4RowGroupRowWords, quantRowWords, repackBlocks, repackQ4RowGroups } from '../../../src/engine/webgpu/quantLayout.ts';
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

describe('Q4_0 row-group layout (quantLayout.ts repackQ4RowGroups)', () => {
  // 5 rows: the second group has 3 zero rows; 3 and 9 blocks: a row's last pair has a zero block.
  for (const cols of [96, 256, 288]) {
    it(`5 rows of ${cols / 32} blocks: each group's words give ggml's values, the padding is zero`, () => {
      const rows = 5;
      const values = randomArray(rows * cols, 43, 2);
      const data = quantize({ values, type: 'q4_0' });
      const want = dequantize({ data, type: 'q4_0' });
      const dev = repackQ4RowGroups(data, rows, cols);
      const pairs = q4Pairs(cols);
      expect(dev.length).toBe(2 * 4 * q4RowGroupRowWords(cols));
      expect(q4RowGroupRowWords(cols) * 4).toBe(pairs * Q4_GROUP_PAIR_WORDS);
      const got = new Float32Array(rows * cols);
      for (let row = 0; row < 8; row++) {
        const [g, r] = [Math.floor(row / 4), row % 4];
        for (let b = 0; b < 2 * pairs; b++) {
          const base = (g * pairs + (b >> 1)) * Q4_GROUP_PAIR_WORDS;
          const d = (dev[base + r] >>> (16 * (b & 1))) & 0xffff;
          const words = [0, 1, 2, 3].map((q) => dev[base + 4 + ((b & 1) * 4 + q) * 4 + r]);
          if (row >= rows || b * 32 >= cols) {
            expect([d, ...words]).toEqual([0, 0, 0, 0, 0]);
            continue;
          }
          for (let e = 0; e < 32; e++) got[row * cols + b * 32 + e] = f16BitsToF32(d) * (((words[e >> 3] >>> (4 * (e & 7))) & 0xf) - 8);
        }
      }
      expect(got).toEqual(want);
    });
  }
});
