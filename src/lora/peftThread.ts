/**
 * Worker-thread side of {@link createPeftLoader} (`peftLoader.ts`): reads, validates and parses
 * one adapter per message with `loadPeftAdapter` (packing it into the device slot layout when asked), and posts the weights back with their buffers
 * transferred (no copy). A failure is reported as `{ failed: true }`: the main thread then runs the
 * same load itself, so the caller gets the error object (class, code, hint) it would have got.
 */
import { parentPort } from 'node:worker_threads';
import type { ModelConfig } from '../model/config.ts';
import type { AdapterId } from './id.ts';
import { loadPeftAdapter } from './peft.ts';
import type { LoraSlotImageLayout } from './slotImage.ts';

/** A request from the main thread. */
export interface PeftThreadRequest {
  id: number;
  dir: string;
  config: ModelConfig;
  maxRank?: number;
  knownId?: AdapterId;
  slotImage?: LoraSlotImageLayout;
  /** Pack the image into a SharedArrayBuffer (`LoraSlotImage.bytes`), posted shared instead of transferred. */
  sharedImage?: boolean;
}

parentPort?.on('message', async (m: PeftThreadRequest) => {
  try {
    const adapter = await loadPeftAdapter({ dir: m.dir, config: m.config, maxRank: m.maxRank, knownId: m.knownId, slotImage: m.slotImage, sharedImage: m.sharedImage });
    const buffers = new Set<ArrayBuffer | SharedArrayBuffer>();
    // Weights decoded from the image on first use stay undecoded: the main thread makes them again from the image.
    if (!adapter.weightsFromImage) for (const layer of adapter.weights.layers) {
      for (const t of Object.values(layer)) {
        buffers.add(t!.a.buffer as ArrayBuffer);
        buffers.add(t!.b.buffer as ArrayBuffer);
      }
    }
    if (adapter.image) for (const a of [adapter.image.bytes, adapter.image.copies, adapter.image.info]) buffers.add(a.buffer as ArrayBuffer);
    const transfer = [...buffers].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer); // a shared image (and f32 views into it) is posted shared
    parentPort!.postMessage({ id: m.id, adapter: adapter.weightsFromImage ? { ...adapter, weights: undefined } : adapter }, transfer);
  } catch {
    parentPort!.postMessage({ id: m.id, failed: true });
  }
});
