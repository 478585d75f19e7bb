/**
 * The CPU backend's WebAssembly kernels one by one against the reference, on random shapes
 * including odd sizes (rows not a multiple of the 4-row tiles, features not a multiple of the
 * 4/8-wide SIMD steps), with bias, accumulation, scale and soft-cap, split over 1 to 3 "threads"
 * (shares of the job run in turn). Tolerance: max abs error / max |reference| < 1e-5 (f32 and f16
 * weights against the reference on the same f16-rounded values; Q8_0/Q4_0 against llama.cpp's
 * activation-quantized dot product, `src/model/quant/dot.ts`). Attention (windows, soft-cap,
 * grouped heads, head_dim 10) runs in every whole-model test (forward.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { instantiateKernels, kernelModule } from '../../../src/engine/cpu/kernels.ts';
import { createCpuMemory } from '../../../src/engine/cpu/memory.ts';
import { KIND } from '../../../src/engine/cpu/weights.ts';
import { packF16Tiles, packQuantTiles } from '../../../src/engine/cpu/pack.ts';
import { glu, matmul, rmsnorm, rope, softcap } from '../../../src/engine/reference/ops.ts';
import { f16BitsToF32, f32ArrayToHalfBits } from '../../../src/model/dtype.ts';
import { dotQ8, quantizeActivationsQ8 } from '../../../src/model/quant/dot.ts';
import { dequantize, quantize } from '../../../src/model/quant/index.ts';
import { normalStream } from '../../../src/model/random.ts';
import { relError } from '../webgpu/harness.ts';

const TOL = 1e-5;
const mem = createCpuMemory();
const k = instantiateKernels(kernelModule(), mem.memory);

function put(data: ArrayBufferView): number {
  const ptr = mem.alloc(data.byteLength);
  mem.u8().set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), ptr);
  return ptr;
}
const read = (ptr: number, n: number) => new Float32Array(mem.memory.buffer, ptr, n).slice();
const rand = (name: string, n: number, std = 1) => normalStream(3, name).fill(new Float32Array(n), std, 0);
/** Runs one matmul task through `matmulJob`, its outputs shared among `threads` shares. */
function runTask(t: { kind: number; x: number; xStride: number; w: number; y: number; yStride: number; rows: number; in: number; out: number; bias: number; acc: boolean; scale: number; xd: number; cap: number }, threads: number): void {
  const job = mem.alloc(16 + 64);
  const i32 = mem.i32();
  const f32 = mem.f32();
  i32[job / 4] = 1;
  const o = job / 4 + 4;
  [t.kind, t.x, t.xStride, t.w, t.y, t.yStride, t.rows, t.in, t.out, t.bias, t.acc ? 1 : 0].forEach((v, i) => (i32[o + i] = v));
  f32[o + 11] = t.scale;
  i32[o + 12] = t.xd;
  f32[o + 13] = t.cap;
  for (let tid = 0; tid < threads; tid++) k.matmulJob(job, tid, threads);
}

const SHAPES = [
  { rows: 1, in: 64, out: 13 },
  { rows: 3, in: 37, out: 9 },
  { rows: 5, in: 130, out: 22 },
  { rows: 9, in: 96, out: 7 },
  { rows: 6, in: 45, out: 16 },
  { rows: 13, in: 37, out: 22 },
];

describe('matmul kernel', () => {
  for (const kind of ['f32', 'f16'] as const) {
    for (const s of SHAPES) {
      it(`${kind} weights, ${s.rows} × ${s.in} → ${s.out}, x stride ${s.in + 3}, bias, accumulate, scale 0.5, soft-cap`, () => {
        const name = `${kind}-${s.rows}-${s.in}-${s.out}`;
        const xs = s.in + 3;
        const x = rand(`x${name}`, s.rows * xs);
        let w = rand(`w${name}`, s.out * s.in, 0.3);
        const bias = rand(`b${name}`, s.out);
        const y0 = rand(`y${name}`, s.rows * s.out);
        let wPtr: number;
        if (kind === 'f16') {
          const bits = f32ArrayToHalfBits(w, new Uint16Array(w.length), 'F16');
          w = Float32Array.from(bits, f16BitsToF32);
          wPtr = put(packF16Tiles(bits, s.out, s.in));
        } else wPtr = put(w);
        const dense = new Float32Array(s.rows * s.in);
        for (let r = 0; r < s.rows; r++) dense.set(x.subarray(r * xs, r * xs + s.in), r * s.in);
        const ref = matmul({ x: dense, w, rows: s.rows, inFeatures: s.in, outFeatures: s.out });
        for (let i = 0; i < ref.length; i++) ref[i] = y0[i] + softcap(0.5 * ref[i] + bias[i % s.out], 3);
        for (const threads of [1, 3]) {
          const xPtr = put(x);
          const y = put(y0);
          let input = { x: xPtr, xStride: xs };
          if (kind === 'f16') {
            const pre = mem.alloc(s.rows * s.in * 4);
            k.prescale(xPtr, xs, s.rows, s.in, pre);
            input = { x: pre, xStride: s.in };
          }
          runTask({ kind: KIND[kind], ...input, w: wPtr, y, yStride: s.out, rows: s.rows, in: s.in, out: s.out, bias: put(bias), acc: true, scale: 0.5, xd: 0, cap: 3 }, threads);
          expect(relError(read(y, ref.length), ref), `${threads} threads`).toBeLessThan(TOL);
        }
      });
    }
  }
  for (const type of ['q8_0', 'q4_0'] as const) {
    for (const s of [{ rows: 1, in: 64, out: 13 }, { rows: 6, in: 96, out: 10 }, { rows: 4, in: 32, out: 5 }, { rows: 3, in: 160, out: 8 }, { rows: 11, in: 128, out: 21 }]) {
      it(`${type} weights against Q8_0 activations (llama.cpp's vec_dot), ${s.rows} × ${s.in} → ${s.out}`, () => {
        const name = `${type}-${s.rows}-${s.in}`;
        const x = rand(`x${name}`, s.rows * s.in);
        const blocks = quantize({ values: rand(`w${name}`, s.out * s.in, 0.3), type });
        const rowBytes = blocks.byteLength / s.out;
        const ref = new Float32Array(s.rows * s.out);
        for (let r = 0; r < s.rows; r++) {
          const qx = quantizeActivationsQ8(x.subarray(r * s.in, (r + 1) * s.in));
          for (let o = 0; o < s.out; o++) ref[r * s.out + o] = dotQ8(type, blocks.subarray(o * rowBytes, (o + 1) * rowBytes), qx);
        }
        const xq = mem.alloc(s.rows * s.in);
        const xd = mem.alloc(s.rows * (s.in / 32) * 8);
        k.quantizeRows(put(x), s.in, s.rows, s.in, xq, xd);
        const w = put(packQuantTiles(blocks, type, s.out, s.in));
        for (const threads of [1, 2, 3]) {
          const y = put(new Float32Array(ref.length));
          runTask({ kind: KIND[type], x: xq, xStride: s.in, w, y, yStride: s.out, rows: s.rows, in: s.in, out: s.out, bias: 0, acc: false, scale: 1, xd, cap: 0 }, threads);
          expect(relError(read(y, ref.length), ref), `${threads} threads`).toBeLessThan(TOL);
        }
      });
    }
  }
});

