/**
 * GGUF reading that trusts nothing in the file: magic and version, counts and string lengths
 * against what is left of the file, value types, tensor types, shapes, alignment, offsets inside
 * the data section and no overlaps. Only the header is read at open; tensors are read on demand.
 */
import type { FileHandle } from 'node:fs/promises';
import { AbortedError } from '../../errors.ts';
import { GgufInvalidError, ModelDtypeUnsupportedError } from '../errors.ts';
import { openModelFile, readFully } from '../safetensors.ts';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_TYPE, GGML_TYPES, ggmlTypeName, tensorBytes, tensorTypeOf, type GgufMetadata, type GgufScalarType, type GgufTensorType, type GgufValue } from './format.ts';

/** Largest header (metadata and tensor infos) the reader accepts: 512 MiB. */
export const MAX_GGUF_HEADER_BYTES = 512 * 2 ** 20;

/** One tensor of a GGUF file. */
export interface GgufTensorInfo {
  name: string;
  /** ggml order: `ne[0]` is the row length. */
  ne: number[];
  type: GgufTensorType;
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
}

/** An open GGUF file. */
export interface GgufFile {
  readonly path: string;
  readonly version: number;
  readonly metadata: GgufMetadata;
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;
  /** The tensor's bytes, as stored. */
  readBytes(name: string, signal?: AbortSignal): Promise<Uint8Array>;
  close(): Promise<void>;
}

const TYPE_NAMES = Object.fromEntries(Object.entries(GGUF_TYPE).map(([k, v]) => [v, k])) as Record<number, keyof typeof GGUF_TYPE>;
const SCALAR_BYTES: Record<Exclude<GgufScalarType, 'string'>, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8 };

/** Thrown by the cursor when the header runs past the bytes read so far. */
class NeedMore extends Error {}

/** Parameters of {@link parseGgufHeader}. */
export interface ParseGgufHeaderParameters {
  file: string;
  /** The file's first bytes (enough for the header, else {@link NeedMore} is thrown). */
  bytes: Uint8Array;
  fileSize: number;
}

/** Parses the header from `bytes`; throws `NeedMore` (internal) when `bytes` ends inside it. */
function parseHeader(p: ParseGgufHeaderParameters): { version: number; metadata: GgufMetadata; tensors: Map<string, GgufTensorInfo> } {
  const { file, bytes, fileSize } = p;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let at = 0;
  const need = (n: number) => {
    if (at + n > fileSize) throw new GgufInvalidError(file, `the header runs past the end of the file (${fileSize} bytes) at byte ${at}`);
    if (at + n > bytes.byteLength) throw new NeedMore();
  };
  const u32 = () => (need(4), (at += 4), view.getUint32(at - 4, true));
  const u64 = (what: string) => {
    need(8);
    const v = view.getBigUint64(at, true);
    at += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufInvalidError(file, `${what} ${v} is out of range`);
    return Number(v);
  };
  const str = (what: string) => {
    const n = u64(`the length of ${what}`);
    need(n);
    at += n;
    try {
      return decoder.decode(bytes.subarray(at - n, at));
    } catch {
      throw new GgufInvalidError(file, `${what} is not valid UTF-8`);
    }
  };
  const scalar = (type: Exclude<GgufScalarType, 'string'>): number | boolean => {
    need(SCALAR_BYTES[type]);
    const o = at;
    at += SCALAR_BYTES[type];
    switch (type) {
      case 'u8': return view.getUint8(o);
      case 'i8': return view.getInt8(o);
      case 'u16': return view.getUint16(o, true);
      case 'i16': return view.getInt16(o, true);
      case 'u32': return view.getUint32(o, true);
      case 'i32': return view.getInt32(o, true);
      case 'f32': return view.getFloat32(o, true);
      case 'f64': return view.getFloat64(o, true);
      case 'bool': return view.getUint8(o) !== 0;
      case 'u64': return Number(view.getBigUint64(o, true));
      case 'i64': return Number(view.getBigInt64(o, true));
    }
  };
  const typeOf = (key: string): keyof typeof GGUF_TYPE => {
    const id = u32();
    const t = TYPE_NAMES[id];
    if (t === undefined) throw new GgufInvalidError(file, `metadata "${key}" has unknown value type ${id}`);
    return t;
  };
  const value = (key: string): GgufValue => {
    const type = typeOf(key);
    if (type === 'string') return { type, value: str(`metadata "${key}"`) };
    if (type === 'bool') return { type, value: scalar(type) as boolean };
    if (type !== 'array') return { type, value: scalar(type) as number };
    const itemType = typeOf(key);
    const count = u64(`the length of array "${key}"`);
    if (itemType === 'array') throw new GgufInvalidError(file, `metadata "${key}" is an array of arrays, which openlora does not read`);
    if (itemType !== 'string') need(count * SCALAR_BYTES[itemType]);
    else if (count * 8 > fileSize - at) throw new GgufInvalidError(file, `array "${key}" of ${count} strings runs past the end of the file`);
    const items: unknown[] = [];
    for (let i = 0; i < count; i++) items.push(itemType === 'string' ? str(`item ${i} of "${key}"`) : scalar(itemType));
    return { type, itemType, value: items } as GgufValue;
  };

  need(24);
  if (view.getUint32(0, true) !== GGUF_MAGIC) throw new GgufInvalidError(file, `the magic is 0x${view.getUint32(0, true).toString(16)}, not "GGUF"`);
  at = 4;
  const version = u32();
  if (version !== 2 && version !== 3) throw new GgufInvalidError(file, `version ${version} is not supported (2 or 3)`);
  const tensorCount = u64('tensor_count');
  const kvCount = u64('metadata_kv_count');
  if (tensorCount > fileSize / 24 || kvCount > fileSize / 12) throw new GgufInvalidError(file, `${tensorCount} tensors and ${kvCount} metadata entries cannot fit in ${fileSize} bytes`);
  const metadata: GgufMetadata = new Map();
  for (let i = 0; i < kvCount; i++) {
    const key = str(`metadata key ${i}`);
    if (metadata.has(key)) throw new GgufInvalidError(file, `metadata "${key}" appears twice`);
    metadata.set(key, value(key));
  }
  const alignmentValue = metadata.get('general.alignment');
  const alignment = alignmentValue === undefined ? GGUF_DEFAULT_ALIGNMENT : alignmentValue.type === 'u32' ? alignmentValue.value : 0;
  if (!(alignment > 0 && (alignment & (alignment - 1)) === 0)) throw new GgufInvalidError(file, `general.alignment must be a u32 power of two, got ${JSON.stringify(alignmentValue)}`);
  const raw: { name: string; ne: number[]; type: GgufTensorType; relative: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = str(`tensor name ${i}`);
    if (names.has(name)) throw new GgufInvalidError(file, `tensor "${name}" appears twice`);
    names.add(name);
    const dims = u32();
    if (dims < 1 || dims > 4) throw new GgufInvalidError(file, `tensor "${name}" has ${dims} dimensions (1 to 4)`);
    const ne = Array.from({ length: dims }, () => u64(`a dimension of "${name}"`));
    const typeId = u32();
    const type = tensorTypeOf(typeId);
    if (!type) throw new ModelDtypeUnsupportedError(file, name, ggmlTypeName(typeId));
    const relative = u64(`the offset of "${name}"`);
    if (relative % alignment !== 0) throw new GgufInvalidError(file, `tensor "${name}" offset ${relative} is not a multiple of the alignment ${alignment}`);
    raw.push({ name, ne, type, relative });
  }
  const dataOffset = Math.ceil(at / alignment) * alignment;
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of raw) {
    const elements = t.ne.reduce((a, b) => a * b, 1);
    const byteLength = tensorBytes(t.type, t.ne[0], elements);
    if (byteLength === undefined) throw new GgufInvalidError(file, `tensor "${t.name}" rows of ${t.ne[0]} elements are not whole ${t.type} blocks of ${GGML_TYPES[t.type].blockElements}`);
    const offset = dataOffset + t.relative;
    if (offset + byteLength > fileSize) throw new GgufInvalidError(file, `tensor "${t.name}" [${offset}, ${offset + byteLength}) runs past the end of the file (${fileSize} bytes)`, { details: 'The file is probably truncated.' });
    tensors.set(t.name, { name: t.name, ne: t.ne, type: t.type, offset, byteLength });
  }
  const sorted = [...tensors.values()].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].offset < sorted[i - 1].offset + sorted[i - 1].byteLength) throw new GgufInvalidError(file, `tensors "${sorted[i - 1].name}" and "${sorted[i].name}" overlap`);
  }
  return { version, metadata, tensors };
}

