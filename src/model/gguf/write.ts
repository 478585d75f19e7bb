/**
 * Streaming GGUF writer (version 3): the header is computed from declared shapes and types, then
 * each tensor's bytes are produced and written one at a time, aligned to `general.alignment`.
 */
import { open } from 'node:fs/promises';
import { AbortedError, InternalError } from '../../errors.ts';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_TYPE, GGUF_VERSION, GGML_TYPES, tensorBytes, type GgufMetadata, type GgufScalarType, type GgufTensorType, type GgufValue } from './format.ts';

/** One tensor to write. */
export interface GgufWriteTensor {
  name: string;
  /** PyTorch order (`[out, in]`); written reversed as ggml's `ne`. */
  shape: readonly number[];
  type: GgufTensorType;
  /** The tensor's bytes in `type`, whole or in chunks; called when the tensor is written. */
  data: () => Uint8Array | Iterable<Uint8Array> | Promise<Uint8Array>;
}

/** Parameters of {@link writeGguf}. */
export interface WriteGgufParameters {
  path: string;
  metadata: GgufMetadata;
  tensors: readonly GgufWriteTensor[];
  /** Called after each tensor with bytes written so far and the total. */
  onProgress?: (written: number, total: number) => void;
  signal?: AbortSignal;
}

/** Serializes header fields. */
class HeaderWriter {
  private chunks: Uint8Array[] = [];
  length = 0;
  private push(b: Uint8Array) {
    this.chunks.push(b);
    this.length += b.byteLength;
  }
  u32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.push(b);
  }
  u64(v: number) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.push(b);
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.byteLength);
    this.push(b);
  }
  scalar(type: Exclude<GgufScalarType, 'string'>, v: number | boolean) {
    const size = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8 }[type];
    const b = new Uint8Array(size);
    const d = new DataView(b.buffer);
    const n = Number(v);
    if (type !== 'bool' && type !== 'f32' && type !== 'f64' && !Number.isInteger(n)) throw new InternalError(`GGUF ${type} value ${v} is not an integer`);
    switch (type) {
      case 'u8': d.setUint8(0, n); break;
      case 'i8': d.setInt8(0, n); break;
      case 'u16': d.setUint16(0, n, true); break;
      case 'i16': d.setInt16(0, n, true); break;
      case 'u32': d.setUint32(0, n, true); break;
      case 'i32': d.setInt32(0, n, true); break;
      case 'f32': d.setFloat32(0, n, true); break;
      case 'f64': d.setFloat64(0, n, true); break;
      case 'bool': d.setUint8(0, v ? 1 : 0); break;
      case 'u64': d.setBigUint64(0, BigInt(n), true); break;
      case 'i64': d.setBigInt64(0, BigInt(n), true); break;
    }
    this.push(b);
  }
  value(v: GgufValue) {
    this.u32(GGUF_TYPE[v.type]);
    if (v.type === 'string') return this.str(v.value);
    if (v.type !== 'array') return this.scalar(v.type, v.value);
    this.u32(GGUF_TYPE[v.itemType]);
    this.u64(v.value.length);
    for (const item of v.value) {
      if (v.itemType === 'string') this.str(item as string);
      else this.scalar(v.itemType, item as number | boolean);
    }
  }
  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}

/** Writes a GGUF v3 file. Tensor rows must be whole blocks of their type. */
export async function writeGguf(p: WriteGgufParameters): Promise<void> {
  const metadata = new Map(p.metadata);
  const alignmentValue = metadata.get('general.alignment');
  const alignment = alignmentValue?.type === 'u32' ? alignmentValue.value : GGUF_DEFAULT_ALIGNMENT;
  const h = new HeaderWriter();
  h.u32(GGUF_MAGIC);
  h.u32(GGUF_VERSION);
  h.u64(p.tensors.length);
  h.u64(metadata.size);
  for (const [key, value] of metadata) {
    h.str(key);
    h.value(value);
  }
  let offset = 0;
  const layout = p.tensors.map((t) => {
    const ne = [...t.shape].reverse();
    const elements = ne.reduce((a, b) => a * b, 1);
    const byteLength = tensorBytes(t.type, ne[0], elements);
    if (byteLength === undefined) throw new InternalError(`tensor ${t.name}: rows of ${ne[0]} are not whole ${t.type} blocks of ${GGML_TYPES[t.type].blockElements}`);
    const at = offset;
    offset = Math.ceil((offset + byteLength) / alignment) * alignment;
    h.str(t.name);
    h.u32(ne.length);
    for (const n of ne) h.u64(n);
    h.u32(GGML_TYPES[t.type].id);
    h.u64(at);
    return { tensor: t, at, byteLength };
  });
  const header = h.bytes();
  const dataOffset = Math.ceil(header.byteLength / alignment) * alignment;
  const total = dataOffset + offset;
  const file = await open(p.path, 'w');
  try {
    await file.write(header, 0, header.byteLength, 0);
    let written = dataOffset;
    for (const { tensor, at, byteLength } of layout) {
      if (p.signal?.aborted) throw new AbortedError(`Writing ${p.path}`, p.signal.reason);
      const data = await tensor.data();
      let position = dataOffset + at;
      let count = 0;
      for (const chunk of data instanceof Uint8Array ? [data] : data) {
        count += chunk.byteLength;
        if (count > byteLength) break;
        await file.write(chunk, 0, chunk.byteLength, position);
        position += chunk.byteLength;
      }
      if (count !== byteLength) throw new InternalError(`tensor ${tensor.name} produced ${count} bytes, its shape and type need ${byteLength}`);
      written = dataOffset + at + byteLength;
      p.onProgress?.(written, total);
    }
    if (written < total) await file.truncate(total);
  } finally {
    await file.close();
  }
}
