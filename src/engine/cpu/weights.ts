/**
 * The model's weights in the CPU backend's shared memory, as its kernels read them: f32 matrices
 * as stored, f16, Q8_0 and Q4_0 in 4-row tiles (`pack.ts`; the quantized ones computed on in the kernel); bf16, Q4_K and
 * Q6_K matrices are widened to f32 at load (exact; the kernels have no path for them). Norm gains
 * and biases are f32.
 */
import type { LoadedModel } from '../../model/load.ts';
import { readDeviceMatrix } from '../../model/deviceTensor.ts';
import { bf16BitsToF32 } from '../../model/dtype.ts';
import { dequantize } from '../../model/quant/index.ts';
import type { LoadProgress } from '../backend.ts';
import { loadModelWeights, type ModelWeights } from '../loadWeights.ts';
import type { CpuMemory } from './memory.ts';
import { packF16Tiles, packQuantTiles } from './pack.ts';

/** Matmul kinds of the kernels (`T_KIND` in wasm/kernels.ts). */
export const KIND = { f32: 0, f16: 1, q8_0: 2, q4_0: 3 } as const;

/** A `[rows, cols]` matrix in shared memory. */
export interface CpuMatrix {
  ptr: number;
  kind: number;
  rows: number;
  cols: number;
  /** Bytes it takes. */
  bytes: number;
}

/** Weights by tensor name: matrices, and vectors as f32 pointers. */
export type CpuWeights = ModelWeights<CpuMatrix, number>;

/** Parameters of {@link loadCpuWeights}. */
export interface LoadCpuWeightsParameters {
  model: Pick<LoadedModel, 'config' | 'weights' | 'dtype' | 'quantize'>;
  mem: CpuMemory;
  onProgress?: LoadProgress;
  signal?: AbortSignal;
}

/** Copies every tensor of the recipe into `mem`. */
export async function loadCpuWeights(p: LoadCpuWeightsParameters): Promise<CpuWeights> {
  const { model, mem, signal } = p;
  const put = (bytes: Uint8Array): number => {
    const ptr = mem.alloc(bytes.byteLength);
    mem.u8().set(bytes, ptr);
    return ptr;
  };
  const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return loadModelWeights<CpuMatrix, number>({
    config: model.config,
    matrix: async ({ name, shape: [rows, cols] }) => {
      const m = await readDeviceMatrix({ weights: model.weights, name, dtype: model.dtype, quantize: model.quantize, keepQuantized: true, signal });
      let kind: number;
      let data: Uint8Array;
      if (m.dtype === 'f16') [kind, data] = [KIND.f16, asBytes(packF16Tiles(m.data, rows, cols))];
      else if (m.dtype === 'q8_0' || m.dtype === 'q4_0') [kind, data] = [KIND[m.dtype], packQuantTiles(m.data as Uint8Array, m.dtype, rows, cols)];
      else if (m.dtype === 'f32') [kind, data] = [KIND.f32, asBytes(m.data)];
      else if (m.dtype === 'bf16') [kind, data] = [KIND.f32, asBytes(Float32Array.from(m.data, bf16BitsToF32))];
      else [kind, data] = [KIND.f32, asBytes(dequantize({ data: m.data as Uint8Array, type: m.dtype }))];
      return { ptr: put(data), kind, rows, cols, bytes: data.byteLength };
    },
    vector: async ({ name }) => put(asBytes(await model.weights.f32(name, signal))),
    onProgress: p.onProgress,
  });
}
