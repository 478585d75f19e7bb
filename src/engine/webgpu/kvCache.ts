/**
 * The paged KV cache on the device: one K and one V buffer per layer (binding limits), each
 * `[numBlocks, numKvHeads, 16, kvHeadStride(headDim)]` f32. Block `b` of every buffer together is
 * page `b` of unified memory (`kvBlockBytes`): `2 · layers` slices of {@link GpuKvCache.sliceBytes},
 * where the LoRA page pool (`lora/pagePool.ts`) writes adapters as the tier hands it pages.
 */
import type { ModelConfig } from '../../model/config.ts';
import { KV_BLOCK_SIZE } from '../backend.ts';
import { EngineShapeUnsupportedError } from '../errors.ts';
import { kvHeadStride } from './ops.ts';

/** The KV buffers of every layer. */
export interface GpuKvCache {
  readonly layers: readonly { k: GPUBuffer; v: GPUBuffer }[];
  /** Blocks (pages) each buffer holds. */
  readonly blocks: number;
  /** Bytes of one block in one buffer: a page's slice. */
  readonly sliceBytes: number;
  /** Bytes of every buffer together. */
  readonly bytes: number;
  destroy(): void;
}

/** Bytes of one block in one layer's K (or V) buffer: a page's slice. */
export function kvSliceBytes(config: Pick<ModelConfig, 'numKvHeads' | 'headDim'>): number {
  return config.numKvHeads * kvHeadStride(config.headDim) * KV_BLOCK_SIZE * 4;
}

/** Allocates `blocks` blocks per layer; throws when one buffer would pass `maxBindingBytes`. */
export function createGpuKvCache(p: { device: GPUDevice; config: ModelConfig; blocks: number; maxBindingBytes: number }): GpuKvCache {
  const { config, blocks } = p;
  const sliceBytes = kvSliceBytes(config);
  const layerBytes = blocks * sliceBytes;
  if (layerBytes > p.maxBindingBytes) {
    throw new EngineShapeUnsupportedError('kv cache', `${blocks} blocks need ${layerBytes} bytes per layer, over the ${p.maxBindingBytes}-byte binding limit`);
  }
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const make = (label: string) => p.device.createBuffer({ label, size: Math.max(16, layerBytes), usage });
  const layers = Array.from({ length: config.numLayers }, (_, l) => ({ k: make(`kCache.${l}`), v: make(`vCache.${l}`) }));
  return {
    layers,
    blocks,
    sliceBytes,
    bytes: layerBytes * 2 * config.numLayers,
    destroy() {
      for (const { k, v } of layers) {
        k.destroy();
        v.destroy();
      }
    },
  };
}