/** Parameters of {@link openGguf}. */
export interface OpenGgufParameters {
  path: string;
  signal?: AbortSignal;
}

/** Opens and validates a GGUF file, reading only its header. */
export async function openGguf(p: OpenGgufParameters): Promise<GgufFile> {
  const { path } = p;
  const handle = await openModelFile(path);
  try {
    const fileSize = (await handle.stat()).size;
    let size = Math.min(fileSize, 4 * 2 ** 20);
    for (;;) {
      p.signal?.throwIfAborted();
      const bytes = new Uint8Array(size);
      await readFully(handle, bytes, 0);
      try {
        const header = parseHeader({ file: path, bytes, fileSize });
        return makeFile(handle, path, header);
      } catch (error) {
        if (!(error instanceof NeedMore)) throw error;
        if (size >= MAX_GGUF_HEADER_BYTES) throw new GgufInvalidError(path, `the header exceeds ${MAX_GGUF_HEADER_BYTES} bytes`);
        size = Math.min(fileSize, size * 4, MAX_GGUF_HEADER_BYTES);
      }
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
}

function makeFile(handle: FileHandle, path: string, header: ReturnType<typeof parseHeader>): GgufFile {
  let closed = false;
  return {
    path,
    ...header,
    async readBytes(name, signal) {
      if (signal?.aborted) throw new AbortedError(`Reading tensor "${name}"`, signal.reason);
      const t = header.tensors.get(name);
      if (!t) throw new GgufInvalidError(path, `it has no tensor "${name}"`);
      const bytes = new Uint8Array(new ArrayBuffer(t.byteLength));
      try {
        await readFully(handle, bytes, t.offset);
      } catch (error) {
        throw new GgufInvalidError(path, `reading tensor "${name}" failed`, { cause: error, details: (error as Error).message });
      }
      return bytes;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

/** A metadata value as a number (any numeric type), or undefined when absent; throws when it has another type. */
export function metaNumber(file: string, metadata: GgufMetadata, key: string): number | undefined {
  const v = metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type === 'array' || v.type === 'string' || v.type === 'bool') throw new GgufInvalidError(file, `metadata "${key}" must be a number, got ${v.type}`);
  return v.value;
}

/** A metadata string, or undefined when absent; throws when it has another type. */
export function metaString(file: string, metadata: GgufMetadata, key: string): string | undefined {
  const v = metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'string') throw new GgufInvalidError(file, `metadata "${key}" must be a string, got ${v.type}`);
  return v.value;
}
