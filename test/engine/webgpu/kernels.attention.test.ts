import { describe, expect, it } from 'vitest';
import { attention, kvWrite, rope, type KvLayout } from '../../../src/engine/reference/ops.ts';
import { attentionOp, kvHeadStride, ropeKvOp, wholeAct } from '../../../src/engine/webgpu/ops.ts';
import { matrixStride } from '../../../src/engine/webgpu/weights.ts';
import { ropeInvFreq } from '../../../src/model/arch/rope.ts';
import { randomArray, relError } from './harness.ts';
import { F32_TOL, kernelHarness, lavapipeShape, unpadded } from '../../fixtures/kernels.ts';

// shaders/rope_kv.wgsl and attention.wgsl: RoPE, the paged KV store and attention, apart and fused.
const { harness } = kernelHarness();

describe('RoPE + paged KV write + attention', () => {
  // Two sequences in one step over a shared pool, with scattered block tables spanning many blocks:
  // A has 40 cached positions and 3 new rows (prefill chunk), B decodes one row at position 70.
  // q, k and v are columns of one buffer (as Phi-3's fused qkv_proj writes them).
  const cases = [
    { name: 'plain', headDim: 32, rotaryDim: 32, window: 0, softcap: 0, workgroup: 32 },
    { name: 'plain, CPU-adapter workgroup', headDim: 32, rotaryDim: 32, window: 0, softcap: 0, workgroup: 8 },
    { name: 'sliding window 20, soft-cap 5 (Gemma 2 local layer)', headDim: 32, rotaryDim: 32, window: 20, softcap: 5, workgroup: 32 },
    { name: 'window 16 crossing block edges, partial rotary 3/4', headDim: 16, rotaryDim: 12, window: 16, softcap: 0, workgroup: 8 },
    { name: 'head_dim 10 (not a multiple of 4)', headDim: 10, rotaryDim: 10, window: 0, softcap: 0, workgroup: 32 },
    // lavapipe's shape (8-wide subgroups): one subgroup per workgroup, loads broadcast, merged by
    // subgroup shuffle butterflies; fused (decode), the query heads of a kv group share a workgroup (2 of
    // 2 heads per kv head; with 12 heads over 2 kv heads, 3 per workgroup, 2 workgroups per kv head).
    ...(lavapipeShape
      ? [
          { name: 'plain, one 8-wide subgroup (broadcast loads, subgroup merge)', headDim: 32, rotaryDim: 32, window: 0, softcap: 0, workgroup: 8, broadcast: true },
          { name: '12 heads over 2 kv heads, one 8-wide subgroup', headDim: 32, rotaryDim: 32, window: 0, softcap: 0, workgroup: 8, broadcast: true, numHeads: 12 },
          { name: 'window 16, partial rotary 3/4, one 8-wide subgroup', headDim: 16, rotaryDim: 12, window: 16, softcap: 0, workgroup: 8, broadcast: true },
          { name: 'head_dim 10, soft-cap 5, one 8-wide subgroup', headDim: 10, rotaryDim: 10, window: 0, softcap: 5, workgroup: 8, broadcast: true },
          // The merge by subgroupAdd / subgroupMax instead of shuffle butterflies (attentionButterfly false).
          { name: 'window 16, partial rotary 3/4, one 8-wide subgroup, merged by subgroup reductions', headDim: 16, rotaryDim: 12, window: 16, softcap: 0, workgroup: 8, broadcast: true, butterfly: false },
          // Decode passes with head_dim a multiple of 32 and rotary_dim of 64: the lanes split the
          // dimensions (attention_dims.wgsl; other shapes run the cases above), 9 rows of
          // 5-70 positions (decode only: prefill passes run attention.wgsl as above).
          { name: '12 heads over 2 kv heads, head_dim 64, 9 rows, lanes over the dimensions', headDim: 64, rotaryDim: 64, window: 0, softcap: 0, workgroup: 8, broadcast: true, numHeads: 12, moreRows: true },
          { name: 'head_dim 128, partial rotary 1/2, window 20, soft-cap 5, 9 rows, lanes over the dimensions', headDim: 128, rotaryDim: 64, window: 20, softcap: 5, workgroup: 8, broadcast: true, moreRows: true },
        ]
      : []),
  ];
  for (const c of cases) for (const fused of 'moreRows' in c ? [true] : [false, true]) it(`matches the reference over many blocks: ${c.name}${fused ? ', RoPE and the KV store fused into attention' : ''}`, async () => {
    const h = harness();
    h.ctx.attentionWorkgroup = c.workgroup;
    h.ctx.attentionBroadcast = 'broadcast' in c && c.broadcast;
    h.ctx.attentionButterfly = !('butterfly' in c) || c.butterfly;
    const numHeads = ('numHeads' in c ? c.numHeads : undefined) ?? 4;
    const numKvHeads = 2;
    const { headDim, rotaryDim } = c;
    const hs = kvHeadStride(headDim);
    const scale = 0.7 / Math.sqrt(headDim);
    const many = 'moreRows' in c && c.moreRows;
    const numBlocks = many ? 24 : 12; // blocks 0..11 (and 12..23: two for each extra sequence)
    const layout: KvLayout = { numLayers: 1, numKvHeads, headDim, blockSize: 16 };
    const invFreq = ropeInvFreq({ rotaryDim, theta: 10000 });
    // The fused kernel runs decode passes: one row per sequence.
    const seqs = [
      { table: [7, 2, 9], cached: 40, rows: fused ? 1 : 3 },
      { table: [1, 11, 4, 0, 5], cached: 70, rows: 1 },
      ...(fused ? [{ table: [3, 6], cached: 16, rows: 1 }] : []),
      ...(many ? Array.from({ length: 6 }, (_, i) => ({ table: [12 + 2 * i, 13 + 2 * i], cached: 5 + 3 * i, rows: 1 })) : []),
    ];
    const qDim = numHeads * headDim;
    const kvDim = numKvHeads * headDim;
    const refCache = new Float32Array(numBlocks * 2 * 16 * kvDim);
    const gpuK = new Float32Array(numBlocks * 16 * numKvHeads * hs);
    const gpuV = new Float32Array(numBlocks * 16 * numKvHeads * hs);
    // Fill the cached positions directly (as earlier steps would have).
    seqs.forEach((s, si) => {
      const k = randomArray(s.cached * kvDim, 20 + si);
      const v = randomArray(s.cached * kvDim, 30 + si);
      const positions = Array.from({ length: s.cached }, (_, i) => i);
      kvWrite({ cache: refCache, layout, blockTable: s.table, layer: 0, k, v, positions, rows: s.cached });
      for (let pos = 0; pos < s.cached; pos++) {
        const block = s.table[Math.floor(pos / 16)];
        for (let hh = 0; hh < numKvHeads; hh++) {
          const dst = ((block * numKvHeads + hh) * 16 + (pos % 16)) * hs;
          gpuK.set(k.subarray(pos * kvDim + hh * headDim, pos * kvDim + (hh + 1) * headDim), dst);
          gpuV.set(v.subarray(pos * kvDim + hh * headDim, pos * kvDim + (hh + 1) * headDim), dst);
        }
      }
    });
    const rows = seqs.reduce((n, x) => n + x.rows, 0);
    const q = randomArray(rows * qDim, 40);
    const k = randomArray(rows * kvDim, 41);
    const v = randomArray(rows * kvDim, 42);
    const stride = matrixStride(qDim + 2 * kvDim);
    const qkv = new Float32Array(rows * stride); // [rows, stride]: q | k | v columns
    for (let r = 0; r < rows; r++) {
      qkv.set(q.subarray(r * qDim, (r + 1) * qDim), r * stride);
      qkv.set(k.subarray(r * kvDim, (r + 1) * kvDim), r * stride + qDim);
      qkv.set(v.subarray(r * kvDim, (r + 1) * kvDim), r * stride + qDim + kvDim);
    }
    const rowInfo: number[] = [];
    const bt: number[] = [];
    const positions: number[] = [];
    seqs.forEach((s) => {
      const off = bt.length;
      const first = positions.length;
      bt.push(...s.table);
      for (let i = 0; i < s.rows; i++) {
        rowInfo.push(0, s.cached + i, off, first, 0, 0, 0, 0);
        positions.push(s.cached + i);
      }
    });
    const half = rotaryDim / 2;
    const table = new Float32Array(80 * half * 2);
    for (let pos = 0; pos < 80; pos++)
      for (let i = 0; i < half; i++) {
        const a = Math.fround(pos * invFreq[i]);
        table[(pos * half + i) * 2] = Math.cos(a);
        table[(pos * half + i) * 2 + 1] = Math.sin(a);
      }
    const qkvBuf = h.buffer(qkv);
    const view = (offset: number, width: number) => ({ buffer: qkvBuf, stride, offset, width });
    const bufs = { rowInfo: h.buffer(new Uint32Array(rowInfo)), blockTables: h.buffer(new Uint32Array(bt)), ropeTable: h.buffer(table), kCache: h.buffer(gpuK), vCache: h.buffer(gpuV) };
    const outStride = matrixStride(qDim);
    const out = h.empty(rows * outStride);
    const heads = { numHeads, numKvHeads, headDim };
    const ropeOp = ropeKvOp(h.ctx, { ...heads, rotaryDim, maxPos: 80, ...bufs, q: view(0, qDim), k: view(qDim, kvDim), v: view(qDim + kvDim, kvDim) });
    const fusedParams = fused ? { k: view(qDim, kvDim), v: view(qDim + kvDim, kvDim), rotaryDim, ropeTable: bufs.ropeTable } : undefined;
    const attnOp = attentionOp(h.ctx, { ...heads, scale, window: c.window, softcap: c.softcap, rowInfo: bufs.rowInfo, blockTables: bufs.blockTables, q: view(0, qDim), kCache: bufs.kCache, vCache: bufs.vCache, out: wholeAct(out, qDim, outStride), fused: fusedParams });
    await h.run(rows, 0, (rec) => {
      if (!fused) ropeOp(rec, rows);
      attnOp(rec, rows);
    });
    // Reference: rope on q and k, write k/v per sequence, attention per sequence.
    const qr = rope({ x: q.slice(), positions, rows, numHeads, headDim, invFreq });
    const kr = rope({ x: k.slice(), positions, rows, numHeads: numKvHeads, headDim, invFreq });
    const want = new Float32Array(rows * qDim);
    let r0 = 0;
    seqs.forEach((s) => {
      const pos = positions.slice(r0, r0 + s.rows);
      kvWrite({ cache: refCache, layout, blockTable: s.table, layer: 0, k: kr.subarray(r0 * kvDim), v: v.subarray(r0 * kvDim), positions: pos, rows: s.rows });
      const o = attention({ q: qr.subarray(r0 * qDim), cache: refCache, layout, blockTable: s.table, layer: 0, positions: pos, rows: s.rows, numHeads, scale, window: c.window, softcap: c.softcap });
      want.set(o, r0 * qDim);
      r0 += s.rows;
    });
    if (!fused) expect(relError(unpadded(await h.read(qkvBuf, rows * stride), rows, qDim, stride), qr)).toBeLessThan(F32_TOL);
    expect(relError(unpadded(await h.read(out, rows * outStride), rows, qDim, outStride), want)).toBeLessThan(F32_TOL);
    // The new rows' rotated k and v are in the cache for later steps.
    const [kGot, vGot] = [await h.read(bufs.kCache, gpuK.length), await h.read(bufs.vCache, gpuV.length)];
    const seqOfRow = seqs.flatMap((s) => Array.from({ length: s.rows }, () => s));
    positions.forEach((pos, r) => {
      const s = seqOfRow[r];
      const block = s.table[Math.floor(pos / 16)];
      for (let hh = 0; hh < numKvHeads; hh++) {
        const at = ((block * numKvHeads + hh) * 16 + (pos % 16)) * hs;
        expect(relError(kGot.subarray(at, at + headDim), kr.subarray(r * kvDim + hh * headDim, r * kvDim + (hh + 1) * headDim))).toBeLessThan(F32_TOL);
        expect(Array.from(vGot.subarray(at, at + headDim))).toEqual(Array.from(v.subarray(r * kvDim + hh * headDim, r * kvDim + (hh + 1) * headDim)));
      }
    });
  });
});
