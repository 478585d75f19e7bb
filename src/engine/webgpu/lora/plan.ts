/**
 * Row grouping for the LoRA kernels (Punica): runs of consecutive rows with the same adapter slot
 * of at least `sgmvMinRows` rows become SGMV segments (`segIndptr` + `segSlot`, one weight load
 * shared by up to ROWS rows); every other row goes to the BGMV gather form (`rowSlot`). Rows with
 * slot -1 appear in neither.
 */

/** Shortest run of one slot that is worth an SGMV segment (decode rows are runs of 1). */
export const DEFAULT_SGMV_MIN_ROWS = 2;

/** How a step's rows are grouped. */
export interface LoraRowPlan {
  /** Rows of the step. */
  rows: number;
  /** `// [segments + 1] u32` row boundaries of SGMV segments. */
  segIndptr: Uint32Array;
  /** `// [segments] i32` slot of each segment. */
  segSlot: Int32Array;
  segments: number;
  /** Segments with a slot >= 0 (0: no SGMV dispatch needed). */
  sgmvSegments: number;
  /** Rows of the longest segment (0 when none). */
  maxSegmentRows: number;
  /** `// [rows] i32` BGMV slot per row; -1 for rows without an adapter or inside a segment. */
  rowSlot: Int32Array;
  /** Rows with a BGMV slot >= 0. */
  bgmvRows: number;
  /** Distinct slots used (>= 0). */
  slotsUsed: number[];
}

/** Parameters of {@link planLoraRows}. */
export interface PlanLoraRowsParameters {
  /** Adapter slot of each row of the step, -1 for none. `// [rows]` */
  rowSlots: ArrayLike<number>;
  /** Default {@link DEFAULT_SGMV_MIN_ROWS}. */
  sgmvMinRows?: number;
}

/**
 * Groups rows by slot. Segments tile the rows contiguously (Punica's `seg_indptr`): a run of one
 * slot long enough for SGMV is a segment with that slot; the rows between such runs (BGMV rows and
 * rows without an adapter) form one segment with slot -1, which the SGMV kernels skip.
 */
export function planLoraRows(p: PlanLoraRowsParameters): LoraRowPlan {
  const { rowSlots } = p;
  const minRows = p.sgmvMinRows ?? DEFAULT_SGMV_MIN_ROWS;
  const rows = rowSlots.length;
  const rowSlot = new Int32Array(rows).fill(-1);
  const indptr: number[] = [0];
  const segSlot: number[] = [];
  const used = new Set<number>();
  let maxSegmentRows = 0;
  let bgmvRows = 0;
  let active = 0; // SGMV segments with a slot
  for (let start = 0; start < rows; ) {
    const slot = rowSlots[start];
    let end = start + 1;
    while (end < rows && rowSlots[end] === slot) end++;
    if (slot >= 0) used.add(slot);
    if (slot >= 0 && end - start >= minRows) {
      indptr.push(end);
      segSlot.push(slot);
      maxSegmentRows = Math.max(maxSegmentRows, end - start);
      active++;
    } else {
      if (slot >= 0) {
        for (let r = start; r < end; r++) rowSlot[r] = slot;
        bgmvRows += end - start;
      }
      if (segSlot.length > 0 && segSlot[segSlot.length - 1] === -1) indptr[indptr.length - 1] = end;
      else {
        indptr.push(end);
        segSlot.push(-1);
      }
    }
    start = end;
  }
  return {
    rows,
    segIndptr: Uint32Array.from(indptr),
    segSlot: Int32Array.from(segSlot),
    segments: segSlot.length,
    sgmvSegments: active,
    maxSegmentRows,
    rowSlot,
    bgmvRows,
    slotsUsed: [...used].sort((a, b) => a - b),
  };
}
