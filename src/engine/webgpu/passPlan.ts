import { KV_BLOCK_SIZE, type StepSequence } from '../backend.ts';
import { EngineAdapterSlotError, EngineBlockTableError, EngineContextExceededError, EngineTokenOutOfRangeError } from '../errors.ts';
import { validateSamplingParams } from '../sampling.ts';

/** u32 words per row of `PassPlan.rowInfo` (`RowInfo` in shaders/step.wgsl). */
export const ROW_INFO_WORDS = 8;

/** Output-row modes of shaders/sample.wgsl. */
export const OUT_MODE = { target: 0, greedy: 1, sample: 2 } as const;

/** u32 words per output row of shaders/sample.wgsl (`OUT_ROW_WORDS` there). */
export const OUT_ROW_WORDS = 12;

/** "No mask" in an output row's mask index. */
export const NO_MASK = 0xffffffff;

/** Where an output row's result goes. */
export interface OutputSlot {
  seq: number;
  /** 'sample': the sequence's token; 'target': `targetLogprobs[row]`. */
  kind: 'sample' | 'target';
  row: number;
  /** Top logprobs the row asked for (0: none). */
  top: number;
}

/** One GPU pass: the rows, their block tables and the rows that get logits. */
export interface PassPlan {
  rows: number;
  outRows: number;
  rowInfo: Uint32Array; // [rows, ROW_INFO_WORDS]: token, pos, btOffset, first, slot (i32), 0, 0, 0 (shaders/step.wgsl)
  rowSlots: Int32Array; // [rows] LoRA slot of each row's sequence, -1 = base only
  blockTables: Uint32Array; // flattened tables
  outRowInfo: Uint32Array; // [outRows, OUT_ROW_WORDS]: srcRow, mode, target, topK, temperature, topP, seed, step, maskRow, adjustStart, adjustCount, topLogprobs
  outputs: OutputSlot[]; // [outRows]
  masks: Uint32Array; // [maskRows, ceil(vocab / 32)] u32: the masks of this pass's rows
  maskRows: number;
  adjust: Uint32Array; // [adjustEntries, 4] u32: token, delta (f32 bits), 0, 0
  adjustEntries: number;
  /** Whether a row asked for top logprobs (their results are read back). */
  wantsTop: boolean;
  /** Every sequence has one row in this pass (a decode pass). */
  oneRowEach: boolean;
}

/** Parameters of {@link planPasses}. */
export interface PlanPassesParameters {
  sequences: readonly StepSequence[];
  vocabSize: number;
  maxContext: number;
  numKvBlocks: number;
  maxRows: number;
  maxOutRows: number;
  maxBlockEntries: number;
  /** Slots of the backend's LoRA pool (`adapterSlot` must be -1 or below this). */
  loraSlots: number;
  /** Give every sequence's last row an output row even without `sample` (for `logits()`). */
  lastRowLogits?: boolean;
}

/** Low 32 bits of an integer (sampling.ts takes seed and step modulo 2^32). */
function u32(n: number): number {
  return Number(BigInt.asUintN(32, BigInt(Math.trunc(n))));
}

function validate(s: StepSequence, p: PlanPassesParameters): void {
  if (!Number.isInteger(s.adapterSlot) || s.adapterSlot < -1 || s.adapterSlot >= p.loraSlots) throw new EngineAdapterSlotError(s.adapterSlot, p.loraSlots);
  for (let i = 0; i < s.tokens.length; i++) {
    const t = s.tokens[i];
    if (!Number.isInteger(t) || t < 0 || t >= p.vocabSize) throw new EngineTokenOutOfRangeError(t, p.vocabSize);
  }
  if (!Number.isInteger(s.startPos) || s.startPos < 0) throw new EngineBlockTableError(`startPos ${s.startPos} must be an integer >= 0`);
  const end = s.startPos + s.tokens.length;
  if (end > p.maxContext) throw new EngineContextExceededError(end, p.maxContext);
  const blocks = Math.ceil(end / KV_BLOCK_SIZE);
  if (s.blockTable.length < blocks) throw new EngineBlockTableError(`${end} positions need ${blocks} blocks, the table has ${s.blockTable.length}`);
  for (let i = 0; i < blocks; i++) {
    const b = s.blockTable[i];
    if (!Number.isInteger(b) || b < 0 || b >= p.numKvBlocks) throw new EngineBlockTableError(`block id ${b} is outside the pool [0, ${p.numKvBlocks})`);
  }
  if (s.targets && s.targets.length !== s.tokens.length) throw new EngineBlockTableError(`targets has ${s.targets.length} entries for ${s.tokens.length} tokens`);
  for (let i = 0; i < (s.targets?.length ?? 0); i++) {
    const t = s.targets![i];
    if (!Number.isInteger(t) || t < 0 || t >= p.vocabSize) throw new EngineTokenOutOfRangeError(t, p.vocabSize);
  }
  if (s.sample) validateSamplingParams(s.sample, p.vocabSize);
}

/**
 * Splits a step's sequences into passes that fit the device buffers: prompts longer than
 * `maxRows` run in chunks (in order, so later chunks see earlier ones in the KV cache); a
 * sequence's sampled row is in its last chunk. Validates ids, positions and block tables.
 */
