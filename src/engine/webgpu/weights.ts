/**
 * The model's weights on the device, as its recipe names them: matrices in their device dtype
 * (`src/model/deviceTensor.ts`: f32, f16 or bf16; f16 tensors out of range stay f32) with rows
 * zero-padded to a multiple of 8 elements, split into row chunks that each fit one storage
 * binding; norm gains and biases as f32 buffers.
 */
import type { LoadProgress } from '../backend.ts';
import { loadModelWeights, type ModelWeights } from '../loadWeights.ts';
import type { ModelConfig } from '../../model/config.ts';
import { readDeviceMatrix, type DeviceMatrix } from '../../model/deviceTensor.ts';
import type { DeviceDtype } from '../../model/dtype.ts';
import type { WeightStore } from '../../model/weights.ts';
import type { QuantizeType } from '../../model/quant/formats.ts';
import { InternalError } from '../../errors.ts';

/** A row-major matrix on the GPU, split into row chunks that each fit one storage binding. */
export interface GpuMatrix {
  /** `[rows, cols]` of the whole matrix. */
  rows: number;
  cols: number;
  /** Elements between rows on the device: cols rounded up to 8, the padding zero. */
  stride: number;
  dtype: DeviceDtype;
  /** Chunks in row order; chunk i holds rows [rowStart, rowStart + rowCount). `// [rowCount, stride]` */
  chunks: { buffer: GPUBuffer; rowStart: number; rowCount: number }[];
}

/** All weights of a model on the device, by tensor name. */
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
  dtype: DeviceDtype;
  /** `--quantize` at load (matrices then hold their dequantized values, as on the CPU). */
  quantize?: QuantizeType;
  /** Largest storage binding in bytes (`maxStorageBufferBindingSize`). */
  maxBindingBytes: number;
  onProgress?: LoadProgress;
  signal?: AbortSignal;
}

/** Creates a buffer holding `data` (STORAGE | COPY_DST); sizes are padded to 16 bytes. */
export function createDataBuffer(device: GPUDevice, label: string, data: ArrayBufferView): GPUBuffer {
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
  const buffer = device.createBuffer({ label, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buffer.unmap();
  return buffer;
}

/** Elements per device row of a matrix, or of an activation buffer, with `cols` columns (the linear kernel reads 8 at a time; the padding is zero). */
export function matrixStride(cols: number): number {
  return Math.ceil(cols / 8) * 8;
}

/** Uploads `[rows, cols]` values as a {@link GpuMatrix}, rows zero-padded to {@link matrixStride}, split by `maxBindingBytes`. */
export function uploadMatrix(device: GPUDevice, label: string, m: DeviceMatrix, rows: number, cols: number, maxBindingBytes: number): GpuMatrix {
  if (m.dtype !== 'f32' && m.dtype !== 'f16' && m.dtype !== 'bf16') throw new InternalError(`${label}: quantized ${m.dtype} blocks reached WebGPU, which reads them dequantized (readDeviceMatrix without keepQuantized)`);
  const stride = matrixStride(cols);
  let data: Float32Array | Uint16Array = m.data;
  if (stride !== cols) {
    data = m.dtype === 'f32' ? new Float32Array(rows * stride) : new Uint16Array(rows * stride);
    for (let r = 0; r < rows; r++) data.set(m.data.subarray(r * cols, (r + 1) * cols), r * stride);
  }
  const rowsPerChunk = Math.max(1, Math.floor(maxBindingBytes / (stride * data.BYTES_PER_ELEMENT)));
  const chunks: GpuMatrix['chunks'] = [];
  for (let rowStart = 0; rowStart < rows; rowStart += rowsPerChunk) {
    const rowCount = Math.min(rowsPerChunk, rows - rowStart);
    const part = data.subarray(rowStart * stride, (rowStart + rowCount) * stride);
    chunks.push({ buffer: createDataBuffer(device, `${label}[${rowStart}]`, part), rowStart, rowCount });
  }
  return { rows, cols, stride, dtype: m.dtype, chunks };
}

/** Reads every tensor of the model's recipe from `weights` and uploads it. */
export async function uploadWeights(p: UploadWeightsParameters): Promise<GpuWeights> {
  const { device, weights, dtype, maxBindingBytes, signal } = p;
  const buffers: GPUBuffer[] = [];
  let bytes = 0;
  const model = await loadModelWeights<GpuMatrix, GPUBuffer>({
    config: p.config,
    matrix: async ({ name, shape: [rows, cols] }) => {
      const data = await readDeviceMatrix({ weights, name, dtype, quantize: p.quantize, signal });
      const m = uploadMatrix(device, name, data, rows, cols, maxBindingBytes);
      for (const c of m.chunks) buffers.push(c.buffer);
      bytes += data.data.byteLength;
      return m;
    },
    vector: async ({ name }) => {
      const data = await weights.f32(name, signal);
      const b = createDataBuffer(device, name, data);
      buffers.push(b);
      bytes += data.byteLength;
      return b;
    },
    onProgress: p.onProgress,
  });
  return {
    ...model,
    bytes,
    destroy() {
      for (const b of buffers) b.destroy();
    },
  };
}
