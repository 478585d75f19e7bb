// Per-step sizes shared by every kernel of a forward step (written once per step).
struct Step {
  rows: u32,    // token rows in this step (all sequences concatenated)
  outRows: u32, // rows that get logits (sampled rows and teacher-forced rows)
  _pad0: u32,
  _pad1: u32,
}

// Per-row facts (src/engine/webgpu/passPlan.ts writes them): token id, position in its sequence,
// offset of its sequence's block table, the pass row holding the sequence's first row of this pass
// (its rows are consecutive, at consecutive positions), and its LoRA adapter slot.
struct RowInfo {
  token: u32,
  pos: u32,      // position (tokens before it in its sequence)
  btOffset: u32, // index into blockTables where this row's sequence's table starts
  first: u32,    // row of this pass holding the sequence's first row in the pass
  slot: i32,     // LoRA adapter slot, -1 = none
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}