export function planPasses(p: PlanPassesParameters): PassPlan[] {
  const f32 = new Float32Array(1);
  const bits = (v: number) => {
    f32[0] = v;
    return new Uint32Array(f32.buffer)[0];
  };
  type Piece = { seq: number; start: number; count: number; last: boolean };
  const pieces: Piece[] = [];
  p.sequences.forEach((s, seq) => {
    validate(s, p);
    const n = s.tokens.length;
    if (n === 0) throw new EngineBlockTableError(`sequence ${seq} has no tokens`);
    const size = s.targets ? Math.max(1, Math.min(p.maxRows, p.maxOutRows - 1)) : p.maxRows;
    for (let start = 0; start < n; start += size) pieces.push({ seq, start, count: Math.min(size, n - start), last: start + size >= n });
  });
  const passes: PassPlan[] = [];
  let cur: { rows: number[]; slots: number[]; bt: number[]; outs: number[]; outputs: OutputSlot[]; masks: Uint32Array[]; adjust: number[]; last?: { seq: number; first: number }; multi: boolean } | undefined;
  const flush = () => {
    if (!cur) return;
    const words = Math.ceil(p.vocabSize / 32);
    const masks = new Uint32Array(Math.max(1, cur.masks.length * words));
    cur.masks.forEach((m, i) => masks.set(m, i * words));
    passes.push({
      rows: cur.rows.length / ROW_INFO_WORDS,
      outRows: cur.outputs.length,
      rowInfo: Uint32Array.from(cur.rows),
      rowSlots: Int32Array.from(cur.slots),
      blockTables: Uint32Array.from(cur.bt.length ? cur.bt : [0]),
      outRowInfo: Uint32Array.from(cur.outs),
      outputs: cur.outputs,
      masks,
      maskRows: cur.masks.length,
      adjust: Uint32Array.from(cur.adjust.length ? cur.adjust : [0, 0, 0, 0]),
      adjustEntries: cur.adjust.length / 4,
      wantsTop: cur.outputs.some((o) => o.top > 0),
      oneRowEach: !cur.multi,
    });
    cur = undefined;
  };
  for (const piece of pieces) {
    const s = p.sequences[piece.seq];
    const end = s.startPos + piece.start + piece.count;
    const blocks = Math.ceil(end / KV_BLOCK_SIZE);
    const wantsOut = piece.last && (s.sample !== undefined || p.lastRowLogits === true);
    const outs = (s.targets ? piece.count : 0) + (wantsOut ? 1 : 0);
    if (cur && (cur.rows.length / ROW_INFO_WORDS + piece.count > p.maxRows || cur.outputs.length + outs > p.maxOutRows || cur.bt.length + blocks > p.maxBlockEntries)) flush();
    cur ??= { rows: [], slots: [], bt: [], outs: [], outputs: [], masks: [], adjust: [], multi: false };
    if (blocks > p.maxBlockEntries) throw new EngineContextExceededError(end, p.maxBlockEntries * KV_BLOCK_SIZE);
    const btOffset = cur.bt.length;
    for (let i = 0; i < blocks; i++) cur.bt.push(s.blockTable[i]);
    const row0 = cur.rows.length / ROW_INFO_WORDS;
    // Rows of one sequence in a pass are consecutive (pieces of a sequence follow each other).
    const first = cur.last?.seq === piece.seq ? cur.last.first : row0;
    if (first !== row0 || piece.count > 1) cur.multi = true;
    cur.last = { seq: piece.seq, first };
    for (let i = 0; i < piece.count; i++) {
      cur.rows.push(s.tokens[piece.start + i], s.startPos + piece.start + i, btOffset, first, s.adapterSlot >>> 0, 0, 0, 0);
      cur.slots.push(s.adapterSlot);
    }
    if (s.targets) {
      for (let i = 0; i < piece.count; i++) {
        cur.outs.push(row0 + i, OUT_MODE.target, s.targets[piece.start + i], 0, 0, 0, 0, 0, NO_MASK, 0, 0, 0);
        cur.outputs.push({ seq: piece.seq, kind: 'target', row: piece.start + i, top: 0 });
      }
    }
    if (wantsOut) {
      const sm = s.sample;
      const mode = !sm || sm.temperature === 0 ? OUT_MODE.greedy : OUT_MODE.sample;
      let maskRow = NO_MASK;
      if (sm?.mask) {
        maskRow = cur.masks.length;
        cur.masks.push(sm.mask);
      }
      const adjustStart = cur.adjust.length / 4;
      const adjust = sm?.adjust;
      for (let i = 0; i < (adjust?.ids.length ?? 0); i++) cur.adjust.push(adjust!.ids[i], bits(adjust!.deltas[i]), 0, 0);
      const top = sm?.topLogprobs ?? 0;
      cur.outs.push(row0 + piece.count - 1, mode, 0, sm?.topK ?? 0, bits(sm?.temperature ?? 0), bits(sm?.topP ?? 1), u32(sm?.seed ?? 0), u32(sm?.step ?? 0), maskRow, adjustStart, adjust?.ids.length ?? 0, top);
      cur.outputs.push({ seq: piece.seq, kind: 'sample', row: piece.start + piece.count - 1, top });
    }
  }
  flush();
  return passes;
}
