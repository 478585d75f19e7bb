/**
 * The WebGPU {@link LoraSlotPool}, laid out per projection of the fused recipe (`fuse.ts`): a
 * fused q|k|v projection has one A buffer and one B buffer for its members together, so one shrink
 * dispatch computes every member's `A x` and the projection's epilogue adds every member's `B v`.
 * Per (layer, fused projection) with members m (1..3), in f32 (the adapter precision rule, the CPU
 * reference's too: docs/engine.md), or f16 for measurements:
 *
 *   A [slots, members, R4, inPad]   member m's A [r, in] at rows 0..r-1 of (slot, m); inPad = in rounded up to 8
 *   B [slots, columns, R4]          capacity per slot; the adapter's B rows [out, r4] sit compact at
 *                                   (slot, column of its first output): element (column c, t) at
 *                                   slot · columns · R4 + c · r4 + t, r4 = r rounded up to 4
 *
 * with R4 = maxRank rounded up to 4. An adapter whose input sizes are multiples of 8 and whose
 * rank is a multiple of 4 is copied as it is, tensor by tensor, without repacking. Uploads go
 * through mapped staging buffers (a small ring, re-mapped when the GPU is done with them): one
 * memcpy into the mapping, then buffer-to-buffer copies in one submit.
 * Per-slot scale and per-(layer, module) ranks sit in one `info` buffer (see loraInfoIndex).
 * Each buffer must fit `maxStorageBufferBindingSize`; creation fails with a clear error otherwise.
 */
import type { LoraSlotPool, LoraWeights } from '../../backend.ts';
import type { ModelConfig } from '../../../model/config.ts';
import type { FusedLinearOp, FusedRecipe } from '../../../model/arch/fuse.ts';
import { f32ToF16Bits } from '../../../model/dtype.ts';
import { checkLoraWeights } from '../../../lora/checkWeights.ts';
import { LoraSlotLayoutError } from '../../../lora/errors.ts';
import { matrixStride } from '../weights.ts';
import { webgpuRecipe } from '../fusedRecipe.ts';

/** The slot buffers of one fused projection. */
export interface GpuLoraGroup {
  op: FusedLinearOp;
  /** `// [slots, members, R4, inPad]` */
  a: GPUBuffer;
  /** `// [slots, columns, R4]` */
  b: GPUBuffer;
  /** Elements of an A row (the input size rounded up to 8). */
  inPad: number;
  /** Word of each member's rank in a slot's info. */
  rankWords: number[];
}

/** The GPU slot pool, with the buffers the LoRA kernels bind. */
export interface GpuLoraSlotPool extends LoraSlotPool {
  readonly config: ModelConfig;
  readonly dtype: 'f32' | 'f16';
  /** maxRank rounded up to 4: rows of A per member and slot, and v's elements per member. */
  readonly rank4: number;
  /** The buffers of the fused projection `op` (by its key). */
  group(op: FusedLinearOp): GpuLoraGroup;
  /** `// [slots, infoStride] u32`: word 0 = f32 bits of the scale, word {@link loraInfoIndex} = rank of (layer, module). */
  readonly info: GPUBuffer;
  /** u32 words of `info` per slot: 1 + numLayers × modules. */
  readonly infoStride: number;
  /** Rank of the adapter in `slot` (0 when empty). */
  rankOf(slot: number): number;
  /** Frees the buffers; idempotent. */
  destroy(): void;
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
  /** `f16` halves the bytes (measurements only: it rounds adapters). */
  dtype: 'f32' | 'f16';
  /** `maxStorageBufferBindingSize` of the device. */
  maxBindingBytes: number;
}

/** Word of `info` holding the rank of (layer, module). */
export function loraInfoIndex(config: ModelConfig, layer: number, projection: string): number {
  return 1 + layer * config.modules.length + config.modules.findIndex((m) => m.name === projection);
}

/** Staging buffers kept mapped for the next upload. */
const STAGING_RING = 2;

