import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matrixStride, repackHalfRowGroups, uploadMatrix, writeMatrixRows, type MatrixLayout } from '../../../src/engine/webgpu/weights.ts';
import { createHarness, type KernelHarness } from './harness.ts';

// weights.ts: float matrices on the device by rows or in groups of 4 rows (lavapipe's f16 / bf16
// layout), and rows overwritten in place in either (the merge-on-switch baseline of bench:lora).

/** Row r's `stride` halves: r · 1000 + element + 1 (padding zero past `cols`). */
function rowValues(r: number, cols: number, stride: number, base = 0): Uint16Array {
  const row = new Uint16Array(stride);
  for (let e = 0; e < cols; e++) row[e] = base + r * 1000 + e + 1;
  return row;
}

/** The `[rows, stride]` halves back from either layout. */
function byRows(data: Uint16Array, rows: number, stride: number, groups: boolean): Uint16Array {
  if (!groups) return data.slice(0, rows * stride);
  const out = new Uint16Array(rows * stride);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < stride / 8; c++) {
      const at = ((Math.floor(r / 4) * (stride / 8) + c) * 4 + (r % 4)) * 8;
      out.set(data.subarray(at, at + 8), r * stride + c * 8);
    }
  }
  return out;
}

describe('f16 / bf16 rows in groups of 4 (repackHalfRowGroups)', () => {
  it('puts chunk c of the 4 rows of a group one after the other, the last group padded with zero rows, from aligned or unaligned rows', () => {
    const rows = 6;
    const stride = 24;
    const out = repackHalfRowGroups(rows, stride, (r) => rowValues(r, stride, stride));
    expect(out.length).toBe(8 * stride);
    // Group 0, chunk 1: rows 0..3's elements 8..15.
    expect(Array.from(out.subarray(8 * 4, 8 * 8))).toEqual([0, 1, 2, 3].flatMap((r) => Array.from(rowValues(r, stride, stride).subarray(8, 16))));
    expect(byRows(out, rows, stride, true)).toEqual(new Uint16Array(Array.from({ length: rows }, (_, r) => Array.from(rowValues(r, stride, stride))).flat()));
    // Rows that start at an odd half (a file's tensor at any 2-byte offset) give the same layout.
    const backing = new Uint16Array(1 + rows * stride);
    for (let r = 0; r < rows; r++) backing.set(rowValues(r, stride, stride), 1 + r * stride);
    expect(repackHalfRowGroups(rows, stride, (r) => backing.subarray(1 + r * stride, 1 + (r + 1) * stride))).toEqual(out);
    // Rows 6 and 7 of group 1 are zeros.
    for (let c = 0; c < 3; c++) expect(Array.from(out.subarray(4 * stride + (c * 4 + 2) * 8, 4 * stride + (c * 4 + 4) * 8)).every((v) => v === 0)).toBe(true);
  });
});

describe('matrices on the device, read back', () => {
  let h: KernelHarness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(() => h?.destroy());

  const rows = 23;
  const cols = 66;
  const stride = matrixStride(cols);
  const upload = (layout: MatrixLayout) => {
    const data = new Uint16Array(rows * cols);
    for (let r = 0; r < rows; r++) data.set(rowValues(r, cols, stride).subarray(0, cols), r * cols);
    // 9 rows' bytes per binding: chunks of 9 rows by rows, of 8 (whole groups) in groups.
    return uploadMatrix(h.ctx.device, 'w', { dtype: 'f16', data }, rows, cols, 9 * stride * 2, layout);
  };
  const readBack = async (m: ReturnType<typeof upload>) => {
    const parts: Uint16Array[] = [];
    for (const c of m.chunks) {
      const halves = (m.rowGroups ? Math.ceil(c.rowCount / 4) * 4 : c.rowCount) * stride;
      parts.push(byRows(new Uint16Array((await h.read(c.buffer, Math.ceil(halves / 2))).buffer).subarray(0, halves), c.rowCount, stride, m.rowGroups === true));
    }
    const out = new Uint16Array(rows * stride);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };

  for (const layout of [{}, { halfRowGroups: true }] as const) {
    const name = 'halfRowGroups' in layout ? 'in groups of 4 rows' : 'by rows';
    it(`${name}: uploads whole rows (padded to 8) in chunks, and writeMatrixRows overwrites rows 3..13 only`, async () => {
      const m = upload(layout);
      expect(m.rowGroups === true).toBe('halfRowGroups' in layout);
      expect(m.chunks.map((c) => c.rowStart)).toEqual('halfRowGroups' in layout ? [0, 8, 16] : [0, 9, 18]);
      const want = new Uint16Array(rows * stride);
      for (let r = 0; r < rows; r++) want.set(rowValues(r, cols, stride), r * stride);
      expect(await readBack(m)).toEqual(want);
      // Rows 3..13: partial groups at both ends, a whole group, and a chunk boundary crossed.
      const fresh = new Uint16Array(11 * stride);
      for (let r = 3; r < 14; r++) {
        fresh.set(rowValues(r, cols, stride, 30000), (r - 3) * stride);
        want.set(rowValues(r, cols, stride, 30000), r * stride);
      }
      writeMatrixRows(h.ctx.device, m, 3, fresh);
      expect(await readBack(m)).toEqual(want);
      for (const c of m.chunks) c.buffer.destroy();
    });
  }

  it('refuses values that are not whole rows within the matrix, or not in its element type', () => {
    const m = upload({ halfRowGroups: true });
    expect(() => writeMatrixRows(h.ctx.device, m, 20, new Uint16Array(4 * stride))).toThrow(/not whole rows of 72 within rows 20\.\. of 23/);
    expect(() => writeMatrixRows(h.ctx.device, m, 0, new Uint16Array(stride + 1))).toThrow(/not whole rows/);
    expect(() => writeMatrixRows(h.ctx.device, m, 0, new Float32Array(stride))).toThrow(/f16 matrix takes the halves' bits in a Uint16Array, got a Float32Array/);
    for (const c of m.chunks) c.buffer.destroy();
  });
});
