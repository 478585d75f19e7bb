/**
 * The CPU backend's memory: one shared `WebAssembly.Memory` (so worker threads run kernels over
 * the same weights, KV cache and activations) and a bump allocator over it. Everything is
 * allocated when the backend is created; nothing is freed until it is destroyed.
 */
import { EngineUnsupportedError } from '../errors.ts';

/** Bytes below this offset belong to the kernels' static data (AssemblyScript lays it out from 1 KiB). */
const RESERVED = 1 << 16;
const PAGE = 1 << 16;
/** wasm32's limit: 65536 pages of 64 KiB. */
export const MAX_PAGES = 65536;

/** A bump allocator over a shared wasm memory. */
export interface CpuMemory {
  readonly memory: WebAssembly.Memory;
  /** Allocates `bytes` aligned to 64 (a cache line), zeroed; returns the byte offset. */
  alloc(bytes: number): number;
  /** Bytes allocated so far. */
  readonly used: number;
  /** Views of the current buffer (call again after allocating: growing replaces the buffer). */
  f32(): Float32Array;
  i32(): Int32Array;
  u8(): Uint8Array;
}

/** Creates a memory (maximum 4 GiB, grown as allocations need). */
export function createCpuMemory(): CpuMemory {
  const memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
  let top = RESERVED;
  return {
    memory,
    get used() {
      return top;
    },
    alloc(bytes) {
      const at = Math.ceil(top / 64) * 64;
      const end = at + Math.max(bytes, 0);
      const pages = Math.ceil(end / PAGE);
      const have = memory.buffer.byteLength / PAGE;
      if (pages > MAX_PAGES) {
        throw new EngineUnsupportedError(`The CPU backend needs ${(end / 2 ** 30).toFixed(2)} GiB, beyond wasm32's 4 GiB`, 'Use fewer KV blocks (engine.kvBlocks), a quantized model (--quantize q8_0 or q4_0), or --backend webgpu.');
      }
      if (pages > have) memory.grow(pages - have);
      top = end;
      return at;
    },
    f32: () => new Float32Array(memory.buffer),
    i32: () => new Int32Array(memory.buffer),
    u8: () => new Uint8Array(memory.buffer),
  };
}
