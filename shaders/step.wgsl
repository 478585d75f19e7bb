// Per-step sizes shared by every kernel of a forward step (written once per step).
struct Step {
  rows: u32,    // token rows in this step (all sequences concatenated)
  outRows: u32, // rows that get logits (sampled rows and teacher-forced rows)
  _pad0: u32,
  _pad1: u32,
}

// Per-row facts: token id, position in its sequence, offset of its sequence's block table.
struct RowInfo {
  token: u32,
  pos: u32,      // position (tokens before it in its sequence)
  btOffset: u32, // index into blockTables where this row's sequence's table starts
  _pad: u32,
}
