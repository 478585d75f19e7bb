/**
 * The slot pool's staging ring: buffers kept mapped for writing (MAP_WRITE | COPY_SRC), each the
 * size of the image that first needed it, within {@link LORA_STAGING_RING_BYTES} and
 * {@link LORA_STAGING_RING_BUFFERS}. An upload takes a mapped buffer, writes the image into it (one
 * memcpy), unmaps it, copies from it into the slot, and gives it back: it is mapped again once the
 * GPU has run that copy, so nothing on the request path waits for the GPU.
 *
 * A buffer remembers the image it holds: mapping keeps a buffer's bytes (WebGPU maps its current
 * contents), so switching back to an adapter whose image is still in the ring (`reuse`, the
 * default) skips the memcpy, the buffer is unmapped and copied from as it is. With `reuse` the ring
 * grows to its bounds before overwriting the least recently used image (more images stay held),
 * off the request path: once an upload's buffer is mapped again, a spare of its size is created
 * (mapped at creation, which blocks the main thread 9-17 ms for 18.6 MiB on lavapipe, and was the
 * larger part of `reuse`'s cold loads while it happened during them), and a new image takes a
 * spare when one fits. Without `reuse` (`copy`, the earlier behavior, kept to measure against)
 * every upload writes the image into the first mapped buffer it fits.
 */
import type { LoraSlotImage } from '../../../lora/slotImage.ts';

/**
 * Host bytes the mapped staging ring may hold (one buffer always; each sized for an image, so a
 * rank-16 adapter's buffer is what it needs, not a full `maxRank` slot). A buffer comes back only
 * once the GPU has run everything submitted before its upload (a whole step), so the ring is how
 * many uploads one step takes without falling back to `writeBuffer`, and how many recent images
 * it holds for a switch back.
 */
export const LORA_STAGING_RING_BYTES = 128 * 2 ** 20;

/** Staging buffers the ring holds at most. */
export const LORA_STAGING_RING_BUFFERS = 8;

/** How uploads use the ring: `reuse` skips the memcpy of an image the ring still holds; `copy` always writes it. */
export type LoraUploadMode = 'reuse' | 'copy';

/** The upload modes, default first. */
export const LORA_UPLOAD_MODES: readonly LoraUploadMode[] = ['reuse', 'copy'];

/** A buffer of the ring, mapped, for one upload. */
export interface StagingBuffer {
  buffer: GPUBuffer;
  /** True when it already holds the image's bytes (write nothing); else write them into its mapped range. */
  held: boolean;
  /** True when it was made for this upload (mapped at creation, on the caller's time). */
  created: boolean;
}

/** See the file comment. */
export interface StagingRing {
  /** A mapped buffer for `image` (unmap it after writing, then {@link StagingRing.give} it after submitting its copies); undefined when none is mapped and the ring is full. */
  take(image: LoraSlotImage): StagingBuffer | undefined;
  /** Maps a buffer again once the GPU has run the copies submitted from it (its bytes kept). */
  give(buffer: GPUBuffer): void;
  /** Destroys the buffers (those still mapping when that ends). */
  destroy(): void;
}

interface Entry {
  buffer: GPUBuffer;
  mapped: boolean;
  /** The image last written into it (a weak reference: the host cache decides how long images live). */
  holds?: WeakRef<LoraSlotImage>;
  lastUse: number;
  /** Its number among the buffers the ring made (to tell one made during an upload). */
  created: number;
}

/**
 * Creates a ring on `device`, with one buffer of `prefillBytes` (> 0) made now, at start-up: the
 * first buffer a ring made was its first upload's (8-19 ms of the first cold load, mapped at creation).
 */
export function createStagingRing(device: GPUDevice, mode: LoraUploadMode = 'reuse', prefillBytes = 0): StagingRing {
  const entries: Entry[] = [];
  let bytes = 0;
  let clock = 0;
  let made = 0;
  let destroyed = false;
  const full = (size: number) => entries.length > 0 && (entries.length >= LORA_STAGING_RING_BUFFERS || bytes + size > LORA_STAGING_RING_BYTES);
  const drop = (e: Entry) => {
    entries.splice(entries.indexOf(e), 1);
    bytes -= e.buffer.size;
    e.buffer.destroy();
  };
  const create = (size: number): Entry => {
    const buffer = device.createBuffer({ label: 'lora.staging', size: Math.max(16, size), usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
    const e: Entry = { buffer, mapped: true, lastUse: 0, created: ++made };
    entries.push(e);
    bytes += buffer.size;
    return e;
  };
  /** Mapped entries, least recently used first. */
  const mapped = () => entries.filter((e) => e.mapped).sort((a, b) => a.lastUse - b.lastUse);
  /** A mapped buffer of at least `size` bytes that holds no image still alive (a spare, or one whose image the host cache dropped). */
  const spare = (size: number) => mapped().find((e) => e.buffer.size >= size && !e.holds?.deref());
  const pick = (size: number): Entry | undefined => {
    if (mode === 'reuse') {
      const free = spare(size);
      if (free) return free;
      if (!full(size)) return create(size);
    }
    const fits = mapped().find((e) => e.buffer.size >= size);
    if (fits) return fits;
    for (const e of mapped()) if (full(size)) drop(e); // mapped but too small for this image: make room
    return full(size) ? undefined : create(size);
  };
  /** Creates a spare of `size` bytes unless the ring is full or already has one. */
  const grow = (size: number) => {
    if (!destroyed && !full(size) && !spare(size)) create(size);
  };
  if (prefillBytes > 0) create(prefillBytes);
  return {
    take(image) {
      const size = image.bytes.byteLength;
      const hit = mode === 'reuse' ? entries.find((e) => e.mapped && e.holds?.deref() === image) : undefined;
      const before = made;
      const e = hit ?? pick(size);
      if (!e) return undefined;
      e.mapped = false;
      e.lastUse = ++clock;
      e.holds = new WeakRef(image);
      return { buffer: e.buffer, held: hit !== undefined, created: e.created > before };
    },
    give(buffer) {
      const e = entries.find((x) => x.buffer === buffer);
      if (!e) return;
      buffer.mapAsync(GPUMapMode.WRITE).then(
        () => {
          if (destroyed) buffer.destroy();
          else {
            e.mapped = true;
            if (mode === 'reuse') setImmediate(grow, buffer.size);
          }
        },
        () => {
          if (entries.includes(e)) drop(e);
          else buffer.destroy(); // the ring was destroyed meanwhile
        },
      );
    },
    destroy() {
      destroyed = true;
      for (const e of entries.filter((x) => x.mapped)) e.buffer.destroy(); // those still re-mapping are destroyed when that ends
      entries.length = 0;
    },
  };
}
