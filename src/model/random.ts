/**
 * Deterministic random numbers for generated models: a fast seeded stream per tensor, so a
 * tensor's values depend only on (seed, tensor name) and not on chunking or write order.
 */
import { pcgHash } from '../engine/sampling.ts';

/** A seeded stream of normal-ish values (mean 0, std 1, range ±3.46). */
export interface NormalStream {
  /** The next value. */
  next(): number;
  /** Fills `out[i] = offset + std * next()` for every element (fast path for large tensors). */
  fill(out: Float32Array, std: number, offset: number): Float32Array;
}

/** FNV-1a 32-bit hash of a string. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator) seeded from `(seed, stream name)`;
 * each draw sums four 16-bit uniforms (Irwin-Hall) and standardizes: close enough to a normal
 * for weight init, and cheap.
 */
export function normalStream(seed: number, name: string): NormalStream {
  let a = pcgHash(seed >>> 0) | 0;
  let b = pcgHash(a ^ fnv1a(name)) | 0;
  let c = pcgHash(b ^ 0x9e3779b9) | 0;
  let d = 1;
  const mean = 4 * 32767.5;
  const inv = 1 / Math.sqrt((4 * (65536 * 65536 - 1)) / 12);
  // One sfc32 step inlined in both loops below (same arithmetic): t = a + b + d; d += 1;
  // a = b ^ (b >>> 9); b = c + (c << 3); c = rotl(c, 21) + t.
  const fill = (out: Float32Array, std: number, offset: number): Float32Array => {
    const scale = std * inv;
    for (let i = 0; i < out.length; i++) {
      let t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (((c << 21) | (c >>> 11)) + t) | 0;
      const x = t >>> 0;
      t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (((c << 21) | (c >>> 11)) + t) | 0;
      const y = t >>> 0;
      out[i] = offset + ((x & 0xffff) + (x >>> 16) + (y & 0xffff) + (y >>> 16) - mean) * scale;
    }
    return out;
  };
  const one = new Float32Array(1);
  fill(new Float32Array(6), 1, 0); // discard the first 12 outputs (seeding warm-up)
  return { fill, next: () => fill(one, 1, 0)[0] };
}
