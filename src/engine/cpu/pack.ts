/**
 * The CPU backend's f16 matrix layout: rows in tiles of 4, each tile a run of 64-byte lines
 * holding 8 halves of each of its 4 rows in turn (`[k/8][row][8]`), then each row's last
 * `cols % 8` halves; rows past the last whole tile follow as plain rows. A decode step then reads
 * every matrix as one sequential stream (the hardware prefetcher's best case) instead of four
 * interleaved short rows. Values are the f16 halves, unchanged.
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
      for (let k = 0; k < n8; k += 8) out.set(bits.subarray(row + k, row + k + 8), tile + k * 4 + j * 8);
      out.set(bits.subarray(row + n8, row + cols), tile + n8 * 4 + j * tail);
    }
  }
  out.set(bits.subarray(full * cols), full * cols);
  return out;
}
