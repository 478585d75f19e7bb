/**
 * The model's weights on the device, as its fused recipe (`src/model/arch/fuse.ts`) reads them:
 * matrices in their device dtype (`src/model/deviceTensor.ts`: f32, f16 or bf16; f16 tensors out of
 * range stay f32) with rows zero-padded to a multiple of 8 elements, split into row chunks that
 * each fit one storage binding. Sibling projections that the recipe fuses are uploaded as one
 * matrix, their rows stacked in member order (in f32 when the members' dtypes differ). Each fused
 * projection gets one small f32 `vecs` buffer with its prologue's norm gain (`offset + w`) and its
 * members' biases. Norm gains and biases the recipe uses elsewhere are f32 buffers of their own.
 */
import type { LoadProgress } from '../backend.ts';
import { loadModelWeights } from '../loadWeights.ts';
import { EngineShapeUnsupportedError } from '../errors.ts';
import type { ModelConfig } from '../../model/config.ts';
import type { FusedLinearOp, FusedRecipe } from '../../model/arch/fuse.ts';
import { deviceMatrixValues, readDeviceMatrix, type DeviceMatrix } from '../../model/deviceTensor.ts';
import type { DeviceDtype } from '../../model/dtype.ts';
import type { WeightStore } from '../../model/weights.ts';
import { isQuantType, type QuantizeType, type QuantType } from '../../model/quant/formats.ts';
import { ROW_GROUP_ROWS, q4RowGroupRowWords, quantRowWords, repackBlocks, repackQ4RowGroups } from './quantLayout.ts';
import type { LinearShape } from './linearPlan.ts';

/** A row-major matrix on the GPU, split into row chunks that each fit one storage binding. */
export interface GpuMatrix {
  /** `[rows, cols]` of the whole matrix. */
  rows: number;
  cols: number;
  /** Elements of a device row: cols rounded up to 8 (the padding zero), or cols for quantized rows (whole blocks). */
  stride: number;
  /** f32, f16, bf16, or ggml blocks repacked for the kernels (quantLayout.ts). */
  dtype: DeviceDtype | QuantType;
  /** Bytes on the device. */
  bytes: number;
  /**
   * In groups of 4 rows instead of row by row (chunks start at multiples of 4 rows): Q4_0 as
   * quantLayout.ts `repackQ4RowGroups` lays it out, f16 and bf16 as {@link repackHalfRowGroups}.
   */
  rowGroups?: boolean;
  /** Chunks in row order; chunk i holds rows [rowStart, rowStart + rowCount). `// [rowCount, stride]` */
  chunks: { buffer: GPUBuffer; rowStart: number; rowCount: number }[];
}

/** A fused projection's vectors: `// [stride(cols)] gain (offset + w), then [rows] bias` f32, each part where given. */
export interface GpuOpVectors {
  buffer: GPUBuffer;
  /** Element of the norm gain's first value (multiple of 4), when the op has a norm prologue. */
  normAt?: number;
  /** Element of the first member's first bias value, when a member has a bias. */
  biasAt?: number;
}

/** All weights of a model on the device. */
export interface GpuWeights {
  /** The fused recipe the weights were laid out for. */
  recipe: FusedRecipe;
  /** A matrix by fused key (`FusedLinearOp.key`) or tensor name; a fused member's name gives its fused matrix. */
  matrix(name: string): GpuMatrix;
  /** First row of tensor `name` in `matrix(name)` (0 unless it was fused with siblings). */
  firstRow(name: string): number;
  /** A norm gain or bias by tensor name. */
  vector(name: string): GPUBuffer;
  /** The vectors of a fused projection (a dummy buffer when it has neither norm nor bias). */
  opVectors(op: FusedLinearOp): GpuOpVectors;
  /** Bytes of all weights on the device. */
  bytes: number;
  destroy(): void;
}

