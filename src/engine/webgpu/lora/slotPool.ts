/**
 * The WebGPU {@link LoraSlotPool}: every slot's weights live in one pair of storage buffers per
 * (layer, module), padded to `maxRank` so a slot's offset is fixed:
 *
 *   A  [slots, maxRank, inPad]  (rows >= the adapter's rank unused; inPad = in rounded up to 8, zero)
 *   Bt [slots, maxRank, outPad] (B transposed: the expand kernel reads outputs contiguously; outPad = out rounded up to 4)
 *
 * in f32 (the engine's adapter precision rule, the CPU reference's too: docs/engine.md), or f16
 * (read as packed u32, accumulated in f32) for measurements.
 * Per-slot scale and per-(layer, projection) ranks sit in one `info` buffer (see lora_common.wgsl).
 * Each buffer must fit `maxStorageBufferBindingSize`; creation fails with a clear error otherwise.
 */
import type { LoraSlotPool } from '../../backend.ts';
import type { LinearModule, ModelConfig, Projection } from '../../../model/config.ts';
import { f32ToF16Bits } from '../../../model/dtype.ts';
import { checkLoraWeights } from '../../../lora/checkWeights.ts';
import { LoraSlotLayoutError } from '../../../lora/errors.ts';
import { matrixStride } from '../weights.ts';

/** The GPU slot pool, with the buffers the LoRA kernels bind. */
export interface GpuLoraSlotPool extends LoraSlotPool {
  readonly config: ModelConfig;
  readonly dtype: 'f32' | 'f16';
  /** `// [slots, maxRank, inPad]` of (layer, module). */
  a(layer: number, projection: Projection): GPUBuffer;
  /** `// [slots, maxRank, outPad]` (B transposed) of (layer, module). */
  bt(layer: number, projection: Projection): GPUBuffer;
  /** `// [slots, infoStride] u32`: word 0 = f32 bits of the scale, word {@link loraInfoIndex} = rank of (layer, module). */
  readonly info: GPUBuffer;
  /** u32 words of `info` per slot: 1 + numLayers × modules. */
  readonly infoStride: number;
  /** Padded `[in, out]` of a module's A rows and Bt rows. */
  padded(projection: Projection): [inPad: number, outPad: number];
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

/** Word of `info` holding the rank of (layer, module). */
export function loraInfoIndex(config: ModelConfig, layer: number, projection: Projection): number {
  return 1 + layer * config.modules.length + config.modules.findIndex((m) => m.name === projection);
}

/** A module's A row length and Bt row length in a slot: in rounded up to 8, out to 4 (the kernels' vector loads). */
export function loraPadded(m: LinearModule): [inPad: number, outPad: number] {
  return [matrixStride(m.in), Math.ceil(m.out / 4) * 4];
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
    for (const m of config.modules) {
      const proj = m.name;
      const [inF, out] = loraPadded(m);
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
  const infoStride = 1 + config.numLayers * config.modules.length;
  const info = device.createBuffer({ label: 'lora.info', size: n * infoStride * 4, usage });
  const ranks = new Int32Array(n);
  let destroyed = false;
  const index = (layer: number, proj: Projection) => loraInfoIndex(config, layer, proj) - 1;
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
    padded: (proj) => loraPadded(config.modules.find((m) => m.name === proj)!),
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
        for (const m of config.modules) {
          const t = layer[m.name];
          if (!t) continue;
          const [inPad, outPad] = loraPadded(m);
          const a = new Float32Array(r * inPad); // [r, inPad]: A's rows, zero-padded
          for (let i = 0; i < r; i++) a.set(t.a.subarray(i * m.in, (i + 1) * m.in), i * inPad);
          upload(aBuffers[index(l, m.name)], slot * maxRank * inPad * eb, a);
          const bt = new Float32Array(r * outPad); // [r, outPad] = B^T, zero-padded
          for (let o = 0; o < m.out; o++) for (let i = 0; i < r; i++) bt[i * outPad + o] = t.b[o * r + i];
          upload(btBuffers[index(l, m.name)], slot * maxRank * outPad * eb, bt);
          words[loraInfoIndex(config, l, m.name)] = r;
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
