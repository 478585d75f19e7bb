/**
 * Quantized matrices on the device: ggml blocks (`src/model/quant/`, byte for byte as GGUF holds
 * them) repacked at upload into u32-aligned blocks whose 4-bit and 2-bit values are in element
 * order, so the matmul kernels (shaders/matrix.wgsl) decode 8 consecutive elements from one word
 * (two for Q8_0) and their block's scales. Values are what ggml's `dequantize_row_*` gives (the
 * same f32 products), so the CPU reference, which computes with the dequantized values, agrees.
 *
 * | type | elements | words | layout (u32 words) |
 * | --- | --- | --- | --- |
 * | Q8_0 | 32 | 9 | `d` (f16, low half); 8 words of 4 int8 |
 * | Q4_0 | 32 | 5 | `d` (low half; high half: the next block's `d` in an even block of its row, so a kernel going by blocks loads one scale word per 2 blocks); 4 words of 8 nibbles (element 8w + i in bits 4i..4i+3): `x = d · (q - 8)` |
 * | Q4_0 in groups of 4 rows (lavapipe: {@link repackQ4RowGroups}) | 64 (a pair) x 4 rows | 36 | the 4 rows' scale words (both blocks' `d`), then per block and chunk the 4 rows' nibble words |
 * | Q4_K | 256 | 36 | `d`, `dmin` (f16 pair); 3 words: the 12 packed 6-bit scales and mins as ggml has them; 32 words of 8 nibbles: `x = (d·sc) · q - dmin·m` |
 * | Q6_K | 256 | 53 | `d`; 4 words of 16 int8 scales; 32 words of 8 low nibbles; 16 words of 16 two-bit highs: `x = (d·sc) · (q - 32)` |
 */
import { QUANT_FORMATS, type QuantType } from '../../model/quant/formats.ts';

/** u32 words per device block, per format. */
export const DEVICE_BLOCK_WORDS: Readonly<Record<QuantType, number>> = { q8_0: 9, q4_0: 5, q4_k: 36, q6_k: 53 };

/** Elements per block (ggml's). */
export function blockElements(type: QuantType): number {
  return QUANT_FORMATS[type].blockElements;
}

/** u32 words of one device row of `cols` elements (a whole number of blocks). */
export function quantRowWords(type: QuantType, cols: number): number {
  return (cols / blockElements(type)) * DEVICE_BLOCK_WORDS[type];
}

/** Repacks `blocks` (ggml bytes of `count` elements, rows of `cols`) into device blocks. `// [count / blockElements, DEVICE_BLOCK_WORDS] u32` */
export function repackBlocks(type: QuantType, blocks: Uint8Array, count: number, cols: number): Uint32Array {
  const f = QUANT_FORMATS[type];
  const n = count / f.blockElements;
  const rowBlocks = cols / f.blockElements;
  const words = DEVICE_BLOCK_WORDS[type];
  const out = new Uint32Array(n * words);
  const half = (b: number) => blocks[b] | (blocks[b + 1] << 8);
  /** 8 nibbles into one word, element i in bits 4i.. */
  const nib8 = (get: (i: number) => number) => {
    let w = 0;
    for (let i = 0; i < 8; i++) w |= (get(i) & 0xf) << (4 * i);
    return w >>> 0;
  };
  for (let b = 0; b < n; b++) {
    const src = b * f.blockBytes;
    const dst = b * words;
    switch (type) {
      case 'q8_0':
        out[dst] = half(src);
        for (let w = 0; w < 8; w++) out[dst + 1 + w] = (blocks[src + 2 + 4 * w] | (blocks[src + 3 + 4 * w] << 8) | (blocks[src + 4 + 4 * w] << 16) | (blocks[src + 5 + 4 * w] << 24)) >>> 0;
        break;
      case 'q4_0': {
        // an even block of its row holds the next one's scale too (the high half is otherwise unused)
        const paired = (b % rowBlocks) % 2 === 0 && (b % rowBlocks) + 1 < rowBlocks;
        out[dst] = (half(src) | (paired ? half(src + f.blockBytes) << 16 : 0)) >>> 0;
        for (let w = 0; w < 4; w++) out[dst + 1 + w] = q4NibbleWord(blocks, src, w);
        break;
      }
      case 'q4_k': {
        out[dst] = (half(src) | (half(src + 2) << 16)) >>> 0;
        for (let w = 0; w < 3; w++) out[dst + 1 + w] = (blocks[src + 4 + 4 * w] | (blocks[src + 5 + 4 * w] << 8) | (blocks[src + 6 + 4 * w] << 16) | (blocks[src + 7 + 4 * w] << 24)) >>> 0;
        const qs = src + 16;
        // per 64 elements g: 32 bytes, low nibbles = elements 64g .. 64g + 31, high nibbles = the next 32
        const q = (e: number) => {
          const g = e >> 6;
          const l = e & 63;
          return l < 32 ? blocks[qs + 32 * g + l] : blocks[qs + 32 * g + l - 32] >> 4;
        };
        for (let w = 0; w < 32; w++) out[dst + 4 + w] = nib8((i) => q(8 * w + i));
        break;
      }
      case 'q6_k': {
        const ql = src;
        const qh = src + 128;
        const sc = src + 192;
        out[dst] = half(src + 208);
        for (let w = 0; w < 4; w++) out[dst + 1 + w] = (blocks[sc + 4 * w] | (blocks[sc + 4 * w + 1] << 8) | (blocks[sc + 4 * w + 2] << 16) | (blocks[sc + 4 * w + 3] << 24)) >>> 0;
        // ggml dequantize_row_q6_K: per 128 elements n, l < 32: elements l, l+32, l+64, l+96 from
        // ql[64n + l] (low), ql[64n + l + 32] (low), ql[64n + l] (high), ql[64n + l + 32] (high),
        // their top 2 bits from qh[32n + l] bits 0-1, 2-3, 4-5, 6-7.
        const low = (e: number) => {
          const nn = e >> 7;
          const r = e & 127;
          const quad = r >> 5;
          const l = r & 31;
          const byte = blocks[ql + 64 * nn + l + (quad & 1) * 32];
          return quad < 2 ? byte & 0xf : byte >> 4;
        };
        const high = (e: number) => {
          const nn = e >> 7;
          const r = e & 127;
          return (blocks[qh + 32 * nn + (r & 31)] >> (2 * (r >> 5))) & 3;
        };
        for (let w = 0; w < 32; w++) out[dst + 5 + w] = nib8((i) => low(8 * w + i));
        for (let w = 0; w < 16; w++) {
          let v = 0;
          for (let i = 0; i < 16; i++) v |= high(16 * w + i) << (2 * i);
          out[dst + 37 + w] = v >>> 0;
        }
        break;
      }
    }
  }
  return out;
}