/** Parameters of {@link uploadWeights}. */
export interface UploadWeightsParameters {
  device: GPUDevice;
  config: ModelConfig;
  /** The fused recipe of the model (what the forward pass runs). */
  recipe: FusedRecipe;
  weights: WeightStore;
  dtype: DeviceDtype;
  /** `--quantize` at load: matrices whose rows are whole blocks are quantized (and kept in blocks). */
  quantize?: QuantizeType;
  /** Which matrices go in groups of 4 rows (`LinearShape.q4RowGroups`, `halfRowGroups`: lavapipe's decode tiles). */
  layout?: MatrixLayout;
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

/** The layouts in groups of 4 rows a device's kernels read (its {@link LinearShape}); absent: every matrix by rows. */
export type MatrixLayout = Pick<LinearShape, 'q4RowGroups' | 'halfRowGroups'>;

/** Whether a matrix of `dtype` goes in groups of 4 rows under `layout`. */
export function inRowGroups(layout: MatrixLayout, dtype: DeviceDtype | QuantType): boolean {
  return dtype === 'q4_0' ? layout.q4RowGroups === true : (dtype === 'f16' || dtype === 'bf16') && layout.halfRowGroups === true;
}

/**
 * f16 or bf16 rows of `stride` halves (a multiple of 8) in groups of 4 rows: per group and chunk of
 * 8 halves, the 4 rows' chunks one after the other, so the one-row decode tile on lavapipe, whose
 * lanes each take 4 weight rows, reads one contiguous 64 bytes per lane and chunk instead of 16
 * bytes from each of 4 rows (shaders/matrix.wgsl HR4). Rows past `rows` (to a multiple of 4) are
 * zeros. `rowAt(r)` gives row r's values (`stride` of them). `// [ceil(rows / 4), stride / 8, 4, 8]`
 */
export function repackHalfRowGroups(rows: number, stride: number, rowAt: (r: number) => Uint16Array): Uint16Array {
  const g = ROW_GROUP_ROWS;
  const out = new Uint16Array(Math.ceil(rows / g) * g * stride);
  // Moved as u32 words, 4 per chunk (2.3x faster than a `set` per chunk on a 57 MB matrix).
  const o = new Uint32Array(out.buffer);
  const words = stride / 2;
  for (let r = 0; r < rows; r++) {
    const row = rowAt(r);
    const src = row.byteOffset % 4 === 0 ? new Uint32Array(row.buffer, row.byteOffset, words) : new Uint32Array(row.slice(0, stride).buffer);
    let at = Math.floor(r / g) * g * words + (r % g) * 4;
    for (let c = 0; c < words; c += 4, at += g * 4) {
      o[at] = src[c];
      o[at + 1] = src[c + 1];
      o[at + 2] = src[c + 2];
      o[at + 3] = src[c + 3];
    }
  }
  return out;
}

/**
 * Uploads a `[rows, cols]` matrix as a {@link GpuMatrix}: float rows zero-padded to {@link matrixStride}, quantized rows repacked;
 * Q4_0, f16 and bf16 in groups of 4 rows where `layout` says so; split by `maxBindingBytes`.
 */
export function uploadMatrix(device: GPUDevice, label: string, m: DeviceMatrix, rows: number, cols: number, maxBindingBytes: number, layout: MatrixLayout = {}): GpuMatrix {
  let data: Float32Array | Uint16Array | Uint32Array;
  let stride: number;
  let rowUnits: number; // elements of `data` per row
  const groups = inRowGroups(layout, m.dtype);
  const align = groups ? ROW_GROUP_ROWS : 1; // chunks start at multiples of this many rows
  if (groups && m.dtype === 'q4_0') {
    stride = cols;
    data = repackQ4RowGroups(m.data as Uint8Array, rows, cols);
    rowUnits = q4RowGroupRowWords(cols);
  } else if (isQuantType(m.dtype)) {
    stride = cols;
    data = repackBlocks(m.dtype, m.data as Uint8Array, rows * cols, cols);
    rowUnits = quantRowWords(m.dtype, cols);
  } else {
    stride = matrixStride(cols);
    const values = m.data as Float32Array | Uint16Array;
    data = values;
    if (groups) {
      const padded = new Uint16Array(stride);
      data = repackHalfRowGroups(rows, stride, (r) => {
        const row = (values as Uint16Array).subarray(r * cols, (r + 1) * cols);
        if (stride === cols) return row;
        padded.set(row);
        return padded;
      });
    } else if (stride !== cols) {
      data = m.dtype === 'f32' ? new Float32Array(rows * stride) : new Uint16Array(rows * stride);
      for (let r = 0; r < rows; r++) data.set(values.subarray(r * cols, (r + 1) * cols), r * stride);
    }
    rowUnits = stride;
  }
  const rowsPerChunk = Math.max(align, Math.floor(maxBindingBytes / (rowUnits * data.BYTES_PER_ELEMENT) / align) * align);
  const chunks: GpuMatrix['chunks'] = [];
  for (let rowStart = 0; rowStart < rows; rowStart += rowsPerChunk) {
    const rowCount = Math.min(rowsPerChunk, rows - rowStart);
    const part = data.subarray(rowStart * rowUnits, Math.ceil((rowStart + rowCount) / align) * align * rowUnits);
    chunks.push({ buffer: createDataBuffer(device, `${label}[${rowStart}]`, part), rowStart, rowCount });
  }
  return { rows, cols, stride, dtype: m.dtype, bytes: data.byteLength, chunks, ...(groups ? { rowGroups: true } : {}) };
}

/**
 * Overwrites rows `firstRow ..` of a float matrix on the device with `values` (`[count, stride]`,
 * in the matrix's own element type: f32, or f16 / bf16 bits), in either layout: by rows one write
 * per row chunk, in groups of 4 rows one write per whole group and one per 16-byte piece of the
 * rows of a group the range only partly covers (their neighbours stay as they are).
 */
export function writeMatrixRows(device: GPUDevice, m: GpuMatrix, firstRow: number, values: Float32Array | Uint16Array): void {
  if (isQuantType(m.dtype)) throw new RangeError(`writeMatrixRows: ${m.dtype} matrices are blocks; only f32, f16 and bf16 rows can be written`);
  if ((m.dtype === 'f32') !== (values instanceof Float32Array)) throw new RangeError(`writeMatrixRows: a ${m.dtype} matrix takes ${m.dtype === 'f32' ? 'a Float32Array' : 'the halves\' bits in a Uint16Array'}, got a ${values.constructor.name}`);
  const count = values.length / m.stride;
  if (!Number.isInteger(count) || firstRow < 0 || firstRow + count > m.rows) throw new RangeError(`writeMatrixRows: ${values.length} values are not whole rows of ${m.stride} within rows ${firstRow}.. of ${m.rows}`);
  const bytes = values.BYTES_PER_ELEMENT;
  for (const chunk of m.chunks) {
    const from = Math.max(firstRow, chunk.rowStart);
    const to = Math.min(firstRow + count, chunk.rowStart + chunk.rowCount);
    if (from >= to) continue;
    const rowsOf = (a: number, b: number) => values.subarray((a - firstRow) * m.stride, (b - firstRow) * m.stride);
    if (m.rowGroups !== true) {
      device.queue.writeBuffer(chunk.buffer, (from - chunk.rowStart) * m.stride * bytes, rowsOf(from, to));
      continue;
    }
    const g = ROW_GROUP_ROWS;
    const whole = [Math.ceil(from / g) * g, Math.floor(to / g) * g];
    if (whole[0] < whole[1]) {
      const grouped = repackHalfRowGroups(whole[1] - whole[0], m.stride, (r) => rowsOf(whole[0] + r, whole[0] + r + 1) as Uint16Array);
      device.queue.writeBuffer(chunk.buffer, (whole[0] - chunk.rowStart) * m.stride * bytes, grouped);
    }
    for (let r = from; r < to; r++) {
      if (r >= whole[0] && r < whole[1]) continue;
      const row = rowsOf(r, r + 1);
      const base = (Math.floor((r - chunk.rowStart) / g) * g * m.stride + ((r - chunk.rowStart) % g) * 8) * bytes;
      for (let c = 0; c < m.stride / 8; c++) device.queue.writeBuffer(chunk.buffer, base + c * g * 8 * bytes, row.subarray(c * 8, c * 8 + 8));
    }
  }
}

/** Members' matrices stacked by rows, in one dtype (theirs, or f32 values when they differ). */
export function stackMatrices(parts: readonly DeviceMatrix[]): DeviceMatrix {
  if (parts.length === 1) return parts[0];
  const same = parts.every((p) => p.dtype === parts[0].dtype);
  const dtype = same ? parts[0].dtype : 'f32';
  const arrays = parts.map((p) => (same ? p.data : deviceMatrixValues(p)));
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const out = dtype === 'f32' ? new Float32Array(total) : isQuantType(dtype) ? new Uint8Array(total) : new Uint16Array(total);
  let at = 0;
  for (const a of arrays) {
    out.set(a as never, at);
    at += a.length;
  }
  return { dtype, data: out } as DeviceMatrix;
}

/** Reads every tensor of the model and uploads it as the fused recipe lays it out. */
export async function uploadWeights(p: UploadWeightsParameters): Promise<GpuWeights> {
  const { device, weights, dtype, maxBindingBytes, signal, recipe } = p;
  const buffers: GPUBuffer[] = [];
  let bytes = 0;
  const fusedOps = recipe.layers.flat().filter((op): op is FusedLinearOp => op.op === 'linear');
  const groupOf = new Map<string, FusedLinearOp>();
  for (const op of fusedOps) if (op.members.length > 1) for (const m of op.members) groupOf.set(m.weight.name, op);
  const pending = new Map<string, Map<string, DeviceMatrix>>(); // op key -> member name -> matrix
  const matrices = new Map<string, GpuMatrix>();
  const firstRows = new Map<string, number>();
  const host = new Map<string, Float32Array>(); // vectors an op's `vecs` needs
  const needed = new Set<string>();
  for (const op of fusedOps) {
    if (op.norm) needed.add(op.norm.weight.name);
    for (const m of op.members) if (m.bias) needed.add(m.bias.name);
  }

  const upload = (name: string, m: DeviceMatrix, rows: number, cols: number): GpuMatrix => {
    const g = uploadMatrix(device, name, m, rows, cols, maxBindingBytes, p.layout);
    for (const c of g.chunks) buffers.push(c.buffer);
    bytes += g.bytes;
    return g;
  };
  const model = await loadModelWeights<GpuMatrix | undefined, GPUBuffer>({
    config: p.config,
    matrix: async ({ name, shape: [rows, cols] }) => {
      const data = await readDeviceMatrix({ weights, name, dtype, quantize: p.quantize, keepQuantized: true, signal });
      const op = groupOf.get(name);
      if (!op) {
        const m = upload(name, data, rows, cols);
        matrices.set(name, m);
        return m;
      }
      const parts = pending.get(op.key) ?? new Map<string, DeviceMatrix>();
      parts.set(name, data);
      pending.set(op.key, parts);
      if (parts.size < op.members.length) return undefined;
      pending.delete(op.key);
      const m = upload(op.key, stackMatrices(op.members.map((x) => parts.get(x.weight.name)!)), op.rows, op.cols);
      if (op.glu && m.chunks.length > 1) throw new EngineShapeUnsupportedError(op.key, `its gate and up rows (${op.rows} x ${op.cols}, ${m.dtype}) do not fit one ${maxBindingBytes}-byte storage binding`);
      matrices.set(op.key, m);
      for (const x of op.members) {
        matrices.set(x.weight.name, m);
        firstRows.set(x.weight.name, x.column);
      }
      return m;
    },
    vector: async ({ name }) => {
      const data = await weights.f32(name, signal);
      if (needed.has(name)) host.set(name, data);
      const b = createDataBuffer(device, name, data);
      buffers.push(b);
      bytes += data.byteLength;
      return b;
    },
    onProgress: p.onProgress,
  });

  const empty = createDataBuffer(device, 'vecs.none', new Float32Array(4));
  buffers.push(empty);
  const opVectors = new Map<string, GpuOpVectors>();
  for (const op of fusedOps) {
    const hasBias = op.members.some((m) => m.bias);
    if (!op.norm && !hasBias) continue;
    const gainLength = op.norm ? matrixStride(op.cols) : 0;
    const values = new Float32Array(gainLength + (hasBias ? op.rows : 0));
    if (op.norm) {
      const w = host.get(op.norm.weight.name)!;
      for (let i = 0; i < op.cols; i++) values[i] = op.norm.weightOffset + w[i];
    }
    for (const m of op.members) if (m.bias) values.set(host.get(m.bias.name)!, gainLength + m.column);
    const buffer = createDataBuffer(device, `${op.key}.vecs`, values);
    buffers.push(buffer);
    opVectors.set(op.key, { buffer, normAt: op.norm ? 0 : undefined, biasAt: hasBias ? gainLength : undefined });
  }

  return {
    recipe,
    bytes,
    matrix(name) {
      const m = matrices.get(name);
      if (!m) return model.matrix(name)!; // throws the loader's error for unknown names
      return m;
    },
    firstRow: (name) => firstRows.get(name) ?? 0,
    vector: (name) => model.vector(name),
    opVectors: (op) => opVectors.get(op.key) ?? { buffer: empty },
    destroy() {
      for (const b of buffers) b.destroy();
    },
  };
}
