/**
 * The WebGPU {@link LoraSlotPool}, laid out per projection of the fused recipe (`fuse.ts`): a
 * fused q|k|v projection has one A buffer and one B buffer for its members together, so one shrink
 * dispatch computes every member's `A x` and the projection's epilogue adds every member's `B v`.
 * Per (layer, fused projection) with members m (1..3), in `lora.dtype` (the adapter precision rule,
 * the CPU backends' too: docs/engine.md, `src/lora/dtype.ts`): f32, or f16 (packed as 2 halves a word):
 *
 *   A [slots, members · R4, inPad]  capacity per slot; member m's A [r, in] at rows m · r4 .. m · r4 + r - 1
 *                                   of the slot (compact at the adapter's r4, as B); inPad = in rounded up to 8
 *   B [slots, columns, RB]          capacity per slot; the adapter's B rows [out, rb] sit compact at
 *                                   (slot, column of its first output): element (column c, t) at
 *                                   slot · columns · RB + c · rb + t, rb = r rounded up to `bAlign`
 *
 * with R4 = maxRank rounded up to 4 and RB = maxRank rounded up to `bAlign`: 8 for f16 slots (the
 * expand epilogue then loads 8 halves of a B row as one vec4<u32>, shaders/linear_lora.wgsl
 * LORA_B8; on lavapipe every load costs per lane, whatever its width), 4 for f32 slots or with
 * `bRank8: false` (4 halves a load, as before). A slot's bytes are described as data by `imageLayout`
 * (`src/lora/slotImage.ts`): adapters arrive packed in it from the loader thread (or are packed
 * here when they come bare), and an upload is one memcpy of the image into a staging buffer kept
 * mapped (`stagingRing.ts`: re-mapped when the GPU is done with it; none when the ring still holds
 * that image), its copies to the slot's regions (2 per fused projection) and the info words, in one
 * submit. Nothing on that path waits for the GPU: later steps see the weights
 * because they are submitted after the copies. When no staging buffer is mapped (a burst of
 * uploads while a long step holds them), the image goes through `queue.writeBuffer` instead.
 * Per-slot scale and per-(layer, module) ranks sit in one `info` buffer (see loraInfoIndex).
 * Each buffer must fit `maxStorageBufferBindingSize`; creation fails with a clear error otherwise.
 */
import type { LoraSlotPool } from '../../backend.ts';
import type { ModelConfig } from '../../../model/config.ts';
import type { FusedLinearOp, FusedRecipe } from '../../../model/arch/fuse.ts';
import { LoraSlotLayoutError } from '../../../lora/errors.ts';
import type { LoraDtype } from '../../../lora/dtype.ts';
import { createLoraSlotImageLayout, loraInfoIndex, loraSlotImageBytes, packLoraSlotImage, type LoraBAlign, type LoraSlotImage } from '../../../lora/slotImage.ts';
import { matrixStride } from '../weights.ts';
import { checkPoolSize, createGpuSlotInfo } from './slotInfo.ts';
import { webgpuRecipe } from '../fusedRecipe.ts';
import { createStagingRing, type LoraUploadMode } from './stagingRing.ts';

export { LORA_STAGING_RING_BUFFERS, LORA_STAGING_RING_BYTES } from './stagingRing.ts';

export { loraInfoIndex } from '../../../lora/slotImage.ts';

/** The slot buffers of one fused projection. */
export interface GpuLoraGroup {
  op: FusedLinearOp;
  /** `// [slots, members · R4, inPad]` (member m at row m · r4 of a slot); in unified memory the layer's K buffer (A's runs: `pagePool.ts`) */
  a: GPUBuffer;
  /** `// [slots, columns, RB]`; in unified memory the layer's V buffer (B runs) */
  b: GPUBuffer;
  /** Elements of an A row (the input size rounded up to 8). */
  inPad: number;
  /** Word of each member's rank in a slot's info. */
  rankWords: number[];
}

/** The GPU slot pool, with the buffers the LoRA kernels bind. */
export interface GpuLoraSlotPool extends LoraSlotPool {
  readonly config: ModelConfig;
  readonly dtype: LoraDtype;
  /** maxRank rounded up to 4: rows of A per member and slot. */
  readonly rank4: number;
  /** What B's rank is rounded up to (8: f16 slots whose expand loads 8 halves of B at once; else 4). */
  readonly bAlign: LoraBAlign;
  /** maxRank rounded up to `bAlign`: B's elements per column and slot, and v's per member. */
  readonly rankB: number;
  /** The buffers of the fused projection `op` (by its key). */
  group(op: FusedLinearOp): GpuLoraGroup;
  /** `// [slots, infoStride] u32`: word 0 = f32 bits of the scale, word {@link loraInfoIndex} = rank of (layer, module). */
  readonly info: GPUBuffer;
  /** u32 words of `info` per slot: 1 + numLayers × modules. */
  readonly infoStride: number;
  /** Rank of the adapter in `slot` (0 when empty). */
  rankOf(slot: number): number;
  /** Rank of the adapter in `slot` on the module whose rank is info word `word` (a group's `rankWords`): 0 where it does not target it or the slot is empty. */
  rankAt(slot: number, word: number): number;
  /** Unified memory (`pagePool.ts`): the word of a slot's info where its run table starts; absent for padded slots. */
  readonly tableAt?: number;
  /** Where the time of the last `load` went (the `bench:lora` breakdown). */
  readonly lastUpload: LoraUploadProfile | undefined;
  /** Frees the buffers; idempotent. */
  destroy(): void;
}

