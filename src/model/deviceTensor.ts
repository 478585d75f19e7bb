/**
 * The one rule for the dtype a weight matrix is held in on a backend, so that every backend
 * computes with the same values: the model's device dtype (f32, f16 or bf16), except that a
 * tensor with a finite value beyond ±65504 is held in f32 when the device dtype is f16 (its f16
 * copy would be infinite). bf16 checkpoints default to bf16 on the device (exact, same bytes as
 * f16). Norm gains and biases are always f32.
 */
import { bf16BitsToF32, bytesToF32, f16Table32, f32ArrayToHalfBits, F16_MAX, type DeviceDtype } from './dtype.ts';
import type { WeightStore } from './weights.ts';

/** A matrix in its device form: f32 values, or f16 / bf16 bits. */
export type DeviceMatrix = { dtype: 'f32'; data: Float32Array } | { dtype: 'f16' | 'bf16'; data: Uint16Array };

/** Parameters of {@link readDeviceMatrix}. */
export interface ReadDeviceMatrixParameters {
  weights: WeightStore;
  name: string;
  /** The model's device dtype. */
  dtype: DeviceDtype;
  signal?: AbortSignal;
}

/** Reads a matrix in the form the rule above gives it. */
export async function readDeviceMatrix(p: ReadDeviceMatrixParameters): Promise<DeviceMatrix> {
  const { weights, name, dtype, signal } = p;
  const fileDtype = weights.info(name).dtype;
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

/** The f32 values a device matrix holds (what the CPU reference computes with). */
export function deviceMatrixValues(m: DeviceMatrix): Float32Array {
  if (m.dtype === 'f32') return m.data;
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