/** Word `w` (elements 8w .. 8w + 7, element 8w + i in bits 4i..4i + 3) of the ggml Q4_0 block at byte `src`: element j < 16 is the low nibble of qs[j], element j + 16 its high nibble. */
function q4NibbleWord(blocks: Uint8Array, src: number, w: number): number {
  const qs = src + 2;
  let out = 0;
  for (let i = 0; i < 8; i++) {
    const e = 8 * w + i;
    out |= ((e < 16 ? blocks[qs + e] : blocks[qs + e - 16] >> 4) & 0xf) << (4 * i);
  }
  return out >>> 0;
}

/** Rows per group of the row-group layouts: Q4_0's ({@link repackQ4RowGroups}) and f16 / bf16's (weights.ts `repackHalfRowGroups`): the one-row decode tile's weight rows per lane on lavapipe. */
export const ROW_GROUP_ROWS = 4;
/** u32 words of one group of 4 rows and one pair of blocks in that layout: 4 scale words, then 2 blocks x 4 chunks x 4 rows nibble words. */
export const Q4_GROUP_PAIR_WORDS = 36;

/** Pairs of blocks per row in the Q4_0 row-group layout (an odd last block padded with a zero one). */
export function q4Pairs(cols: number): number {
  return Math.ceil(cols / 32 / 2);
}

/** u32 words per row of the Q4_0 row-group layout (a group of 4 rows holds 4 times this many). */
export function q4RowGroupRowWords(cols: number): number {
  return (q4Pairs(cols) * Q4_GROUP_PAIR_WORDS) / ROW_GROUP_ROWS;
}

/**
 * Q4_0 rows (ggml blocks, `cols` a multiple of 32) in groups of 4 rows, so that one 16-byte load
 * gives the same word of 4 rows: per group and pair of blocks (blocks 2p, 2p + 1 of each row)
 * 4 scale words (row r's: block 2p's f16 `d` in the low half, block 2p + 1's in the high half)
 * and then, for each block h of the pair and chunk q of 8 elements, 4 nibble words (row r's word
 * q of that block, element 8q + i in bits 4i..4i + 3, as in {@link repackBlocks}). Rows past
 * `rows` (to a multiple of 4) and an odd row's missing last block are zeros. 4.5 words per block
 * instead of 5: the decode tiles on lavapipe load a chunk of 4 weight rows as one `vec4<u32>`
 * (shaders/linear_q4dot.wgsl Q4R4). `// [ceil(rows / 4), pairs, 36] u32`
 */
export function repackQ4RowGroups(blocks: Uint8Array, rows: number, cols: number): Uint32Array {
  const f = QUANT_FORMATS.q4_0;
  const rowBlocks = cols / f.blockElements;
  const pairs = q4Pairs(cols);
  const groups = Math.ceil(rows / ROW_GROUP_ROWS);
  const out = new Uint32Array(groups * pairs * Q4_GROUP_PAIR_WORDS);
  for (let row = 0; row < rows; row++) {
    const g = Math.floor(row / ROW_GROUP_ROWS);
    const r = row % ROW_GROUP_ROWS;
    for (let b = 0; b < rowBlocks; b++) {
      const src = (row * rowBlocks + b) * f.blockBytes;
      const base = (g * pairs + (b >> 1)) * Q4_GROUP_PAIR_WORDS;
      const h = b & 1;
      out[base + r] = (out[base + r] | ((blocks[src] | (blocks[src + 1] << 8)) << (16 * h))) >>> 0;
      for (let q = 0; q < 4; q++) out[base + 4 + (h * 4 + q) * 4 + r] = q4NibbleWord(blocks, src, q);
    }
  }
  return out;
}
