/**
 * An adapter packed once into the exact bytes a device slot holds (layout, padding, precision),
 * so a warm load is one memcpy into a staging buffer plus a few buffer-to-buffer copies, with no
 * per-tensor work on the request path. The layout is data ({@link LoraSlotImageLayout}, made by
 * the slot pool that owns it and sent to the loader thread); packing happens where the adapter
 * is parsed (the loader's worker thread), or in the pool for weights that come bare.
 *
 * Per fused projection g with members m (the pool's buffers `2g` = A and `2g + 1` = B), R4 the
 * pool's rank capacity, r4 the adapter's rank rounded up to 4, rb its rank rounded up to the
 * layout's `bAlign` (4, or 8 for f16 slots whose expand loads B 8 halves at a time), inPad = in
 * rounded up to 8:
 *
 *   A (buffer 2g):     member m's A [r, in] as [r4, inPad] (zero-padded) at element m · r4 · inPad of the slot
 *   B (buffer 2g + 1): member m's B [out, r] as [out, rb] (zero-padded) at element column(m) · rb of the slot
 *
 * The image holds only those regions, back to back; regions contiguous on both sides are merged
 * into one copy. Members sit compact at the adapter's r4 on both sides (not at the capacity R4), so
 * a fused projection whose members are all targeted is 2 copies (A, B) at any rank: 8 per Llama
 * layer. Rows of a slot past the adapter's rank keep what an earlier adapter left there; the
 * kernels never read them (the shrink stops at each member's rank, and B's padding to rb is in the
 * image, zeros).
 */
import type { LoraWeights } from '../engine/backend.ts';
import type { ModelConfig, Projection } from '../model/config.ts';
import { bytesToF32Into, DTYPE_BYTES, f32ArrayToHalfBits, type SafetensorsDtype } from '../model/dtype.ts';
import { checkLoraRankAndScale, checkLoraWeights } from './checkWeights.ts';
import { LoraSlotLayoutError } from './errors.ts';
import { checkFactorDtypeRange, type LoraDtype } from './dtype.ts';

/** One member of a fused projection in the layout. */
export interface LoraSlotImageMember {
  module: Projection;
  in: number;
  out: number;
  /** First output column of the member in the fused projection. */
  column: number;
  /** Word of the member's rank in a slot's info. */
  rankWord: number;
}

/** A slot's layout (plain data: it crosses to the loader thread). */
export interface LoraSlotImageLayout {
  /** Identity of the layout: an image packed for another key is repacked. */
  key: string;
  dtype: LoraDtype;
  /** Largest rank a slot holds. */
  maxRank: number;
  numLayers: number;
  /** Rank capacity per member: maxRank rounded up to 4. */
  rank4: number;
  /** B's rank rounding: 4, or 8 (f16 slots whose expand loads 8 halves of a B row at once). */
  bAlign: LoraBAlign;
  /** B's rank capacity per column: maxRank rounded up to `bAlign`. */
  rankB: number;
  /** u32 words of a slot's info: word 0 = f32 bits of the scale, then one rank per (layer, module). */
  infoStride: number;
  /** Fused projections, in the pool's buffer order. */
  groups: Array<{ layer: number; inPad: number; members: LoraSlotImageMember[] }>;
}

/** What B's rank is rounded up to in a slot (see {@link LoraSlotImageLayout.bAlign}). */
export type LoraBAlign = 4 | 8;

/** An adapter packed for one layout. */
export interface LoraSlotImage {
  layoutKey: string;
  rank: number;
  /**
   * The regions' bytes back to back. A loader thread packs them in a SharedArrayBuffer: posted to
   * the main thread, V8 does not count it as external memory there, which each image received in
   * an ArrayBuffer was (9.3 MiB for a rank-16 bench-135m adapter), so every ~7 cold loads ran a
   * full mark-compact for images the host cache keeps alive (docs/engine.md, "Adapter switch tails").
   */
  bytes: Uint8Array;
  /** `// [copies, 4]`: buffer index (2g = A, 2g + 1 = B), byte in `bytes`, byte in the slot's part of the buffer, byte count (all multiples of 4). */
  copies: Uint32Array;
  /** The slot's info words (scale, ranks). */
  info: Uint32Array;
}

/** Parameters of {@link createLoraSlotImageLayout}. */
export interface CreateLoraSlotImageLayoutParameters {
  config: ModelConfig;
  dtype: LoraDtype;
  maxRank: number;
  /** B's rank rounding (default 4). */
  bAlign?: LoraBAlign;
  /** Fused projections, each with its input size padded and its members. */
  groups: Array<{ layer: number; inPad: number; members: Array<{ module: Projection; column: number }> }>;
}

