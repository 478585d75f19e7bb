/**
 * Row grouping for the LoRA shrink kernel (shaders/lora_shrink.wgsl): runs of consecutive rows
 * with one adapter slot are cut into tiles of up to `tile` rows, so rows of one adapter (a prefill
 * chunk, neighbouring decode rows) share each A load (Punica's SGMV) while a row whose neighbours
 * use other adapters is a tile of its own (BGMV), all in one dispatch. Rows without an adapter (slot
 * -1, or an empty slot) are in no tile.
 */

/** Rows per shrink tile at most. */
export const LORA_TILE_ROWS = 4;

/** A pass's tiles. */
export interface LoraTilePlan {
  /** `// [tiles, 4] u32`: first row, rows, slot, 0. */
  tiles: Uint32Array;
  count: number;
  /** Largest rank among the tiles' adapters (0: no LoRA work in the pass). */
  maxRank: number;
  /** Distinct slots used, ascending. */
  slotsUsed: number[];
}

/** Parameters of {@link planLoraTiles}. */
export interface PlanLoraTilesParameters {
  /** Adapter slot of each row of the pass, -1 for none. `// [rows]` */
  rowSlots: ArrayLike<number>;
  /** Rank of the adapter in a slot (0: empty). */
  rankOf: (slot: number) => number;
  /** Default {@link LORA_TILE_ROWS}. */
  tile?: number;
}

/** Cuts the rows into tiles (see the file comment). */
export function planLoraTiles(p: PlanLoraTilesParameters): LoraTilePlan {
  const { rowSlots, rankOf } = p;
  const size = p.tile ?? LORA_TILE_ROWS;
  const tiles: number[] = [];
  const used = new Set<number>();
  let maxRank = 0;
  for (let start = 0; start < rowSlots.length; ) {
    const slot = rowSlots[start];
    let end = start + 1;
    while (end < rowSlots.length && rowSlots[end] === slot) end++;
    const rank = slot >= 0 ? rankOf(slot) : 0;
    if (rank > 0) {
      used.add(slot);
      maxRank = Math.max(maxRank, rank);
      for (let b = start; b < end; b += size) tiles.push(b, Math.min(size, end - b), slot, 0);
    }
    start = end;
  }
  return { tiles: Uint32Array.from(tiles), count: tiles.length / 4, maxRank, slotsUsed: [...used].sort((a, b) => a - b) };
}
