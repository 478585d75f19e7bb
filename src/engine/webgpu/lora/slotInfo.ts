/**
 * The `info` buffer both WebGPU LoRA pools keep (padded slots: `slotPool.ts`; pages: `pagePool.ts`):
 * `infoStride` u32 words per slot (the scale, the ranks, in pages the run table), which the shrink
 * and the projections' epilogues bind, and each slot's rank on the host (the tile plan's).
 */
import { LoraSlotLayoutError } from '../../../lora/errors.ts';

/** Throws unless `slots` is a count and `maxRank` in [1, 128]. */
export function checkPoolSize(slots: number, maxRank: number): void {
  if (!Number.isSafeInteger(slots) || slots < 0) throw new LoraSlotLayoutError(`slot count ${slots} is not a non-negative integer`);
  if (!Number.isSafeInteger(maxRank) || maxRank < 1 || maxRank > 128) throw new LoraSlotLayoutError(`maxRank ${maxRank} is outside [1, 128]`);
}

/** A pool's slot words. */
export interface GpuSlotInfo {
  /** `// [max(slots, 1), infoStride] u32`, zeroed: every slot empty. */
  readonly info: GPUBuffer;
  /** Throws unless `slot` is one of the pool's. */
  check(slot: number): void;
  rankOf(slot: number): number;
  /** Word `word` of `slot`'s info as last written (a host copy): at a group's `rankWords`, the adapter's rank on that module, 0 where it has none. */
  wordAt(slot: number, word: number): number;
  /** Writes a slot's words (queued: steps submitted after this see them). */
  write(slot: number, words: Uint32Array, rank: number): void;
  /** Empties a slot: rows pointing at it get no LoRA delta. */
  clear(slot: number): void;
}

export function createGpuSlotInfo(p: { device: GPUDevice; slots: number; infoStride: number }): GpuSlotInfo {
  const { device, slots, infoStride } = p;
  const n = Math.max(slots, 1); // zero slots still get a bindable buffer
  const info = device.createBuffer({ label: 'lora.info', size: n * infoStride * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  const ranks = new Int32Array(n);
  const words = new Uint32Array(n * infoStride); // what `info` holds, for the host's own questions
  const check = (slot: number) => {
    if (!Number.isSafeInteger(slot) || slot < 0 || slot >= slots) throw new LoraSlotLayoutError(`slot ${slot} is outside [0, ${slots})`);
  };
  const write = (slot: number, slotWords: Uint32Array, rank: number) => {
    device.queue.writeBuffer(info, slot * infoStride * 4, slotWords);
    words.set(slotWords, slot * infoStride);
    ranks[slot] = rank;
  };
  return {
    info,
    check,
    rankOf: (slot) => ranks[slot] ?? 0,
    wordAt: (slot, word) => words[slot * infoStride + word] ?? 0,
    write,
    clear(slot) {
      check(slot);
      write(slot, new Uint32Array(infoStride), 0);
    },
  };
}
