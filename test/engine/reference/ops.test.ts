import { describe, expect, it } from 'vitest';
import { attention, kvBlockFloats, kvOffset, kvWrite, logSoftmax, logSumExp, loraExpand, loraShrink, matmul, matvec, rmsnorm, rope, glu, embedding, type KvLayout } from '../../../src/engine/reference/ops.ts';
import { ropeInvFreq } from '../../../src/model/arch/rope.ts';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `index ${i}: ${a[i]} vs ${b[i]}`).toBeLessThan(tol);
};

describe('reference ops', () => {
  it('matmul / matvec: y = x W^T + b with W [out, in]', () => {
    const w = Float32Array.from([1, 2, 3, 4, 5, 6]); // [3, 2]
    close(matvec({ w, x: Float32Array.from([1, -1]), inFeatures: 2, outFeatures: 3, bias: Float32Array.from([0.5, 0, 1]) }), [-0.5, -1, 0]);
    close(matmul({ w, x: Float32Array.from([1, 0, 0, 2]), rows: 2, inFeatures: 2, outFeatures: 3 }), [1, 3, 5, 4, 8, 12]);
  });

  it('rmsnorm', () => {
    const inv = 1 / Math.sqrt(12.5 + 1e-5);
    close(rmsnorm({ x: Float32Array.from([3, 4, 0, 1]), weight: Float32Array.from([1, 2]), rows: 2, size: 2, eps: 1e-5 }), [3 * inv, 8 * inv, 0, 2 / Math.sqrt(0.5 + 1e-5)], 1e-6);
  });

  it('rope inverse frequencies, plain and llama3-scaled', () => {
    const plain = ropeInvFreq({ rotaryDim: 64, theta: 500000 });
    expect(plain[0]).toBe(1);
    expect(plain[10]).toBe(Math.fround(1 / Math.pow(500000, 20 / 64)));
    const scaling = { type: 'llama3' as const, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
    const scaled = ropeInvFreq({ rotaryDim: 64, theta: 500000, scaling });
    for (let i = 0; i < 32; i++) {
      const wavelen = (2 * Math.PI) / plain[i];
      if (wavelen < 8192 / 4) expect(scaled[i]).toBe(plain[i]); // high frequency: kept
      else if (wavelen > 8192) expect(scaled[i]).toBeCloseTo(plain[i] / 32, 12); // low frequency: divided by factor
      else {
        const smooth = (8192 / wavelen - 1) / 3;
        expect(scaled[i]).toBeCloseTo((1 - smooth) * (plain[i] / 32) + smooth * plain[i], 9);
      }
    }
    expect(scaled.filter((v, i) => v !== plain[i]).length).toBeGreaterThan(5);
  });

  it('partial rotary: only the first rotaryDim elements of each head rotate (Phi-3)', () => {
    const x = Float32Array.from([1, 0, 0, 0, 7, 8]); // [1 row, 1 head, 6], rotaryDim 4
    rope({ x, positions: [1], rows: 1, numHeads: 1, headDim: 6, invFreq: Float32Array.from([1, 0.01]) });
    close(x, [Math.cos(1), 0, Math.sin(1), 0, 7, 8]);
    expect(ropeInvFreq({ rotaryDim: 4, theta: 10000, scaling: { type: 'linear', factor: 4 } })[1]).toBeCloseTo(0.01 / 4, 9);
  });

  it('rope rotates pairs (i, i + headDim/2), preserves norms, is identity at position 0', () => {
    const invFreq = Float32Array.from([1, 0.01]);
    const x = Float32Array.from([1, 0, 0, 0, /* head 2 */ 0, 1, 0, 0]); // [1 row, 2 heads, 4]
    rope({ x, positions: [1], rows: 1, numHeads: 2, headDim: 4, invFreq });
    close(x, [Math.cos(1), 0, Math.sin(1), 0, 0, Math.cos(0.01), 0, Math.sin(0.01)]);
    const y = Float32Array.from([0.3, -1, 2, 0.5]);
    rope({ x: y, positions: [0], rows: 1, numHeads: 1, headDim: 4, invFreq });
    close(y, [0.3, -1, 2, 0.5]);
    rope({ x: y, positions: [1234], rows: 1, numHeads: 1, headDim: 4, invFreq });
    expect(Math.hypot(...y)).toBeCloseTo(Math.hypot(0.3, -1, 2, 0.5), 5);
  });

  it('paged attention: causal, grouped-query heads, blocks anywhere in the pool', () => {
    const layout: KvLayout = { numLayers: 2, numKvHeads: 2, headDim: 2, blockSize: 2 };
    const cache = new Float32Array(4 * kvBlockFloats(layout));
    const blockTable = [3, 1]; // positions 0-1 in block 3, 2-3 in block 1
    // kv head 0 values: position t → [t, 0]; kv head 1: [0, 10 t]. Keys zero: uniform weights.
    const k = new Float32Array(3 * 4);
    const v = Float32Array.from([0, 0, 0, 0, 1, 0, 0, 10, 2, 0, 0, 20]); // [3 rows, 2 kv heads, 2]
    kvWrite({ cache, layout, blockTable, layer: 1, k, v, positions: [0, 1, 2], rows: 3 });
    expect(kvOffset({ layout, blockTable, layer: 1, kv: 1, pos: 2 })).toBe(1 * kvBlockFloats(layout) + (3 * 2 + 0) * 4);
    const q = new Float32Array(3 * 4 * 2); // [3 rows, 4 heads, 2]
    const out = attention({ q, cache, layout, blockTable, layer: 1, positions: [0, 1, 2], rows: 3, numHeads: 4 });
    // Row r averages positions 0..r; heads 0,1 read kv head 0, heads 2,3 kv head 1.
    close(out, [0, 0, 0, 0, 0, 0, 0, 0, /* r1 */ 0.5, 0, 0.5, 0, 0, 5, 0, 5, /* r2 */ 1, 0, 1, 0, 0, 10, 0, 10]);
    // A query aligned with one key concentrates on it.
    const k2 = Float32Array.from([0, 0, 0, 0, 20, 0, 20, 0, 0, 0, 0, 0]);
    kvWrite({ cache, layout, blockTable, layer: 0, k: k2, v, positions: [0, 1, 2], rows: 3 });
    const q2 = Float32Array.from([1, 0, 1, 0, 1, 0, 1, 0]); // [1 row, 4 heads, 2]
    const o2 = attention({ q: q2, cache, layout, blockTable, layer: 0, positions: [2], rows: 1, numHeads: 4 });
    expect(o2[0]).toBeCloseTo(1, 4);
    expect(o2[5]).toBeCloseTo(10, 3);
  });

  it('sliding window, soft-capped scores and a custom scale (Gemma 2, Mistral)', () => {
    const layout: KvLayout = { numLayers: 1, numKvHeads: 1, headDim: 2, blockSize: 4 };
    const cache = new Float32Array(3 * kvBlockFloats(layout));
    const blockTable = [2, 0, 1];
    const positions = Array.from({ length: 10 }, (_, i) => i);
    const k = Float32Array.from(positions.flatMap((t) => [t % 3, 1])); // [10, 1, 2]
    const v = Float32Array.from(positions.flatMap((t) => [t, -t])); // value of position t: [t, -t]
    kvWrite({ cache, layout, blockTable, layer: 0, k, v, positions, rows: 10 });
    const q = Float32Array.from([0, 0]); // uniform weights over the attended positions
    // Window 4 at position 9: positions 6..9 (HF: kv > q - window), mean 7.5.
    close(attention({ q, cache, layout, blockTable, layer: 0, positions: [9], rows: 1, numHeads: 1, window: 4 }), [7.5, -7.5]);
    close(attention({ q, cache, layout, blockTable, layer: 0, positions: [2], rows: 1, numHeads: 1, window: 4 }), [1, -1]); // fewer than 4 positions yet
    // Scores s = q·k · scale, capped: cap · tanh(s / cap).
    const q2 = Float32Array.from([3, 0]);
    const scores = [6, 7, 8, 9].map((t) => 2 * Math.tanh(((t % 3) * 3 * 0.5) / 2));
    const w = scores.map((s) => Math.exp(s));
    const sum = w.reduce((a, b) => a + b, 0);
    const want = [6, 7, 8, 9].reduce((acc, t, i) => acc + (t * w[i]) / sum, 0);
    close(attention({ q: q2, cache, layout, blockTable, layer: 0, positions: [9], rows: 1, numHeads: 1, window: 4, scale: 0.5, softcap: 2 }), [want, -want], 1e-5);
  });

  it('glu (SiLU and tanh GELU), rmsnorm with (1 + w) added into y, embedding, log-softmax, LoRA shrink/expand', () => {
    close(glu({ act: 'silu', gate: Float32Array.from([1, -2, 0]), up: Float32Array.from([2, 1, 5]) }), [2 / (1 + Math.exp(-1)), -2 / (1 + Math.exp(2)), 0]);
    // HF gelu_pytorch_tanh at 1 and -2: 0.8411919906, -0.0454023059.
    close(glu({ act: 'gelu_tanh', gate: Float32Array.from([1, -2]), up: Float32Array.from([1, 2]) }), [0.8411919906, 2 * -0.0454023059], 1e-6);
    const inv = 1 / Math.sqrt(12.5 + 1e-5);
    close(rmsnorm({ x: Float32Array.from([3, 4]), weight: Float32Array.from([0, 1]), rows: 1, size: 2, eps: 1e-5, weightOffset: 1, add: true, out: Float32Array.from([1, 1]) }), [1 + 3 * inv, 1 + 8 * inv], 1e-6);
    close(embedding({ table: Float32Array.from([0, 1, 2, 3, 4, 5]), tokens: [2, 0], hiddenSize: 2 }), [4, 5, 0, 1]);
    close(embedding({ table: Float32Array.from([0, 1, 2, 3, 4, 5]), tokens: [1], hiddenSize: 2, scale: 1.5 }), [3, 4.5]);
    expect(() => embedding({ table: new Float32Array(6), tokens: [3], hiddenSize: 2 })).toThrow(RangeError);
    expect(logSumExp([0, Math.log(3)])).toBeCloseTo(Math.log(4), 12);
    const ls = logSoftmax({ logits: Float32Array.from([1, 2, 3, 1000]) });
    expect(ls[3]).toBeCloseTo(0, 6);
    expect([...logSoftmax({ logits: [1, 2, 3] })].reduce((s, x) => s + Math.exp(x), 0)).toBeCloseTo(1, 6);
    const x = Float32Array.from([1, 2, 3]); // [1, 3]
    const a = Float32Array.from([1, 0, 0, 0, 1, 1]); // [rank 2, in 3]
    const v = loraShrink({ x, a, rows: 1, inFeatures: 3, rank: 2 });
    close(v, [1, 5]);
    const y = Float32Array.from([10, 20]);
    loraExpand({ y, v, b: Float32Array.from([1, 1, 0, 2]), rows: 1, rank: 2, outFeatures: 2, scale: 0.5 });
    close(y, [13, 25]);
  });
});
