import { f16BitsToF32 } from '../../model/dtype.ts';
import { QUANT_FORMATS } from '../../model/quant/formats.ts';

/**
 * The CPU backend's f16 matrix layout: rows in tiles of 4, each tile a run of 64-byte lines
 * holding 8 halves of each of its 4 rows in turn (`[k/8][row][8]`), then each row's last
 * `cols % 8` halves; rows past the last whole tile follow as plain rows. A decode step then reads
 * every matrix as one sequential stream (the hardware prefetcher's best case) instead of four
 * interleaved short rows. Within a line, a row's 8 halves k..k+7 are paired as 32-bit lanes
 * (k+i, k+4+i), i = 0..3: the kernel widens the low halves with two shifts and the high ones with
 * one (wasm/kernels.ts, plo/phi). Values are the f16 halves, unchanged.
 */

/** Packs `[rows, cols]` halves into 4-row tiles. */
export function packF16Tiles(bits: Uint16Array, rows: number, cols: number): Uint16Array {
  const out = new Uint16Array(bits.length);
  const n8 = cols & ~7;
  const tail = cols - n8;
  const full = rows & ~3;
  for (let t = 0; t < full; t += 4) {
    const tile = t * cols;
    for (let j = 0; j < 4; j++) {
      const row = (t + j) * cols;
      for (let k = 0; k < n8; k += 8) {
        const at = tile + k * 4 + j * 8;
        for (let i = 0; i < 4; i++) {
          out[at + 2 * i] = bits[row + k + i];
          out[at + 2 * i + 1] = bits[row + k + 4 + i];
        }
      }
      out.set(bits.subarray(row + n8, row + cols), tile + n8 * 4 + j * tail);
    }
  }
  out.set(bits.subarray(full * cols), full * cols);
  return out;
}

/**
 * The CPU backend's Q8_0 / Q4_0 layout: rows in tiles of 4 (the last tile padded with zero rows),
 * each tile a run of one group per block: the 4 rows' scales as f32 (the blocks' f16 `d`, widened
 * exactly), then 16-byte vectors each holding 4 consecutive stored bytes of each of the 4 rows in
 * turn (byte 4j + i of vector v = row j's byte 4v + i). Q4_0 bytes are stored as ggml stores them
 * (quant m low nibble, quant 16 + m high); Q8_0 quants as q + 128 (q ^ 0x80), which the kernel
 * splits into two nibbles. The kernel reads a tile as one stream, the 4 scales as one vector, and
 * dots a vector with one broadcast chunk of 4 activation quants: lane j is row j's (wasm/kernels.ts,
 * q4Rows4 and q8Rows3), so no reduction across lanes.
 */
export function packQuantTiles(blocks: Uint8Array, type: 'q8_0' | 'q4_0', rows: number, cols: number): Uint8Array {
  const { blockBytes, blockElements } = QUANT_FORMATS[type];
  const perRow = cols / blockElements;
  const quantBytes = blockBytes - 2;
  const group = quantTileGroupBytes(type);
  const flip = type === 'q8_0' ? 0x80 : 0;
  const out = new Uint8Array(quantTileBytes(type, cols) * Math.ceil(rows / 4));
  const scales = new Float32Array(out.buffer);
  const bits = new DataView(blocks.buffer, blocks.byteOffset, blocks.byteLength);
  for (let r = 0; r < rows; r++) {
    const tile = (r >> 2) * perRow * group;
    const j = r & 3;
    for (let b = 0; b < perRow; b++) {
      const src = (r * perRow + b) * blockBytes;
      const at = tile + b * group;
      scales[at / 4 + j] = f16BitsToF32(bits.getUint16(src, true));
      for (let m = 0; m < quantBytes; m++) out[at + 16 + (m >> 2) * 16 + j * 4 + (m & 3)] = blocks[src + 2 + m] ^ flip;
    }
  }
  return out;
}

/** Bytes of one block group of a quantized tile: 4 f32 scales and 4 rows' quants. */
function quantTileGroupBytes(type: 'q8_0' | 'q4_0'): number {
  return 16 + 4 * (QUANT_FORMATS[type].blockBytes - 2);
}

/** Bytes of one 4-row tile of a quantized matrix with `cols` columns. */
export function quantTileBytes(type: 'q8_0' | 'q4_0', cols: number): number {
  return (cols / QUANT_FORMATS[type].blockElements) * quantTileGroupBytes(type);
}