/** Word of a slot's info holding the rank of (layer, module). */
export function loraInfoIndex(config: ModelConfig, layer: number, projection: string): number {
  return 1 + layer * config.modules.length + config.modules.findIndex((m) => m.name === projection);
}

/** The layout of a pool's slot. */
export function createLoraSlotImageLayout(p: CreateLoraSlotImageLayoutParameters): LoraSlotImageLayout {
  const { config, dtype, maxRank } = p;
  const rank4 = Math.ceil(maxRank / 4) * 4;
  const bAlign = p.bAlign ?? 4;
  const rankB = Math.ceil(maxRank / bAlign) * bAlign;
  const groups = p.groups.map((g) => ({
    layer: g.layer,
    inPad: g.inPad,
    members: g.members.map((m) => {
      const module = config.modules.find((x) => x.name === m.module)!;
      return { module: m.module, in: module.in, out: module.out, column: m.column, rankWord: loraInfoIndex(config, g.layer, m.module) };
    }),
  }));
  const shape = groups.map((g) => `${g.layer}:${g.inPad}:${g.members.map((m) => `${m.module}@${m.column}`).join('+')}`).join(',');
  return { numLayers: config.numLayers, key: `${dtype}/R${rank4}/B${bAlign}/max${maxRank}/${config.numLayers}x${config.modules.map((m) => `${m.name}[${m.out}x${m.in}]`).join('')}/${shape}`, dtype, maxRank, rank4, bAlign, rankB, infoStride: 1 + config.numLayers * config.modules.length, groups };
}

/** Parameters of {@link packLoraSlotImage}. */
export interface PackLoraSlotImageParameters {
  config: ModelConfig;
  layout: LoraSlotImageLayout;
  weights: LoraWeights;
  /** Put the image's bytes in a SharedArrayBuffer (see {@link LoraSlotImage.bytes}); default false. */
  shared?: boolean;
}

/** Packs checked `weights` into `layout` (f16 layouts round to f16 here, once). */
export function packLoraSlotImage(p: PackLoraSlotImageParameters): LoraSlotImage {
  const { config, layout, weights } = p;
  checkLoraWeights({ config, maxRank: layout.maxRank, weights, dtype: layout.dtype });
  return packLoraFactors({ layout, rank: weights.rank, scale: weights.scale, factors: (layer, module) => weights.layers[layer][module], shared: p.shared });
}

/**
 * A factor's values, row-major: f32, or a file's tensor as it is stored (little-endian F32, F16 or
 * BF16 bytes), converted straight into the image: no f32 array of its own, and F16 bytes into an
 * f16 image are copied, no conversion at all.
 */
export type LoraFactorSource = Float32Array | { bytes: Uint8Array; dtype: SafetensorsDtype };

/** Parameters of {@link packLoraFactors}. */
export interface PackLoraFactorsParameters {
  layout: LoraSlotImageLayout;
  rank: number;
  scale: number;
  /** A (layer, module)'s A [rank, in] and B [out, rank], shapes already checked; undefined when untargeted. */
  factors: (layer: number, module: Projection) => { a: LoraFactorSource; b: LoraFactorSource } | undefined;
  /** Put the image's bytes in a SharedArrayBuffer (see {@link LoraSlotImage.bytes}); default false. */
  shared?: boolean;
}

/**
 * Packs factors into `layout`. A file's tensor is converted where it lands (the loader thread packs
 * a file straight into the image); one converted to f16 from f32 or bf16 values is checked against
 * f16's range first (f32 arrays were, by {@link packLoraSlotImage}'s `checkLoraWeights`).
 */
