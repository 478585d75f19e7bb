/**
 * An adapter packed once into the exact bytes a device slot holds (layout, padding, precision),
 * so a warm load is one memcpy into a staging buffer plus a few buffer-to-buffer copies, with no
 * per-tensor work on the request path. The layout is data ({@link LoraSlotImageLayout}, made by
 * the slot pool that owns it and sent to the loader thread); packing happens where the adapter
 * is parsed (the loader's worker thread), or in the pool for weights that come bare.
 *
 * Per fused projection g with members m (the pool's buffers `2g` = A and `2g + 1` = B), R4 the
 * pool's rank capacity, r4 the adapter's rank rounded up to 4, inPad = in rounded up to 8:
 *
 *   A (buffer 2g):     member m's A [r, in] as [r, inPad] (zero-padded) at element m · R4 · inPad of the slot
 *   B (buffer 2g + 1): member m's B [out, r] as [out, r4] (zero-padded) at element column(m) · r4 of the slot
 *
 * The image holds only those regions, back to back; regions contiguous on both sides are merged
 * into one copy.
 */
import type { LoraWeights } from '../engine/backend.ts';
import type { ModelConfig, Projection } from '../model/config.ts';
import { f32ArrayToHalfBits } from '../model/dtype.ts';
import { checkLoraWeights } from './checkWeights.ts';
import type { LoraDtype } from './dtype.ts';

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
  /** u32 words of a slot's info: word 0 = f32 bits of the scale, then one rank per (layer, module). */
  infoStride: number;
  /** Fused projections, in the pool's buffer order. */
  groups: Array<{ layer: number; inPad: number; members: LoraSlotImageMember[] }>;
}

/** An adapter packed for one layout. */
export interface LoraSlotImage {
  layoutKey: string;
  rank: number;
  /** The regions' bytes back to back. */
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
  const groups = p.groups.map((g) => ({
    layer: g.layer,
    inPad: g.inPad,
    members: g.members.map((m) => {
      const module = config.modules.find((x) => x.name === m.module)!;
      return { module: m.module, in: module.in, out: module.out, column: m.column, rankWord: loraInfoIndex(config, g.layer, m.module) };
    }),
  }));
  const shape = groups.map((g) => `${g.layer}:${g.inPad}:${g.members.map((m) => `${m.module}@${m.column}`).join('+')}`).join(',');
  return { numLayers: config.numLayers, key: `${dtype}/R${rank4}/max${maxRank}/${config.numLayers}x${config.modules.map((m) => `${m.name}[${m.out}x${m.in}]`).join('')}/${shape}`, dtype, maxRank, rank4, infoStride: 1 + config.numLayers * config.modules.length, groups };
}

/** Parameters of {@link packLoraSlotImage}. */
export interface PackLoraSlotImageParameters {
  config: ModelConfig;
  layout: LoraSlotImageLayout;
  weights: LoraWeights;
}

/** Packs checked `weights` into `layout` (f16 layouts round to f16 here, once). */
export function packLoraSlotImage(p: PackLoraSlotImageParameters): LoraSlotImage {
  const { config, layout, weights } = p;
  checkLoraWeights({ config, maxRank: layout.maxRank, weights, dtype: layout.dtype });
  const r = weights.rank;
  const r4 = Math.ceil(r / 4) * 4;
  const eb = layout.dtype === 'f16' ? 2 : 4;
  const info = new Uint32Array(layout.infoStride);
  new Float32Array(info.buffer, 0, 1)[0] = weights.scale;
  // Regions first (sizes), then one buffer, then the values.
  const regions: Array<{ buffer: number; dst: number; values: Float32Array; rows: number; cols: number; stride: number }> = [];
  layout.groups.forEach((g, gi) => {
    const present = g.members.flatMap((m, i) => {
      const t = weights.layers[g.layer][m.module];
      return t ? [{ m, i, t }] : [];
    });
    for (const { m, i, t } of present) regions.push({ buffer: 2 * gi, dst: i * layout.rank4 * g.inPad * eb, values: t.a, rows: r, cols: m.in, stride: g.inPad });
    for (const { m, t } of present) regions.push({ buffer: 2 * gi + 1, dst: m.column * r4 * eb, values: t.b, rows: m.out, cols: r, stride: r4 });
    for (const { m } of present) info[m.rankWord] = r;
  });
  let total = 0;
  for (const x of regions) total += x.rows * x.stride * eb;
  const bytes = new Uint8Array(total);
  const copies: number[] = [];
  let at = 0;
  for (const x of regions) {
    const count = x.rows * x.stride;
    if (layout.dtype === 'f32') {
      const out = new Float32Array(bytes.buffer, at, count);
      if (x.stride === x.cols) out.set(x.values);
      else for (let i = 0; i < x.rows; i++) out.set(x.values.subarray(i * x.cols, (i + 1) * x.cols), i * x.stride);
    } else {
      const out = new Uint16Array(bytes.buffer, at, count);
      if (x.stride === x.cols) f32ArrayToHalfBits(x.values, out, 'F16');
      else for (let i = 0; i < x.rows; i++) f32ArrayToHalfBits(x.values.subarray(i * x.cols, (i + 1) * x.cols), out.subarray(i * x.stride, i * x.stride + x.cols), 'F16');
    }
    const n = copies.length;
    // strides are multiples of 4 (r4) or 8 (inPad): every region is a whole number of 4-byte words
    if (n > 0 && copies[n - 4] === x.buffer && copies[n - 3] + copies[n - 1] === at && copies[n - 2] + copies[n - 1] === x.dst) copies[n - 1] += count * eb;
    else copies.push(x.buffer, at, x.dst, count * eb);
    at += count * eb;
  }
  return { layoutKey: layout.key, rank: r, bytes, copies: Uint32Array.from(copies), info };
}

/**
 * The image's weights as f32 views into its bytes when the layout adds no padding and no rounding
 * (f32, rank a multiple of 4, inputs multiples of 8): the host tier then keeps one copy, not two.
 * Undefined otherwise.
 */
export function loraSlotImageWeights(layout: LoraSlotImageLayout, image: LoraSlotImage, scale: number): LoraWeights | undefined {
  if (layout.dtype !== 'f32' || image.rank % 4 !== 0 || image.layoutKey !== layout.key) return undefined;
  if (layout.groups.some((g) => g.members.some((m) => m.in !== g.inPad))) return undefined;
  const r = image.rank;
  const layers: LoraWeights['layers'] = Array.from({ length: layout.numLayers }, () => ({}));
  let at = image.bytes.byteOffset; // the packing order: per group, the members' A, then their B
  for (const g of layout.groups) {
    const present = g.members.filter((m) => image.info[m.rankWord] !== 0);
    const a = present.map((m) => {
      const view = new Float32Array(image.bytes.buffer, at, r * m.in);
      at += view.byteLength;
      return view;
    });
    present.forEach((m, i) => {
      layers[g.layer][m.module] = { a: a[i], b: new Float32Array(image.bytes.buffer, at, m.out * r) };
      at += m.out * r * 4;
    });
  }
  return { rank: r, scale, layers };
}
