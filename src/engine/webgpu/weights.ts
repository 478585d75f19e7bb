import type { LoadProgress } from '../backend.ts';
import { loadModelWeights, type LayerWeights, type ModelWeights } from '../loadWeights.ts';
import type { ModelConfig } from '../../model/config.ts';
import type { WeightStore } from '../../model/weights.ts';
import { EngineShapeUnsupportedError } from '../errors.ts';

/** A row-major matrix on the GPU, split into row chunks that each fit one storage binding. */
export interface GpuMatrix {
  /** `[rows, cols]` of the whole matrix. */
  rows: number;
  cols: number;
  dtype: 'f32' | 'f16';
  /** Chunks in row order; chunk i holds rows [rowStart, rowStart + rowCount). `// [rowCount, cols]` */
  chunks: { buffer: GPUBuffer; rowStart: number; rowCount: number }[];
}

/** One decoder layer's weights. Norm gains and biases are f32. */
export type GpuLayer = LayerWeights<GpuMatrix, GPUBuffer>;

/** All weights of a model on the device. */
export interface GpuWeights extends ModelWeights<GpuMatrix, GPUBuffer> {
  /** Bytes of all weights on the device. */
  bytes: number;
  destroy(): void;
}

/** Parameters of {@link uploadWeights}. */
export interface UploadWeightsParameters {
  device: GPUDevice;
  config: ModelConfig;
  weights: WeightStore;
  dtype: 'f32' | 'f16';
  /** Largest storage binding in bytes (`maxStorageBufferBindingSize`). */
  maxBindingBytes: number;
  onProgress?: LoadProgress;
  signal?: AbortSignal;
}

/** Creates a buffer holding `data` (STORAGE | COPY_DST); sizes are padded to 4 bytes. */
export function createDataBuffer(device: GPUDevice, label: string, data: ArrayBufferView): GPUBuffer {
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
  const buffer = device.createBuffer({ label, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buffer.unmap();
  return buffer;
}

/** Uploads `[rows, cols]` values (f32 or f16 bits) as a {@link GpuMatrix} split by `maxBindingBytes`. */
export function uploadMatrix(device: GPUDevice, label: string, data: Float32Array | Uint16Array, rows: number, cols: number, maxBindingBytes: number): GpuMatrix {
  const dtype = data instanceof Float32Array ? 'f32' : 'f16';
  const elementBytes = dtype === 'f32' ? 4 : 2;
  if (cols % 8 !== 0) throw new EngineShapeUnsupportedError(label, `inner size ${cols} is not a multiple of 8`);
  const rowsPerChunk = Math.max(1, Math.floor(maxBindingBytes / (cols * elementBytes)));
  const chunks: GpuMatrix['chunks'] = [];
  for (let rowStart = 0; rowStart < rows; rowStart += rowsPerChunk) {
    const rowCount = Math.min(rowsPerChunk, rows - rowStart);
    const part = data.subarray(rowStart * cols, (rowStart + rowCount) * cols);
    chunks.push({ buffer: createDataBuffer(device, `${label}[${rowStart}]`, part), rowStart, rowCount });
  }
  return { rows, cols, dtype, chunks };
}

/** Reads every tensor of the model from `weights` and uploads it in `dtype` (norms and biases f32). */
export async function uploadWeights(p: UploadWeightsParameters): Promise<GpuWeights> {
  const { device, config, weights, dtype, maxBindingBytes, signal } = p;
  const buffers: GPUBuffer[] = [];
  let bytes = 0;
  const matrix = async (name: string, rows: number, cols: number): Promise<GpuMatrix> => {
    const data = dtype === 'f16' ? await weights.f16(name, signal) : await weights.f32(name, signal);
    const m = uploadMatrix(device, name, data, rows, cols, maxBindingBytes);
    for (const c of m.chunks) buffers.push(c.buffer);
    bytes += data.byteLength;
    return m;
  };
  const vector = async (name: string): Promise<GPUBuffer> => {
    const data = await weights.f32(name, signal);
    const b = createDataBuffer(device, name, data);
    buffers.push(b);
    bytes += data.byteLength;
    return b;
  };
  const model = await loadModelWeights({ config, matrix, vector, onProgress: p.onProgress });
  return {
    ...model,
    bytes,
    destroy() {
      for (const b of buffers) b.destroy();
    },
  };
}