export function packLoraFactors(p: PackLoraFactorsParameters): LoraSlotImage {
  const { layout, rank: r, scale } = p;
  checkLoraRankAndScale(r, scale, layout.maxRank);
  const { r4, rb, eb } = imageGeometry(layout, r);
  const info = new Uint32Array(layout.infoStride);
  new Float32Array(info.buffer, 0, 1)[0] = scale;
  // Regions first (sizes), then one buffer, then the values. `pad` zero rows follow A's r rows up
  // to r4, so the members' A regions meet and merge.
  const regions: Array<{ name: string; buffer: number; dst: number; values: LoraFactorSource; rows: number; pad: number; cols: number; stride: number }> = [];
  layout.groups.forEach((g, gi) => {
    const present = g.members.flatMap((m, i) => {
      const t = p.factors(g.layer, m.module);
      return t ? [{ m, i, t }] : [];
    });
    const name = (m: LoraSlotImageMember, factor: string) => `layers.${g.layer}.${m.module}.lora_${factor}`;
    for (const { m, i, t } of present) regions.push({ name: name(m, 'A'), buffer: 2 * gi, dst: i * r4 * g.inPad * eb, values: t.a, rows: r, pad: r4 - r, cols: m.in, stride: g.inPad });
    for (const { m, t } of present) regions.push({ name: name(m, 'B'), buffer: 2 * gi + 1, dst: m.column * rb * eb, values: t.b, rows: m.out, pad: 0, cols: r, stride: rb });
    for (const { m } of present) info[m.rankWord] = r;
  });
  let total = 0;
  for (const x of regions) total += (x.rows + x.pad) * x.stride * eb;
  const bytes = new Uint8Array(p.shared ? new SharedArrayBuffer(total) : new ArrayBuffer(total));
  const copies: number[] = [];
  let at = 0;
  for (const x of regions) {
    const count = (x.rows + x.pad) * x.stride;
    writeRegion(layout.dtype, x, new Uint8Array(bytes.buffer, at, count * eb));
    const c = copies.length;
    // strides are multiples of 4 (r4, rb) or 8 (inPad): every region is a whole number of 4-byte words
    if (c > 0 && copies[c - 4] === x.buffer && copies[c - 3] + copies[c - 1] === at && copies[c - 2] + copies[c - 1] === x.dst) copies[c - 1] += count * eb;
    else copies.push(x.buffer, at, x.dst, count * eb);
    at += count * eb;
  }
  return { layoutKey: layout.key, rank: r, bytes, copies: Uint32Array.from(copies), info };
}

/** Bytes of the image of a rank-`rank` adapter that targets every module of `layout` (the largest image of that rank). */
export function loraSlotImageBytes(layout: LoraSlotImageLayout, rank: number): number {
  const { r4, rb, eb } = imageGeometry(layout, rank);
  return layout.groups.reduce((n, g) => n + g.members.length * r4 * g.inPad * eb + g.members.reduce((o, m) => o + m.out, 0) * rb * eb, 0);
}

/** An adapter of rank `r` in `layout`: A's rows (r rounded to 4), B's row stride (r rounded to `bAlign`), bytes per element. */
function imageGeometry(layout: LoraSlotImageLayout, r: number): { r4: number; rb: number; eb: number } {
  return { r4: Math.ceil(r / 4) * 4, rb: Math.ceil(r / layout.bAlign) * layout.bAlign, eb: layout.dtype === 'f16' ? 2 : 4 };
}

/** Writes a region's `rows` rows of `cols` values at `stride` into `out` (already zeros: the padding stays). */
function writeRegion(dtype: LoraDtype, x: { name: string; values: LoraFactorSource; rows: number; cols: number; stride: number }, out: Uint8Array): void {
  const { values, rows, cols, stride } = x;
  const n = rows * cols;
  const row = (i: number, eb: number) => out.subarray(i * stride * eb, (i * stride + cols) * eb);
  if (!(values instanceof Float32Array) && dtype === 'f16' && values.dtype === 'F16') {
    if (stride === cols) out.set(values.bytes);
    else for (let i = 0; i < rows; i++) row(i, 2).set(values.bytes.subarray(i * cols * 2, (i + 1) * cols * 2));
    return;
  }
  if (dtype === 'f32') {
    const f32 = (bytes: Uint8Array) => new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    if (values instanceof Float32Array) {
      if (stride === cols) f32(out).set(values);
      else for (let i = 0; i < rows; i++) f32(row(i, 4)).set(values.subarray(i * cols, (i + 1) * cols));
    } else {
      const sb = DTYPE_BYTES[values.dtype];
      if (stride === cols) bytesToF32Into(values.bytes, values.dtype, f32(out));
      else for (let i = 0; i < rows; i++) bytesToF32Into(values.bytes.subarray(i * cols * sb, (i + 1) * cols * sb), values.dtype, f32(row(i, 4)));
    }
    return;
  }
  let f32Values: Float32Array;
  if (values instanceof Float32Array) f32Values = values;
  else {
    f32Values = bytesToF32Into(values.bytes, values.dtype, new Float32Array(n));
    checkFactorDtypeRange(f32Values, x.name, dtype);
  }
  const halves = (bytes: Uint8Array) => new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  if (stride === cols) f32ArrayToHalfBits(f32Values, halves(out), 'F16');
  else for (let i = 0; i < rows; i++) f32ArrayToHalfBits(f32Values.subarray(i * cols, (i + 1) * cols), halves(row(i, 2)), 'F16');
}