/** Creates the pool's buffers (zeroed: every slot empty). */
export function createGpuLoraSlotPool(p: CreateGpuLoraSlotPoolParameters): GpuLoraSlotPool {
  const { device, config, slots, maxRank, dtype } = p;
  if (!Number.isSafeInteger(slots) || slots < 0) throw new LoraSlotLayoutError(`slot count ${slots} is not a non-negative integer`);
  if (!Number.isSafeInteger(maxRank) || maxRank < 1 || maxRank > 128) throw new LoraSlotLayoutError(`maxRank ${maxRank} is outside [1, 128]`);
  const eb = dtype === 'f16' ? 2 : 4;
  const rank4 = Math.ceil(maxRank / 4) * 4;
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
  for (const op of (p.recipe ?? webgpuRecipe(config)).layers.flat()) {
    if (op.op !== 'linear') continue;
    const inPad = matrixStride(op.cols);
    groups.set(op.key, {
      op,
      inPad,
      a: make(`lora.A[${op.key}]`, op.members.length * rank4 * inPad),
      b: make(`lora.B[${op.key}]`, op.rows * rank4),
      rankWords: op.members.map((m) => loraInfoIndex(config, op.layer, m.module.name)),
    });
  }
  const infoStride = 1 + config.numLayers * config.modules.length;
  const info = device.createBuffer({ label: 'lora.info', size: n * infoStride * 4, usage });
  const ranks = new Int32Array(n);
  let destroyed = false;
  const checkSlot = (slot: number) => {
    if (!Number.isSafeInteger(slot) || slot < 0 || slot >= slots) throw new LoraSlotLayoutError(`slot ${slot} is outside [0, ${slots})`);
  };

  // Mapped staging buffers of `stagingBytes` each; one is taken per upload and re-mapped after.
  const stagingBytes = Math.max(16, bytesPerSlot);
  const ready: GPUBuffer[] = [];
  let remapping = 0;
  const takeStaging = (): GPUBuffer =>
    ready.pop() ?? device.createBuffer({ label: 'lora.staging', size: stagingBytes, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
  const giveBack = (b: GPUBuffer) => {
    if (destroyed || ready.length + remapping >= STAGING_RING) {
      b.destroy();
      return;
    }
    remapping++;
    b.mapAsync(GPUMapMode.WRITE).then(
      () => {
        remapping--;
        if (destroyed) b.destroy();
        else ready.push(b);
      },
      () => {
        remapping--;
        b.destroy();
      },
    );
  };

  /** Copies `weights` (checked) into `slot` through one staging buffer and one submit. */
  const upload = (slot: number, weights: LoraWeights) => {
    const r = weights.rank;
    const r4 = Math.ceil(r / 4) * 4;
    const staging = takeStaging();
    const mapped = staging.getMappedRange();
    const f32 = new Float32Array(mapped);
    const u16 = new Uint16Array(mapped);
    const copies: Array<[dst: GPUBuffer, at: number, bytes: number, dstOffset: number]> = [];
    let at = 0; // elements written into staging
    /** Appends `[rows, cols]` values as `[rows, stride]` (zero-padded) and a copy to `dst` at element `dstElement`. */
    const region = (dst: GPUBuffer, dstElement: number, values: Float32Array, rows: number, cols: number, stride: number) => {
      const count = rows * stride;
      if (dtype === 'f32') {
        if (stride === cols) f32.set(values, at);
        else for (let i = 0; i < rows; i++) f32.set(values.subarray(i * cols, (i + 1) * cols), at + i * stride);
      } else {
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) u16[at + i * stride + j] = f32ToF16Bits(values[i * cols + j]);
      }
      if (stride !== cols) for (let i = 0; i < rows; i++) (dtype === 'f32' ? f32 : u16).fill(0, at + i * stride + cols, at + (i + 1) * stride);
      // copyBufferToBuffer moves multiples of 4 bytes: f16 regions are padded to an even count.
      const padded = dtype === 'f16' && count % 2 === 1 ? count + 1 : count;
      if (padded !== count) u16[at + count] = 0;
      copies.push([dst, at * eb, padded * eb, dstElement * eb]);
      at += padded;
    };
    const words = new Uint32Array(infoStride);
    new Float32Array(words.buffer, 0, 1)[0] = weights.scale;
    for (const g of groups.values()) {
      const { op } = g;
      const layer = weights.layers[op.layer];
      op.members.forEach((m, i) => {
        const t = layer[m.module.name];
        if (!t) return;
        region(g.a, ((slot * op.members.length + i) * rank4) * g.inPad, t.a, r, m.module.in, g.inPad);
        region(g.b, slot * op.rows * rank4 + m.column * r4, t.b, m.module.out, r, r4);
        words[g.rankWords[i]] = r;
      });
    }
    staging.unmap();
    const encoder = device.createCommandEncoder({ label: 'lora.upload' });
    for (const [dst, src, bytes, dstOffset] of copies) encoder.copyBufferToBuffer(staging, src, dst, dstOffset, bytes);
    device.queue.writeBuffer(info, slot * infoStride * 4, words);
    device.queue.submit([encoder.finish()]);
    giveBack(staging);
    ranks[slot] = r;
  };

  return {
    slots,
    maxRank,
    rank4,
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
    rankOf: (slot) => ranks[slot] ?? 0,
    async load(slot, weights) {
      checkSlot(slot);
      checkLoraWeights({ config, maxRank, weights });
      upload(slot, weights);
    },
    unload(slot) {
      checkSlot(slot);
      device.queue.writeBuffer(info, slot * infoStride * 4, new Uint32Array(infoStride));
      ranks[slot] = 0;
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const g of groups.values()) {
        g.a.destroy();
        g.b.destroy();
      }
      info.destroy();
      for (const b of ready.splice(0)) b.destroy();
    },
  };
}
