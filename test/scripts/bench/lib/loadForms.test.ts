import { describe, expect, it } from 'vitest';
import { expectedXor } from '../../../../scripts/bench/lib/loadForms.ts';

// The load probe's CPU reference on 750 rows of 6 chunks (4,500 chunks: past the 4,096 the 64 KiB forms wrap at).
const ROWS = 750;
const CHUNKS = 6;

describe('load forms: what each invocation reads (the probe CPU reference)', () => {
  it('XORs what each invocation reads: one marked word shows in its row only (the 64 KiB forms: in every row wrapping onto it)', () => {
    const marked = new Uint32Array(ROWS * CHUNKS * 4);
    marked[(300 * CHUNKS + 2) * 4 + 1] = 0xdead;
    const rows = expectedXor('buffer-rows', marked, ROWS, CHUNKS);
    expect([...rows.keys()].filter((r) => rows[r] !== 0)).toEqual([300]);
    // chunk 300 · 6 + 2 = 1802 < 4096: read directly by row 300 only (its wrap would be chunk 5898, past the 4500 there are).
    const resident = expectedXor('uniform-64k-rows', marked, ROWS, CHUNKS);
    expect([...resident.keys()].filter((r) => resident[r] !== 0)).toEqual([300]);
    const early = new Uint32Array(ROWS * CHUNKS * 4);
    early[(10 * CHUNKS) * 4] = 1; // chunk 60, and chunk 60 + 4096 = 4156 (row 692) wraps onto it
    const wrapped = expectedXor('buffer-64k-rows', early, ROWS, CHUNKS);
    expect([...wrapped.keys()].filter((r) => wrapped[r] !== 0)).toEqual([10, 692]);
    const stream = expectedXor('buffer-stream', marked, ROWS, CHUNKS);
    expect([...stream.keys()].filter((g) => stream[g] !== 0)).toEqual([300 * CHUNKS + 2]);
  });
});
