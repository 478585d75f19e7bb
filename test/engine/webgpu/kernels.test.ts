import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attention, embedding, kvWrite, matmul, rmsnorm, rope, ropeInvFreq, siluMul, type KvLayout } from '../../../src/engine/reference/ops.ts';
import { attentionOp, embedOp, linearOp, rmsnormOp, ropeKvOp, siluMulOp } from '../../../src/engine/webgpu/ops.ts';
import { uploadMatrix } from '../../../src/engine/webgpu/weights.ts';
import { f16BitsToF32, f32ToF16Bits } from '../../../src/model/dtype.ts';
import { probeAdapter } from '../../../src/gpu/device.ts';
import { createHarness, randomArray, relError, type KernelHarness } from './harness.ts';

const probe = await probeAdapter();

// Tolerances (max abs error / max |reference|): f32 kernels accumulate in f32 against a float64
// reference; f16 weights are compared with the reference run on the same f16-rounded weights.
const F32_TOL = 1e-5;
const F16_TOL = 1e-4;

let h: KernelHarness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.destroy());

function toF16(values: Float32Array): { bits: Uint16Array; rounded: Float32Array } {
  const bits = new Uint16Array(values.length);
  const rounded = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    bits[i] = f32ToF16Bits(values[i]);
    rounded[i] = f16BitsToF32(bits[i]);
  }
  return { bits, rounded };
}

async function runLinear(p: { rows: number; n: number; k: number; dtype: 'f32' | 'f16'; bias?: boolean; accumulate?: boolean; maxBinding?: number; subgroups?: boolean; shape?: { tpo: number; opl: number; workgroup: number; xshuf?: boolean } }) {
  const harness = p.subgroups === false || p.shape ? await createHarness({ subgroups: p.subgroups, shape: p.shape }) : h;
  const w = randomArray(p.n * p.k, 1 + p.n, 0.5);
  const x = randomArray(p.rows * p.k, 2 + p.rows);
  const y0 = randomArray(p.rows * p.n, 3);
  const bias = p.bias ? randomArray(p.n, 4) : undefined;
  const { bits, rounded } = toF16(w);
  const weight = uploadMatrix(harness.ctx.device, 'w', p.dtype === 'f16' ? bits : w, p.n, p.k, p.maxBinding ?? 1 << 27);
  const yBuf = harness.buffer(y0);
  const op = linearOp(harness.ctx, { weight, x: harness.buffer(x), y: yBuf, bias: bias && harness.buffer(bias), accumulate: p.accumulate });
  await harness.run(p.rows, 0, (rec) => op(rec, p.rows));
  const got = await harness.read(yBuf, p.rows * p.n);
  const want = matmul({ x, w: p.dtype === 'f16' ? rounded : w, bias, rows: p.rows, inFeatures: p.k, outFeatures: p.n });
  if (p.accumulate) for (let i = 0; i < want.length; i++) want[i] += y0[i];
  if (harness !== h) harness.destroy();
  return { got, want, chunks: weight.chunks.length };
}

describe('linear kernel (tiled mat-vec / mat-mul)', () => {
  for (const rows of [1, 3, 8, 17, 40]) {
    it(`f32 weights, ${rows} rows`, async () => {
      const { got, want } = await runLinear({ rows, n: 72, k: 96, dtype: 'f32' });
      expect(relError(got, want)).toBeLessThan(F32_TOL);
    });
  }
  it('f16 weights with bias, 5 rows', async () => {
    const { got, want } = await runLinear({ rows: 5, n: 64, k: 128, dtype: 'f16', bias: true });
    expect(relError(got, want)).toBeLessThan(F16_TOL);
  });
  it('accumulates into y (residual projections), f16, 33 rows', async () => {
    const { got, want } = await runLinear({ rows: 33, n: 40, k: 64, dtype: 'f16', accumulate: true });
    expect(relError(got, want)).toBeLessThan(F16_TOL);
  });
  it('splits a weight larger than one binding into row chunks', async () => {
    const { got, want, chunks } = await runLinear({ rows: 2, n: 100, k: 64, dtype: 'f32', maxBinding: 64 * 4 * 30 });
    expect(chunks).toBe(4);
    expect(relError(got, want)).toBeLessThan(F32_TOL);
  });
  it('workgroup-memory reduction (no subgroups)', async () => {
    const { got, want } = await runLinear({ rows: 6, n: 48, k: 64, dtype: 'f16', subgroups: false });
    expect(relError(got, want)).toBeLessThan(F16_TOL);
  });
  // The shapes linearShape() picks: GPUs (split k, subgroup butterfly) and CPU adapters (tpo 1, opl 4).
  const shapes: { tpo: number; opl: number; workgroup: number; xshuf?: boolean }[] = [{ tpo: 8, opl: 1, workgroup: 256 }, { tpo: 1, opl: 4, workgroup: 64 }, { tpo: 4, opl: 2, workgroup: 64 }];
  // x broadcast through 8-wide subgroups: runs where the adapter's subgroups are exactly 8 wide (lavapipe).
  if (probe.available && probe.adapter.subgroupMinSize === 8 && probe.adapter.subgroupMaxSize === 8) shapes.push({ tpo: 1, opl: 4, workgroup: 64, xshuf: true });
  for (const shape of shapes) {
    for (const rows of [1, 9]) {
      it(`shape tpo ${shape.tpo} opl ${shape.opl} wg ${shape.workgroup}${shape.xshuf ? ' xshuf' : ''}: ${rows} rows, n not a multiple of the tile`, async () => {
        const { got, want } = await runLinear({ rows, n: 70, k: 96, dtype: 'f16', accumulate: true, shape });
        expect(relError(got, want)).toBeLessThan(F16_TOL);
        const f32 = await runLinear({ rows, n: 70, k: 96, dtype: 'f32', shape });
        expect(relError(f32.got, f32.want)).toBeLessThan(F32_TOL);
      });
    }
  }
});