/** Phases of one upload, in milliseconds of the calling thread. */
export interface LoraUploadProfile {
  /** Packing bare weights into the slot layout (0 when the host tier held the image). */
  packMs: number;
  /** Taking a mapped staging buffer. */
  stagingMs: number;
  /** Copying the image into it (or handing it to `writeBuffer`). */
  copyMs: number;
  /** Encoding the copies and submitting them. */
  submitMs: number;
  /** `ring`: written into a mapped staging buffer; `held`: the ring still held the image (no memcpy); `write`: none was mapped, `queue.writeBuffer`. */
  via: 'ring' | 'held' | 'write';
  /** The staging buffer was made for this upload (its creation is in `stagingMs`). */
  created: boolean;
  /** Image bytes and buffer-to-buffer copies. */
  bytes: number;
  copies: number;
}

/** Parameters of {@link createGpuLoraSlotPool}. */
export interface CreateGpuLoraSlotPoolParameters {
  device: GPUDevice;
  config: ModelConfig;
  /** The fused recipe the forward pass runs (its projections own the slot buffers); default `webgpuRecipe(config)`. */
  recipe?: FusedRecipe;
  slots: number;
  /** Largest rank a slot holds (1..128). */
  maxRank: number;
  /** `lora.dtype` (`src/lora/dtype.ts`): f16 halves the bytes, rounding A and B to nearest even (as the CPU backends do with it). */
  dtype: LoraDtype;
  /** `maxStorageBufferBindingSize` of the device. */
  maxBindingBytes: number;
  /** How uploads use the staging ring (`stagingRing.ts`); default `reuse`. */
  upload?: LoraUploadMode;
  /** f16 slots: B's rank rounded up to 8 (`bAlign` 8); default true; `false` keeps 4 (`LinearShape.loraB8`, for benchmarks). f32 slots always round to 4. */
  bRank8?: boolean;
  /**
   * Rank whose largest image (every module targeted) sizes the staging buffer made at start-up
   * (`createStagingRing`'s prefill); default min(maxRank, {@link LORA_STAGING_PREFILL_RANK}); 0 makes
   * none (the ring's first upload makes its first buffer, as before), as does a pool of no slots.
   */
  stagingPrefillRank?: number;
}

/** The rank the staging buffer made at start-up fits by default: the rank most adapters here have (`bench:lora`'s). */
export const LORA_STAGING_PREFILL_RANK = 16;

