/**
 * scrypt (RFC 7914) for keystores whose parameters OpenSSL refuses: OpenSSL (node:crypto) requires
 * N < 2^(16 r), which rules out e.g. N = 2^18 with r = 1 (the Web3 Secret Storage test vector).
 * node:crypto is used whenever it accepts the parameters; this pure-JS ROMix is the fallback.
 */
import { pbkdf2Sync, scrypt as nodeScrypt } from 'node:crypto';

export interface ScryptOptions {
  N: number;
  r: number;
  p: number;
}

/** scrypt-derived key of `dklen` bytes. */
export async function scrypt(password: Buffer, salt: Buffer, dklen: number, { N, r, p }: ScryptOptions): Promise<Buffer> {
  const maxmem = 128 * N * r * 2 + 32 * 1024 * 1024;
  const fromNode = await new Promise<Buffer | undefined>((resolve, reject) => {
    try {
      nodeScrypt(password, salt, dklen, { N, r, p, maxmem }, (error, key) => (error ? reject(error) : resolve(key)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_CRYPTO_INVALID_SCRYPT_PARAMS') resolve(undefined);
      else reject(error);
    }
  });
  return fromNode ?? scryptJs(password, salt, dklen, { N, r, p });
}

/** Pure-JS scrypt (RFC 7914 section 6). Synchronous; seconds for N = 2^18. */
export function scryptJs(password: Buffer, salt: Buffer, dklen: number, { N, r, p }: ScryptOptions): Buffer {
  const blockWords = 32 * r; // 128 r bytes as uint32 words
  const B = pbkdf2Sync(password, salt, 1, p * 128 * r, 'sha256');
  const words = new Uint32Array(p * blockWords);
  for (let i = 0; i < words.length; i += 1) words[i] = B.readUInt32LE(i * 4);
  const V = new Uint32Array(N * blockWords);
  const X = new Uint32Array(blockWords);
  const Y = new Uint32Array(blockWords);
  const T = new Uint32Array(16);
  for (let block = 0; block < p; block += 1) {
    const offset = block * blockWords;
    X.set(words.subarray(offset, offset + blockWords));
    for (let i = 0; i < N; i += 1) {
      V.set(X, i * blockWords);
      blockMix(X, Y, T, r);
    }
    for (let i = 0; i < N; i += 1) {
      const j = X[(2 * r - 1) * 16] & (N - 1); // Integerify: first word of the last 64-byte chunk (N is a power of two)
      const base = j * blockWords;
      for (let k = 0; k < blockWords; k += 1) X[k] ^= V[base + k];
      blockMix(X, Y, T, r);
    }
    words.set(X, offset);
  }
  const out = Buffer.alloc(words.length * 4);
  for (let i = 0; i < words.length; i += 1) out.writeUInt32LE(words[i], i * 4);
  return pbkdf2Sync(password, out, 1, dklen, 'sha256');
}

/** scryptBlockMix in place on X (Y scratch): outputs even chunks then odd chunks. */
function blockMix(X: Uint32Array, Y: Uint32Array, T: Uint32Array, r: number): void {
  T.set(X.subarray((2 * r - 1) * 16, 2 * r * 16));
  for (let i = 0; i < 2 * r; i += 1) {
    for (let k = 0; k < 16; k += 1) T[k] ^= X[i * 16 + k];
    salsa20_8(T);
    // Even i to the first half, odd i to the second half.
    Y.set(T, ((i >> 1) + (i & 1) * r) * 16);
  }
  X.set(Y);
}

/** Salsa20/8 core, in place on 16 words. */
function salsa20_8(B: Uint32Array): void {
  let x0 = B[0], x1 = B[1], x2 = B[2], x3 = B[3], x4 = B[4], x5 = B[5], x6 = B[6], x7 = B[7];
  let x8 = B[8], x9 = B[9], x10 = B[10], x11 = B[11], x12 = B[12], x13 = B[13], x14 = B[14], x15 = B[15];
  const R = (a: number, b: number) => (a << b) | (a >>> (32 - b));
  for (let i = 0; i < 8; i += 2) {
    x4 ^= R((x0 + x12) | 0, 7); x8 ^= R((x4 + x0) | 0, 9); x12 ^= R((x8 + x4) | 0, 13); x0 ^= R((x12 + x8) | 0, 18);
    x9 ^= R((x5 + x1) | 0, 7); x13 ^= R((x9 + x5) | 0, 9); x1 ^= R((x13 + x9) | 0, 13); x5 ^= R((x1 + x13) | 0, 18);
    x14 ^= R((x10 + x6) | 0, 7); x2 ^= R((x14 + x10) | 0, 9); x6 ^= R((x2 + x14) | 0, 13); x10 ^= R((x6 + x2) | 0, 18);
    x3 ^= R((x15 + x11) | 0, 7); x7 ^= R((x3 + x15) | 0, 9); x11 ^= R((x7 + x3) | 0, 13); x15 ^= R((x11 + x7) | 0, 18);
    x1 ^= R((x0 + x3) | 0, 7); x2 ^= R((x1 + x0) | 0, 9); x3 ^= R((x2 + x1) | 0, 13); x0 ^= R((x3 + x2) | 0, 18);
    x6 ^= R((x5 + x4) | 0, 7); x7 ^= R((x6 + x5) | 0, 9); x4 ^= R((x7 + x6) | 0, 13); x5 ^= R((x4 + x7) | 0, 18);
    x11 ^= R((x10 + x9) | 0, 7); x8 ^= R((x11 + x10) | 0, 9); x9 ^= R((x8 + x11) | 0, 13); x10 ^= R((x9 + x8) | 0, 18);
    x12 ^= R((x15 + x14) | 0, 7); x13 ^= R((x12 + x15) | 0, 9); x14 ^= R((x13 + x12) | 0, 13); x15 ^= R((x14 + x13) | 0, 18);
  }
  B[0] += x0; B[1] += x1; B[2] += x2; B[3] += x3; B[4] += x4; B[5] += x5; B[6] += x6; B[7] += x7;
  B[8] += x8; B[9] += x9; B[10] += x10; B[11] += x11; B[12] += x12; B[13] += x13; B[14] += x14; B[15] += x15;
}