describe('elementwise and row kernels', () => {
  it('rmsnorm', async () => {
    const rows = 5;
    const size = 320;
    const x = randomArray(rows * size, 7, 3);
    const weight = randomArray(size, 8);
    const y = h.empty(rows * size);
    const op = rmsnormOp(h.ctx, { x: h.buffer(x), weight: h.buffer(weight), y, h: size, eps: 1e-5 });
    await h.run(rows, 0, (rec) => op(rec, rows));
    expect(relError(await h.read(y, rows * size), rmsnorm({ x, weight, rows, size, eps: 1e-5 }))).toBeLessThan(F32_TOL);
  });

  it('rmsnorm gathering output rows', async () => {
    const size = 64;
    const x = randomArray(6 * size, 9);
    const weight = randomArray(size, 10);
    const table = new Uint32Array(16);
    table[0] = 4;
    table[8] = 1;
    const y = h.empty(2 * size);
    const op = rmsnormOp(h.ctx, { x: h.buffer(x), weight: h.buffer(weight), y, h: size, eps: 1e-6, gather: h.buffer(table) });
    await h.run(6, 2, (rec) => op(rec, 2));
    const picked = new Float32Array([...x.subarray(4 * size, 5 * size), ...x.subarray(size, 2 * size)]);
    expect(relError(await h.read(y, 2 * size), rmsnorm({ x: picked, weight, rows: 2, size, eps: 1e-6 }))).toBeLessThan(F32_TOL);
  });

  it('silu_mul', async () => {
    const n = 3 * 384;
    const gate = randomArray(n, 11, 4);
    const up = randomArray(n, 12);
    const g = h.buffer(gate);
    const op = siluMulOp(h.ctx, { gate: g, up: h.buffer(up), width: 384 });
    await h.run(3, 0, (rec) => op(rec, 3));
    expect(relError(await h.read(g, n), siluMul({ gate, up }))).toBeLessThan(F32_TOL);
  });

  for (const dtype of ['f32', 'f16'] as const) {
    it(`embedding gather (${dtype}, table split in chunks)`, async () => {
      const vocab = 50;
      const size = 64;
      const table = randomArray(vocab * size, 13);
      const { bits, rounded } = toF16(table);
      const m = uploadMatrix(h.ctx.device, 'embed', dtype === 'f16' ? bits : table, vocab, size, 16 * size * 4);
      const tokens = [49, 0, 17, 16, 33];
      const rowInfo = new Uint32Array(tokens.flatMap((t) => [t, 0, 0, 0]));
      const x = h.empty(tokens.length * size);
      const op = embedOp(h.ctx, { table: m, rowInfo: h.buffer(rowInfo), x });
      await h.run(tokens.length, 0, (rec) => op(rec, tokens.length));
      const want = embedding({ table: dtype === 'f16' ? rounded : table, tokens, hiddenSize: size });
      expect(Array.from(await h.read(x, tokens.length * size))).toEqual(Array.from(want));
    });
  }
});