/** Whether an image of rank `rank` in `layout` holds the f32 weights as they are (no padding, no rounding): {@link loraSlotImageWeights} gives views. */
export function loraSlotImageHoldsWeights(layout: LoraSlotImageLayout, rank: number): boolean {
  return layout.dtype === 'f32' && rank % layout.bAlign === 0 && layout.groups.every((g) => g.members.every((m) => m.in === g.inPad));
}

/**
 * The image's weights as f32 views into its bytes when the layout adds no padding and no rounding
 * (f32, rank a multiple of 4, inputs multiples of 8): the host tier then keeps one copy, not two.
 * Undefined otherwise.
 */
export function loraSlotImageWeights(layout: LoraSlotImageLayout, image: LoraSlotImage, scale: number): LoraWeights | undefined {
  if (!loraSlotImageHoldsWeights(layout, image.rank) || image.layoutKey !== layout.key) return undefined;
  return imageFactors(layout, image, scale, (at, rows, cols) => new Float32Array(image.bytes.buffer, image.bytes.byteOffset + at, rows * cols));
}

/**
 * The weights an image holds, decoded to f32 (the values the device computes with: an f16 image's
 * are the f16-rounded ones every backend uses), for the users of an adapter whose only copy is its
 * image ({@link loraSlotImageLazyWeights}).
 */
export function loraSlotImageDecodedWeights(layout: LoraSlotImageLayout, image: LoraSlotImage, scale: number): LoraWeights {
  if (image.layoutKey !== layout.key) throw new LoraSlotLayoutError(`the adapter image was packed for layout ${image.layoutKey}, not ${layout.key}`);
  const { eb } = imageGeometry(layout, image.rank);
  return imageFactors(layout, image, scale, (at, rows, cols, stride) => {
    const out = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) bytesToF32Into(image.bytes.subarray(at + i * stride * eb, at + (i * stride + cols) * eb), eb === 2 ? 'F16' : 'F32', out.subarray(i * cols, (i + 1) * cols));
    return out;
  });
}

/**
 * Weights decoded from an image on first use ({@link loraSlotImageLazyWeights}): they add host
 * bytes only then, so whoever charges for them (the host cache) is told.
 */
export interface LoraLazyWeights extends LoraWeights {
  /** Bytes of the decoded f32 arrays: 0 until something reads `layers`. */
  readonly decodedBytes: number;
  /** Called once, with {@link LoraLazyWeights.decodedBytes}, when `layers` is first read (one listener: set it, or clear it with undefined). */
  onDecoded: ((bytes: number) => void) | undefined;
}

/** True for weights made by {@link loraSlotImageLazyWeights}. */
export function isLoraLazyWeights(weights: LoraWeights): weights is LoraLazyWeights {
  return 'decodedBytes' in weights;
}

/** {@link LoraWeights} whose `layers` are decoded from the image on first use ({@link loraSlotImageDecodedWeights}), then kept; `onDecoded` is told their bytes then. */
export function loraSlotImageLazyWeights(layout: LoraSlotImageLayout, image: LoraSlotImage, scale: number): LoraLazyWeights {
  let layers: LoraWeights['layers'] | undefined;
  let decodedBytes = 0;
  const weights: LoraLazyWeights = {
    rank: image.rank,
    scale,
    onDecoded: undefined,
    get decodedBytes() {
      return decodedBytes;
    },
    get layers() {
      if (!layers) {
        layers = loraSlotImageDecodedWeights(layout, image, scale).layers;
        for (const l of layers) for (const t of Object.values(l)) decodedBytes += t!.a.byteLength + t!.b.byteLength;
        weights.onDecoded?.(decodedBytes);
      }
      return layers;
    },
  };
  return weights;
}

/** Walks the image's regions in their packing order (per group, the present members' A, then their B), `read` giving each factor from its byte in `image.bytes`, rows, columns and row stride. */
function imageFactors(layout: LoraSlotImageLayout, image: LoraSlotImage, scale: number, read: (at: number, rows: number, cols: number, stride: number) => Float32Array): LoraWeights {
  const r = image.rank;
  const { r4, rb, eb } = imageGeometry(layout, r);
  const layers: LoraWeights['layers'] = Array.from({ length: layout.numLayers }, () => ({}));
  let at = 0;
  for (const g of layout.groups) {
    const present = g.members.filter((m) => image.info[m.rankWord] !== 0);
    const a = present.map((m) => {
      const values = read(at, r, m.in, g.inPad);
      at += r4 * g.inPad * eb;
      return values;
    });
    present.forEach((m, i) => {
      layers[g.layer][m.module] = { a: a[i], b: read(at, m.out, r, rb) };
      at += m.out * rb * eb;
    });
  }
  return { rank: r, scale, layers };
}
