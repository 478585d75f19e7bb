/**
 * The one rule for the dtype a weight matrix is held in on a backend, so that every backend
 * computes with the same values: the model's device dtype (f32, f16 or bf16), except that a
 * tensor with a finite value beyond ±65504 is held in f32 when the device dtype is f16 (its f16
 * copy would be infinite). bf16 checkpoints default to bf16 on the device (exact, same bytes as
 * f16). Norm gains and biases are always f32.
 *
 * Quantized matrices (a GGUF file's Q8_0/Q4_0/Q4_K/Q6_K tensors, or `--quantize` at load, which
 * quantizes every matrix whose rows are whole blocks; Q4_K rows that are not whole 256-blocks
 * take Q4_0, as llama.cpp falls back to another type) stay in their blocks on a backend with
 * kernels for them (`keepQuantized`); elsewhere they are dequantized to f32, so every backend
 * computes with the same values.
 */
import { bf16BitsToF32, bytesToF32, f16Table32, f32ArrayToHalfBits, F16_MAX, type DeviceDtype } from './dtype.ts';
import { dequantize, fitsBlocks, isQuantType, quantize, type QuantizeType, type QuantType } from './quant/index.ts';
import type { WeightStore } from './weights.ts';
import { InternalError } from '../errors.ts';

/** A matrix in its device form: f32 values, f16 / bf16 bits, or ggml blocks (rows of whole blocks). */
export type DeviceMatrix = { dtype: 'f32'; data: Float32Array } | { dtype: 'f16' | 'bf16'; data: Uint16Array } | { dtype: QuantType; data: Uint8Array };

/** Parameters of {@link readDeviceMatrix}. */
export interface ReadDeviceMatrixParameters {
  weights: WeightStore;
  name: string;
  /** The model's device dtype. */
  dtype: DeviceDtype;
  /** Quantize float matrices at load (`--quantize`). */
  quantize?: QuantizeType;
  /** The backend has kernels for quantized blocks: return them as blocks (else dequantized to f32). */
  keepQuantized?: boolean;
  signal?: AbortSignal;
}

/** Reads a matrix in the form the rule above gives it. */
export async function readDeviceMatrix(p: ReadDeviceMatrixParameters): Promise<DeviceMatrix> {
  const { weights, name, dtype, signal } = p;
  const info = weights.info(name);
  const fileDtype = info.dtype;
  const cols = info.shape[info.shape.length - 1];
  let q: { dtype: QuantType; data: Uint8Array } | undefined;
  if (isQuantType(fileDtype)) q = { dtype: fileDtype, data: await weights.bytes(name, signal) };
  else if (p.quantize) {
    const type = quantizedTypeFor(p.quantize, cols);
    if (type) q = { dtype: type, data: quantize({ values: await weights.f32(name, signal), type }) };
  }
  if (q) return p.keepQuantized ? q : { dtype: 'f32', data: dequantize({ data: q.data, type: q.dtype }) };
  if (isQuantType(fileDtype)) throw new InternalError('unreachable: quantized tensors return above');
  if (dtype === 'f32') return { dtype, data: await weights.f32(name, signal) };
  if (dtype === 'f16' && fileDtype === 'F16') return { dtype, data: await weights.f16(name, signal) };
  const bytes = await weights.bytes(name, signal);
  if (dtype === 'bf16' && fileDtype === 'BF16') return { dtype, data: new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
  const values = bytesToF32(bytes, fileDtype);
  if (dtype === 'f16' && !fitsF16(values)) return { dtype: 'f32', data: values };
  return { dtype, data: f32ArrayToHalfBits(values, new Uint16Array(values.length), dtype === 'f16' ? 'F16' : 'BF16') };
}

/** True when every finite value's f16 copy is finite. */
export function fitsF16(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v > F16_MAX || v < -F16_MAX) {
      if (Number.isFinite(v)) return false;
    }
  }
  return true;
}

/** The format `--quantize type` gives a matrix with rows of `cols`: `type`, Q4_0 for Q4_K rows that are not whole 256-blocks, or undefined (kept in float). */
export function quantizedTypeFor(type: QuantizeType, cols: number): QuantType | undefined {
  if (fitsBlocks(type, cols)) return type;
  if (type === 'q4_k' && fitsBlocks('q4_0', cols)) return 'q4_0';
  return undefined;
}

/** The f32 values a device matrix holds (what the CPU reference computes with). */
export function deviceMatrixValues(m: DeviceMatrix): Float32Array {
  if (m.dtype === 'f32') return m.data;
  if (isQuantType(m.dtype)) return dequantize({ data: m.data as Uint8Array, type: m.dtype });
  const out = new Float32Array(m.data.length);
  if (m.dtype === 'f16') {
    const table = f16Table32();
    for (let i = 0; i < out.length; i++) out[i] = table[m.data[i]];
  } else {
    for (let i = 0; i < out.length; i++) out[i] = bf16BitsToF32(m.data[i]);
  }
  return out;
}

/** The device dtype of a model whose config.json says `torchDtype`: its own. */
export function defaultDeviceDtype(torchDtype: 'float32' | 'float16' | 'bfloat16'): DeviceDtype {
  return torchDtype === 'float32' ? 'f32' : torchDtype === 'float16' ? 'f16' : 'bf16';
}