/** Creates the pool's buffers (zeroed: every slot empty). */
export function createGpuLoraSlotPool(p: CreateGpuLoraSlotPoolParameters): GpuLoraSlotPool {
  const { device, config, slots, maxRank, dtype } = p;
  checkPoolSize(slots, maxRank);
  const eb = dtype === 'f16' ? 2 : 4;
  const rank4 = Math.ceil(maxRank / 4) * 4;
  const bAlign: LoraBAlign = dtype === 'f16' && p.bRank8 !== false ? 8 : 4;
  const rankB = Math.ceil(maxRank / bAlign) * bAlign;
  const n = Math.max(slots, 1); // zero slots still get bindable buffers
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const groups = new Map<string, GpuLoraGroup>();
  let bytesPerSlot = 0;
  const make = (label: string, perSlot: number): GPUBuffer => {
    const size = n * perSlot * eb;
    if (size > p.maxBindingBytes) {
      throw new LoraSlotLayoutError(`${label} needs ${size} bytes for ${slots} slots of rank ${maxRank}, over the ${p.maxBindingBytes}-byte binding limit`, {
        meta: { slots, maxRank, size, limit: p.maxBindingBytes },
      });
    }
    bytesPerSlot += perSlot * eb;
    return device.createBuffer({ label, size: Math.max(16, size), usage });
  };
  const ordered: GpuLoraGroup[] = []; // buffer 2g = ordered[g].a, 2g + 1 = ordered[g].b (the image layout's order)
  for (const op of (p.recipe ?? webgpuRecipe(config)).layers.flat()) {
    if (op.op !== 'linear') continue;
    const inPad = matrixStride(op.cols);
    const group: GpuLoraGroup = {
      op,
      inPad,
      a: make(`lora.A[${op.key}]`, op.members.length * rank4 * inPad),
      b: make(`lora.B[${op.key}]`, op.rows * rankB),
      rankWords: op.members.map((m) => loraInfoIndex(config, op.layer, m.module.name)),
    };
    groups.set(op.key, group);
    ordered.push(group);
  }
  const imageLayout = createLoraSlotImageLayout({ config, dtype, maxRank, bAlign, groups: ordered.map((g) => ({ layer: g.op.layer, inPad: g.inPad, members: g.op.members.map((m) => ({ module: m.module.name, column: m.column })) })) });
  /** Per buffer of the layout: the buffer and the bytes one slot takes in it. */
  const targets = ordered.flatMap((g) => [
    { buffer: g.a, slotBytes: g.op.members.length * rank4 * g.inPad * eb },
    { buffer: g.b, slotBytes: g.op.rows * rankB * eb },
  ]);
  const infoStride = imageLayout.infoStride;
  const slotInfo = createGpuSlotInfo({ device, slots, infoStride });
  const { info } = slotInfo;
  // Zeroed now, at start-up: Dawn zeroes a buffer lazily, the whole of it before the first copy into
  // any part, so the first adapter loaded into a pool paid for every slot (bench-135m, one rank-64
  // slot, 74.5 MiB: the upload's GPU wait 94-273 ms against 6-9 ms cleared here first, load 7).
  const clear = device.createCommandEncoder({ label: 'lora.clear' });
  for (const t of targets) clear.clearBuffer(t.buffer);
  clear.clearBuffer(info);
  device.queue.submit([clear.finish()]);
  let destroyed = false;
  let lastUpload: LoraUploadProfile | undefined;

  const prefillRank = slots > 0 ? Math.min(p.stagingPrefillRank ?? LORA_STAGING_PREFILL_RANK, maxRank) : 0; // no adapters, no staging
  const ring = createStagingRing(device, p.upload, prefillRank > 0 ? loraSlotImageBytes(imageLayout, prefillRank) : 0);

  /** Copies a packed image into `slot`: its copies from a staging buffer (written with one memcpy unless it held the image) in one submit, or `writeBuffer` when none is mapped. */
  const upload = (slot: number, image: LoraSlotImage, packMs: number) => {
    const t0 = performance.now();
    const { bytes, copies } = image;
    const staging = ring.take(image);
    const t1 = performance.now();
    let t2 = t1;
    if (staging) {
      const { buffer } = staging;
      if (!staging.held) new Uint8Array(buffer.getMappedRange(0, bytes.byteLength)).set(bytes);
      buffer.unmap();
      t2 = performance.now();
      const encoder = device.createCommandEncoder({ label: 'lora.upload' });
      for (let i = 0; i < copies.length; i += 4) {
        const target = targets[copies[i]];
        encoder.copyBufferToBuffer(buffer, copies[i + 1], target.buffer, slot * target.slotBytes + copies[i + 2], copies[i + 3]);
      }
      slotInfo.write(slot, image.info, image.rank);
      device.queue.submit([encoder.finish()]);
      ring.give(buffer);
    } else {
      for (let i = 0; i < copies.length; i += 4) {
        const target = targets[copies[i]];
        device.queue.writeBuffer(target.buffer, slot * target.slotBytes + copies[i + 2], bytes, copies[i + 1], copies[i + 3]);
      }
      slotInfo.write(slot, image.info, image.rank);
      t2 = performance.now();
    }
    lastUpload = { packMs, stagingMs: t1 - t0, copyMs: t2 - t1, submitMs: performance.now() - t2, via: staging ? (staging.held ? 'held' : 'ring') : 'write', created: staging?.created ?? false, bytes: bytes.byteLength, copies: copies.length / 4 };
  };

  return {
    slots,
    maxRank,
    rank4,
    bAlign,
    rankB,
    bytesPerSlot: bytesPerSlot + infoStride * 4,
    config,
    dtype,
    info,
    infoStride,
    group(op) {
      const g = groups.get(op.key);
      if (!g) throw new LoraSlotLayoutError(`no slot buffers for projection ${op.key}`);
      return g;
    },
    rankOf: slotInfo.rankOf,
    rankAt: slotInfo.wordAt,
    imageLayout,
    get lastUpload() {
      return lastUpload;
    },
    async load(slot, weights, image) {
      slotInfo.check(slot);
      const t = performance.now();
      const packed = image?.layoutKey === imageLayout.key ? image : packLoraSlotImage({ config, layout: imageLayout, weights });
      upload(slot, packed, packed === image ? 0 : performance.now() - t);
    },
    unload: slotInfo.clear,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const g of groups.values()) {
        g.a.destroy();
        g.b.destroy();
      }
      info.destroy();
      ring.destroy();
    },
  };
}
