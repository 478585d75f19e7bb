/**
 * The load forms of `npm run bench:linear -- --probe` (scripts/bench/lib/loadProbe.ts): each way a
 * WGSL kernel can load a weight matrix's bytes (shaders/load_probe.wgsl defines), how many
 * invocations read them, and what each invocation reads, computed on the CPU (the probe's check).
 */
import type { ShaderDefines } from '../../../src/engine/webgpu/shaderSource.ts';
import { STRIDE_GROUPS } from '../../../src/engine/webgpu/roofline.ts';

/** How a probe form reads: `rows` one invocation per weight row (the batch-1 kernel), `stream` consecutive invocations on consecutive chunks (the roofline probe), `vertex` one vertex per 16 consecutive chunks. */
export type Pattern = 'rows' | 'stream' | 'vertex';

/** One way of loading the probe's bytes. */
export interface LoadForm {
  /** What its source is bound as. */
  source: 'buffer' | 'buffer64k' | 'uniform64k' | 'texture' | 'storageTexture' | 'vertexBuffer';
  pattern: Pattern;
  defines: ShaderDefines;
  /** Texels per 16-byte chunk (textures). */
  texelsPerChunk?: 1 | 2 | 4;
  /** Cache-resident: only the first 64 KiB is read, over and over. */
  resident?: boolean;
  /** Stream forms: workgroups (default the roofline probe's grid-stride {@link STRIDE_GROUPS}). */
  streamGroups?: number;
}

/** The forms, by the name the bench prints; the first is the batch-1 kernel's and every ratio is to it. */
export const LOAD_FORMS = {
  'buffer-rows': { source: 'buffer', pattern: 'rows', defines: { BUF: true } },
  'buffer-stream': { source: 'buffer', pattern: 'stream', defines: { BUF: true } },
  'buffer-stream-512': { source: 'buffer', pattern: 'stream', defines: { BUF: true }, streamGroups: 512 },
  'buffer-stream-128': { source: 'buffer', pattern: 'stream', defines: { BUF: true }, streamGroups: 128 },
  'buffer-rows-u32': { source: 'buffer', pattern: 'rows', defines: { BUFU32: true } },
  'buffer-rows-4x': { source: 'buffer', pattern: 'rows', defines: { BUF: true, ROWS4: true, ROWS4X: true } },
  'buffer-rows-4g': { source: 'buffer', pattern: 'rows', defines: { BUF: true, ROWS4: true } },
  'buffer-rows-pair': { source: 'buffer', pattern: 'rows', defines: { BUF: true, PAIR: true } },
  'rgba32uint-rows': { source: 'texture', pattern: 'rows', defines: { TEXTURE: true, TEX4: true }, texelsPerChunk: 1 },
  'rgba32uint-stream': { source: 'texture', pattern: 'stream', defines: { TEXTURE: true, TEX4: true }, texelsPerChunk: 1 },
  'rg32uint-rows': { source: 'texture', pattern: 'rows', defines: { TEXTURE: true, TEX2: true }, texelsPerChunk: 2 },
  'r32uint-rows': { source: 'texture', pattern: 'rows', defines: { TEXTURE: true, TEX1: true }, texelsPerChunk: 4 },
  'storage-texture-rows': { source: 'storageTexture', pattern: 'rows', defines: { TEXTURE: true, STEX4: true }, texelsPerChunk: 1 },
  'buffer-64k-rows': { source: 'buffer64k', pattern: 'rows', defines: { BUF64K: true }, resident: true },
  'uniform-64k-rows': { source: 'uniform64k', pattern: 'rows', defines: { UBO64K: true }, resident: true },
  'vertex-fetch': { source: 'vertexBuffer', pattern: 'vertex', defines: { VERTEX: true } },
} as const satisfies Record<string, LoadForm>;

/** A probe form's name. */
export type LoadFormName = keyof typeof LOAD_FORMS;

/** Bytes the resident forms read from (the largest uniform binding WebGPU guarantees). */
export const RESIDENT_BYTES = 65536;
/** Invocations per workgroup: the batch-1 kernel's on lavapipe (rows), the roofline probe's (stream). */
export const WORKGROUP = { rows: 64, stream: 256, vertex: 1 } as const satisfies Record<Pattern, number>;
/** 16-byte chunks per vertex of the vertex form (its 16 attributes). */
export const VERTEX_CHUNKS = 16;

/** The probe's default bytes: word i is a multiplicative hash of i. */
export function probeData(words: number): Uint32Array {
  const data = new Uint32Array(words);
  for (let i = 0; i < words; i++) data[i] = Math.imul(i + 1, 2654435761) >>> 0;
  return data;
}

/** Invocations a form's dispatch runs. */
export function invocations(form: LoadForm, rows: number, chunks: number): number {
  if (form.pattern === 'vertex') return Math.floor((rows * chunks) / VERTEX_CHUNKS);
  return groups(form, rows, chunks) * WORKGROUP[form.pattern];
}

/** Workgroups a form's dispatch runs. */
export function groups(form: LoadForm, rows: number, chunks: number): number {
  const wg = WORKGROUP[form.pattern];
  return form.pattern === 'rows' ? Math.ceil(rows / wg) : Math.min(form.streamGroups ?? STRIDE_GROUPS, Math.ceil((rows * chunks) / wg));
}

/** What each invocation of `form` XORs together, computed on the CPU (the probe's check); rows forms: the invocations of rows 0 .. rows - 1. */
export function expectedXor(name: LoadFormName, data: Uint32Array, rows: number, chunks: number): Uint32Array {
  const form: LoadForm = LOAD_FORMS[name];
  const n = invocations(form, rows, chunks);
  const out = new Uint32Array(form.pattern === 'rows' ? rows : n);
  const xorRange = (first: number, count: number) => {
    let x = 0;
    for (let c = first; c < first + count; c++) x ^= chunkXor(c);
    return x >>> 0;
  };
  const chunkXor = (i: number) => {
    const at = form.resident ? (i % (RESIDENT_BYTES / 16)) * 4 : i * 4;
    return data[at] ^ data[at + 1] ^ data[at + 2] ^ data[at + 3];
  };
  if (form.pattern === 'rows') {
    for (let row = 0; row < rows; row++) out[row] = xorRange(row * chunks, chunks);
  } else if (form.pattern === 'vertex') {
    for (let v = 0; v < n; v++) out[v] = xorRange(v * VERTEX_CHUNKS, VERTEX_CHUNKS);
  } else {
    for (let g = 0; g < n; g++) {
      let s = 0;
      for (let i = g; i < rows * chunks; i += n) s ^= chunkXor(i);
      out[g] = s >>> 0;
    }
  }
  return out;
}
