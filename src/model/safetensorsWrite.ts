/**
 * Streaming safetensors writer: the header is computed from declared shapes, then each tensor's
 * bytes are produced and written one at a time, so large models never sit whole in memory.
 */
import { open } from 'node:fs/promises';
import { DTYPE_BYTES, type SafetensorsDtype } from './dtype.ts';
import { AbortedError, InternalError } from '../errors.ts';

/** One tensor to write: declared shape and dtype, and its data (bytes, or chunks of bytes). */
export interface SafetensorsWriteTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** Little-endian bytes of `dtype`, whole or as chunks; called when the tensor is written. */
  data: () => Uint8Array | Iterable<Uint8Array>;
}

/** Parameters of {@link writeSafetensors}. */
export interface WriteSafetensorsParameters {
  path: string;
  /** Written in this order. */
  tensors: readonly SafetensorsWriteTensor[];
  metadata?: Record<string, string>;
  /** Called after each tensor with bytes written so far and the total. */
  onProgress?: (written: number, total: number, tensor: string) => void;
  signal?: AbortSignal;
}

/** Writes a safetensors file; the header is padded with spaces to an 8-byte boundary (as HF does). */
export async function writeSafetensors(p: WriteSafetensorsParameters): Promise<void> {
  const header: Record<string, unknown> = {};
  if (p.metadata) header.__metadata__ = p.metadata;
  let offset = 0;
  for (const t of p.tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  const total = offset;
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - ((8 + json.length) % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const handle = await open(p.path, 'w');
  try {
    await handle.write(len);
    await handle.write(json);
    let written = 0;
    for (const t of p.tensors) {
      if (p.signal?.aborted) throw new AbortedError(`Writing ${p.path}`, p.signal.reason);
      const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
      const data = t.data();
      let got = 0;
      for (const chunk of data instanceof Uint8Array ? [data] : data) {
        await handle.write(chunk);
        got += chunk.byteLength;
      }
      if (got !== expected) throw new InternalError(`tensor "${t.name}" produced ${got} bytes, its shape needs ${expected}`);
      written += got;
      p.onProgress?.(written, total, t.name);
    }
  } finally {
    await handle.close();
  }
}