describe('row kernels', () => {
  it('rmsnorm with gain offset and add, odd width, strided rows', () => {
    const [rows, n, xs] = [3, 37, 41];
    const x = rand('nx', rows * xs);
    const w = rand('nw', n, 0.1);
    const y0 = rand('ny', rows * n);
    const dense = new Float32Array(rows * n);
    for (let r = 0; r < rows; r++) dense.set(x.subarray(r * xs, r * xs + n), r * n);
    const ref = rmsnorm({ x: dense, weight: w, rows, size: n, eps: 1e-6, weightOffset: 1, add: true, out: y0.slice() });
    const y = put(y0);
    k.rmsnorm(put(x), xs, put(w), y, n, rows, n, 1e-6, 1, 1);
    expect(relError(read(y, rows * n), ref)).toBeLessThan(TOL);
  });
  it('rope over a partial rotary dimension (head_dim 10, 6 rotated), tail copied', () => {
    const [rows, heads, hd, half] = [3, 2, 10, 3];
    const x = rand('rx', rows * heads * hd);
    const invFreq = Float32Array.from({ length: half }, (_, i) => 1 / Math.pow(10000, (2 * i) / (2 * half)));
    const positions = [0, 5, 17];
    const cs = new Float32Array(rows * half * 2);
    positions.forEach((p, r) => {
      for (let i = 0; i < half; i++) {
        const a = Math.fround(p * invFreq[i]);
        cs[(r * half + i) * 2] = Math.cos(a);
        cs[(r * half + i) * 2 + 1] = Math.sin(a);
      }
    });
    const ref = rope({ x: x.slice(), positions, rows, numHeads: heads, headDim: hd, invFreq });
    const y = mem.alloc(x.byteLength);
    k.rope(put(x), heads * hd, y, heads * hd, rows, heads, hd, half, put(cs));
    expect(relError(read(y, x.length), ref)).toBeLessThan(TOL);
  });
  for (const act of ['silu', 'gelu_tanh'] as const) {
    it(`glu ${act}, odd width`, () => {
      const [rows, n] = [2, 23];
      const g = rand(`g${act}`, rows * n, 2);
      const u = rand(`u${act}`, rows * n);
      const ref = glu({ gate: g.slice(), up: u, act });
      const gp = put(g);
      k.glu(gp, n, put(u), n, rows, n, act === 'silu' ? 0 : 1);
      expect(relError(read(gp, rows * n), ref)).toBeLessThan(TOL);
    });
  }
  it('embedding gather from f16, Q8_0 and Q4_0 tables, scaled', () => {
    const [vocab, cols] = [5, 64];
    const table = rand('emb', vocab * cols);
    const tokens = put(Int32Array.from([3, 0, 4]));
    for (const [kind, data, values] of [
      [KIND.f16, packF16Tiles(f32ArrayToHalfBits(table, new Uint16Array(table.length), 'F16'), vocab, cols), null],
      [KIND.q8_0, quantize({ values: table, type: 'q8_0' }), 'q8_0'],
      [KIND.q4_0, quantize({ values: table, type: 'q4_0' }), 'q4_0'],
    ] as const) {
      const y = mem.alloc(3 * cols * 4);
      k.embed(put(values === null ? data : packQuantTiles(data as Uint8Array, values, vocab, cols)), kind, cols, vocab, tokens, 3, y, cols, 2);
      const dense = values === null ? Float32Array.from(f32ArrayToHalfBits(table, new Uint16Array(table.length), 'F16'), f16BitsToF32) : dequantize({ data: data as Uint8Array, type: values });
      const ref = new Float32Array(3 * cols);
      [3, 0, 4].forEach((t, r) => {
        for (let i = 0; i < cols; i++) ref[r * cols + i] = dense[t * cols + i] * 2;
      });
      expect(read(y, ref.length)).toEqual(ref);
    }
  });
});
