/**
 * The WebGPU {@link LoraSlotPool}: every slot's weights live in one pair of storage buffers per
 * (layer, projection), padded to `maxRank` so a slot's offset is fixed:
 *
 *   A  [slots, maxRank, in]  (rows >= the adapter's rank unused)
 *   Bt [slots, maxRank, out] (B transposed: the expand kernel reads outputs contiguously)
 *
 * in f16 where the device has `shader-f16` (read as packed u32, accumulated in f32), else f32.
 * Per-slot scale and per-(layer, projection) ranks sit in one `info` buffer (see lora_common.wgsl).
 * Each buffer must fit `maxStorageBufferBindingSize`; creation fails with a clear error otherwise.
 */
import type { LoraSlotPool } from '../../backend.ts';
import { PROJECTIONS, projectionShape, type ModelConfig, type Projection } from '../../../model/config.ts';
import { f32ToF16Bits } from '../../../model/dtype.ts';
import { checkLoraWeights } from '../../../lora/checkWeights.ts';
import { LoraSlotLayoutError } from '../../../lora/errors.ts';

/** The GPU slot pool, with the buffers the LoRA kernels bind. */
export interface GpuLoraSlotPool extends LoraSlotPool {
  readonly config: ModelConfig;
  readonly dtype: 'f32' | 'f16';
  /** `// [slots, maxRank, in]` of (layer, projection). */
  a(layer: number, projection: Projection): GPUBuffer;
  /** `// [slots, maxRank, out]` (B transposed) of (layer, projection). */
  bt(layer: number, projection: Projection): GPUBuffer;
  /** `// [slots, infoStride] u32`: word 0 = f32 bits of the scale, word 1 + layer * 7 + p = rank of projection p. */
  readonly info: GPUBuffer;
  /** u32 words of `info` per slot: 1 + numLayers * 7. */
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
  slots: number;
  /** Largest rank a slot holds (1..128). */
  maxRank: number;
  /** `f16` needs the device's `shader-f16` feature (`Gpu.hasF16`). */
  dtype: 'f32' | 'f16';
  /** `maxStorageBufferBindingSize` of the device. */
  maxBindingBytes: number;
}

/** Word of `info` holding the rank of (layer, projection). */
export function loraInfoIndex(layer: number, projection: Projection): number {
  return 1 + layer * PROJECTIONS.length + PROJECTIONS.indexOf(projection);
}

/** Creates the pool's buffers (zeroed: every slot empty). */
export function createGpuLoraSlotPool(p: CreateGpuLoraSlotPoolParameters): GpuLoraSlotPool {
  const { device, config, slots, maxRank, dtype } = p;
  if (!Number.isSafeInteger(slots) || slots < 0) throw new LoraSlotLayoutError(`slot count ${slots} is not a non-negative integer`);
  if (!Number.isSafeInteger(maxRank) || maxRank < 1 || maxRank > 128) throw new LoraSlotLayoutError(`maxRank ${maxRank} is outside [1, 128]`);
  const eb = dtype === 'f16' ? 2 : 4;
  const n = Math.max(slots, 1); // zero slots still get bindable buffers
  const aBuffers: GPUBuffer[] = [];
  const btBuffers: GPUBuffer[] = [];
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  let bytesPerSlot = 0;
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const proj of PROJECTIONS) {
      const [out, inF] = projectionShape(config, proj);
      if (inF % 8 !== 0 || out % 4 !== 0) throw new LoraSlotLayoutError(`${proj} shape [${out}, ${inF}]: in must be a multiple of 8 and out of 4`);
      for (const [cols, list, what] of [[inF, aBuffers, 'A'], [out, btBuffers, 'Bt']] as const) {
        const size = n * maxRank * cols * eb;
        if (size > p.maxBindingBytes) {
          throw new LoraSlotLayoutError(`layer ${layer} ${proj} ${what} needs ${size} bytes for ${slots} slots of rank ${maxRank}, over the ${p.maxBindingBytes}-byte binding limit`, {
            meta: { slots, maxRank, size, limit: p.maxBindingBytes },
          });
        }
        list.push(device.createBuffer({ label: `lora.${what}[${layer}.${proj}]`, size, usage }));
        bytesPerSlot += maxRank * cols * eb;
      }
    }
  }
  const infoStride = 1 + config.numLayers * PROJECTIONS.length;
  const info = device.createBuffer({ label: 'lora.info', size: n * infoStride * 4, usage });
  const ranks = new Int32Array(n);
  let destroyed = false;
  const index = (layer: number, proj: Projection) => layer * PROJECTIONS.length + PROJECTIONS.indexOf(proj);
  const checkSlot = (slot: number) => {
    if (!Number.isSafeInteger(slot) || slot < 0 || slot >= slots) throw new LoraSlotLayoutError(`slot ${slot} is outside [0, ${slots})`);
  };
  const upload = (buffer: GPUBuffer, offsetBytes: number, values: Float32Array) => {
    if (dtype === 'f32') {
      device.queue.writeBuffer(buffer, offsetBytes, values);
      return;
    }
    const half = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) half[i] = f32ToF16Bits(values[i]);
    device.queue.writeBuffer(buffer, offsetBytes, half);
  };

  return {
    slots,
    maxRank,
    bytesPerSlot: bytesPerSlot + infoStride * 4,
    config,
    dtype,
    info,
    infoStride,
    a: (layer, proj) => aBuffers[index(layer, proj)],
    bt: (layer, proj) => btBuffers[index(layer, proj)],
    rankOf: (slot) => ranks[slot] ?? 0,
    async load(slot, weights) {
      checkSlot(slot);
      checkLoraWeights({ config, maxRank, weights });
      const r = weights.rank;
      const words = new Uint32Array(infoStride);
      new Float32Array(words.buffer, 0, 1)[0] = weights.scale;
      weights.layers.forEach((layer, l) => {
        for (const proj of PROJECTIONS) {
          const t = layer[proj];
          if (!t) continue;
          const [out, inF] = projectionShape(config, proj);
          upload(aBuffers[index(l, proj)], slot * maxRank * inF * eb, t.a); // [r, in] into [maxRank, in]
          const bt = new Float32Array(r * out); // [r, out] = B^T
          for (let o = 0; o < out; o++) for (let i = 0; i < r; i++) bt[i * out + o] = t.b[o * r + i];
          upload(btBuffers[index(l, proj)], slot * maxRank * out * eb, bt);
          words[loraInfoIndex(l, proj)] = r;
        }
      });
      device.queue.writeBuffer(info, slot * infoStride * 4, words);
      ranks[slot] = r;
    },
    unload(slot) {
      checkSlot(slot);
      device.queue.writeBuffer(info, slot * infoStride * 4, new Uint32Array(infoStride));
      ranks[slot] = 0;
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const b of [...aBuffers, ...btBuffers, info]) b.destroy();
    },
  };
}