describe('RoPE + paged KV write + attention', () => {
  // Two sequences in one step over a shared pool, with scattered block tables spanning many blocks:
  // A has 40 cached positions and 3 new rows (prefill chunk), B decodes one row at position 70.
  for (const attentionWorkgroup of [32, 8]) it(`matches the reference over many blocks (workgroup ${attentionWorkgroup})`, async () => {
    h.ctx.attentionWorkgroup = attentionWorkgroup;
    const numHeads = 4;
    const numKvHeads = 2;
    const headDim = 32;
    const numBlocks = 12;
    const layout: KvLayout = { numLayers: 1, numKvHeads, headDim, blockSize: 16 };
    const invFreq = ropeInvFreq({ headDim, theta: 10000 });
    const seqs = [
      { table: [7, 2, 9], cached: 40, rows: 3 },
      { table: [1, 11, 4, 0, 5], cached: 70, rows: 1 },
    ];
    const kvDim = numKvHeads * headDim;
    const refCache = new Float32Array(numBlocks * 2 * 16 * kvDim);
    const gpuK = new Float32Array(numBlocks * 16 * kvDim);
    const gpuV = new Float32Array(numBlocks * 16 * kvDim);
    // Fill the cached positions directly (as earlier steps would have).
    seqs.forEach((s, si) => {
      const k = randomArray(s.cached * kvDim, 20 + si);
      const v = randomArray(s.cached * kvDim, 30 + si);
      const positions = Array.from({ length: s.cached }, (_, i) => i);
      kvWrite({ cache: refCache, layout, blockTable: s.table, layer: 0, k, v, positions, rows: s.cached });
      for (let pos = 0; pos < s.cached; pos++) {
        const block = s.table[Math.floor(pos / 16)];
        for (let hh = 0; hh < numKvHeads; hh++) {
          const dst = ((block * numKvHeads + hh) * 16 + (pos % 16)) * headDim;
          gpuK.set(k.subarray(pos * kvDim + hh * headDim, pos * kvDim + (hh + 1) * headDim), dst);
          gpuV.set(v.subarray(pos * kvDim + hh * headDim, pos * kvDim + (hh + 1) * headDim), dst);
        }
      }
    });
    const rows = 4;
    const q = randomArray(rows * numHeads * headDim, 40);
    const k = randomArray(rows * kvDim, 41);
    const v = randomArray(rows * kvDim, 42);
    const rowInfo: number[] = [];
    const bt: number[] = [];
    const rowSeq: number[] = [];
    const positions: number[] = [];
    seqs.forEach((s, si) => {
      const off = bt.length;
      bt.push(...s.table);
      for (let i = 0; i < s.rows; i++) {
        rowInfo.push(0, s.cached + i, off, 0);
        rowSeq.push(si);
        positions.push(s.cached + i);
      }
    });
    const table = new Float32Array(80 * headDim);
    for (let pos = 0; pos < 80; pos++)
      for (let i = 0; i < headDim / 2; i++) {
        const a = Math.fround(pos * invFreq[i]);
        table[(pos * headDim) / 2 * 2 + i * 2] = Math.cos(a);
        table[(pos * headDim) / 2 * 2 + i * 2 + 1] = Math.sin(a);
      }
    const bufs = {
      rowInfo: h.buffer(new Uint32Array(rowInfo)),
      blockTables: h.buffer(new Uint32Array(bt)),
      ropeTable: h.buffer(table),
      q: h.buffer(q),
      k: h.buffer(k),
      v: h.buffer(v),
      kCache: h.buffer(gpuK),
      vCache: h.buffer(gpuV),
    };
    const out = h.empty(rows * numHeads * headDim);
    const heads = { numHeads, numKvHeads, headDim };
    const ropeOp = ropeKvOp(h.ctx, { ...heads, maxPos: 80, ...bufs });
    const attnOp = attentionOp(h.ctx, { ...heads, rowInfo: bufs.rowInfo, blockTables: bufs.blockTables, q: bufs.q, kCache: bufs.kCache, vCache: bufs.vCache, out });
    await h.run(rows, 0, (rec) => {
      ropeOp(rec, rows);
      attnOp(rec, rows);
    });
    // Reference: rope on q and k, write k/v per sequence, attention per sequence.
    const qr = rope({ x: q.slice(), positions, rows, numHeads, headDim, invFreq });
    const kr = rope({ x: k.slice(), positions, rows, numHeads: numKvHeads, headDim, invFreq });
    const want = new Float32Array(rows * numHeads * headDim);
    let r0 = 0;
    seqs.forEach((s) => {
      const pos = positions.slice(r0, r0 + s.rows);
      kvWrite({ cache: refCache, layout, blockTable: s.table, layer: 0, k: kr.subarray(r0 * kvDim), v: v.subarray(r0 * kvDim), positions: pos, rows: s.rows });
      const o = attention({ q: qr.subarray(r0 * numHeads * headDim), cache: refCache, layout, blockTable: s.table, layer: 0, positions: pos, rows: s.rows, numHeads });
      want.set(o, r0 * numHeads * headDim);
      r0 += s.rows;
    });
    expect(relError(await h.read(bufs.q, q.length), qr)).toBeLessThan(F32_TOL);
    expect(relError(await h.read(out, want.length), want)).toBeLessThan(F32_TOL);
    expect(rowSeq).toEqual([0, 0, 0, 1]);
  });
});
