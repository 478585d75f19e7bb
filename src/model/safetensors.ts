/**
 * safetensors reading that trusts nothing in the file: header length against file size, JSON
 * validity, dtype, shape × dtype size against byte length, offsets inside the data section, no
 * overlapping ranges. Tensors are read lazily through a file handle, never the whole file.
 *
 * Format: `u64 LE n`, `n` bytes of JSON `{ name: { dtype, shape, data_offsets: [begin, end] },
 * "__metadata__"?: { string: string } }`, then the data section; offsets are relative to it.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { bytesToF16Bits, bytesToF32, DTYPE_BYTES, isSafetensorsDtype, type SafetensorsDtype } from './dtype.ts';
import { ModelDtypeUnsupportedError, ModelFileNotFoundError, SafetensorsInvalidError } from './errors.ts';
import { AbortedError } from '../errors.ts';

/** Largest header the reader accepts (the reference implementation's limit, 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor's entry in a safetensors header. */
export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offset in the file (header included). */
  offset: number;
  byteLength: number;
}

/** A validated safetensors header. */
export interface SafetensorsHeader {
  tensors: Map<string, SafetensorsTensorInfo>;
  metadata?: Record<string, string>;
  /** File offset of the data section: 8 + header length. */
  dataOffset: number;
}

/** Parameters of {@link parseSafetensorsHeader}. */
export interface ParseSafetensorsHeaderParameters {
  /** File name for error messages. */
  file: string;
  /** The JSON header bytes (after the 8-byte length). */
  headerBytes: Uint8Array;
  /** Total file size in bytes. */
  fileSize: number;
}

/** Validates a header against the file size. Throws {@link SafetensorsInvalidError} or {@link ModelDtypeUnsupportedError}. */
export function parseSafetensorsHeader(p: ParseSafetensorsHeaderParameters): SafetensorsHeader {
  const { file, headerBytes, fileSize } = p;
  const dataOffset = 8 + headerBytes.byteLength;
  const dataSize = fileSize - dataOffset;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw new SafetensorsInvalidError(file, `the JSON header (${headerBytes.byteLength} bytes) does not parse`, {
      details: (error as Error).message,
      cause: error,
    });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SafetensorsInvalidError(file, 'the JSON header is not an object');
  }
  const tensors = new Map<string, SafetensorsTensorInfo>();
  let metadata: Record<string, string> | undefined;
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || Object.values(entry).some((v) => typeof v !== 'string')) {
        throw new SafetensorsInvalidError(file, '"__metadata__" must map strings to strings', { details: JSON.stringify(entry).slice(0, 200) });
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    tensors.set(name, parseEntry(file, name, entry, dataOffset, dataSize));
  }
  const sorted = [...tensors.values()].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.offset < prev.offset + prev.byteLength) {
      throw new SafetensorsInvalidError(file, `tensors "${prev.name}" and "${cur.name}" overlap`, {
        details: `"${prev.name}" data_offsets [${prev.offset - dataOffset}, ${prev.offset - dataOffset + prev.byteLength}], "${cur.name}" [${cur.offset - dataOffset}, ${cur.offset - dataOffset + cur.byteLength}]`,
      });
    }
  }
  return { tensors, metadata, dataOffset };
}

function parseEntry(file: string, name: string, entry: unknown, dataOffset: number, dataSize: number): SafetensorsTensorInfo {
  if (typeof entry !== 'object' || entry === null) throw new SafetensorsInvalidError(file, `tensor "${name}" has no header entry object`);
  const { dtype, shape, data_offsets: offsets } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof dtype !== 'string') throw new SafetensorsInvalidError(file, `tensor "${name}" has no dtype`, { details: JSON.stringify(entry) });
  if (!isSafetensorsDtype(dtype)) throw new ModelDtypeUnsupportedError(file, name, dtype);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsInvalidError(file, `tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    throw new SafetensorsInvalidError(file, `tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
  if (end - begin !== expected) {
    throw new SafetensorsInvalidError(file, `tensor "${name}" has ${end - begin} bytes, but shape [${shape.join(', ')}] of ${dtype} needs ${expected}`);
  }
  if (end > dataSize) {
    throw new SafetensorsInvalidError(file, `tensor "${name}" data_offsets [${begin}, ${end}] run past the data section (${dataSize} bytes)`, {
      details: 'The file is probably truncated.',
    });
  }
  return { name, dtype, shape: shape as number[], offset: dataOffset + begin, byteLength: end - begin };
}

/** An open safetensors file; read tensors on demand, then `close()`. */
export interface SafetensorsFile {
  readonly path: string;
  readonly header: SafetensorsHeader;
  /** Raw little-endian bytes of a tensor. */
  readBytes(name: string, signal?: AbortSignal): Promise<Uint8Array>;
  /** A tensor as float32. `// shape row-major f32` */
  readF32(name: string, signal?: AbortSignal): Promise<Float32Array>;
  /** A tensor as IEEE half bits (converted with rounding from F32/BF16). */
  readF16(name: string, signal?: AbortSignal): Promise<Uint16Array>;
  close(): Promise<void>;
}

/** Parameters of {@link openSafetensors}. */
export interface OpenSafetensorsParameters {
  path: string;
  signal?: AbortSignal;
}

/** Opens and validates a safetensors file, reading only its header. */
export async function openSafetensors(p: OpenSafetensorsParameters): Promise<SafetensorsFile> {
  const { path } = p;
  const handle = await openModelFile(path);
  try {
    const header = await readHeader(handle, path);
    return makeFile(handle, path, header);
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function readHeader(handle: FileHandle, path: string): Promise<SafetensorsHeader> {
  const fileSize = (await handle.stat()).size;
  if (fileSize < 8) throw new SafetensorsInvalidError(path, `the file has ${fileSize} bytes, fewer than the 8-byte header length`);
  const lenBuf = Buffer.alloc(8);
  await handle.read(lenBuf, 0, 8, 0);
  const headerLen = lenBuf.readBigUInt64LE(0);
  if (headerLen > BigInt(fileSize - 8)) {
    throw new SafetensorsInvalidError(path, `the header length ${headerLen} runs past the end of the file (${fileSize} bytes)`, {
      details: 'The file is truncated or not a safetensors file.',
    });
  }
  if (headerLen > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsInvalidError(path, `the header length ${headerLen} exceeds ${MAX_HEADER_BYTES} bytes`);
  const headerBytes = Buffer.alloc(Number(headerLen));
  await readFully(handle, headerBytes, 8);
  return parseSafetensorsHeader({ file: path, headerBytes, fileSize });
}

/** Opens a model file for reading; a missing or unreadable one is a ModelFileNotFoundError naming it. */
export async function openModelFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (error) {
    throw new ModelFileNotFoundError(path, { cause: error, details: (error as Error).message });
  }
}

/** Reads `buffer.byteLength` bytes at `position`; throws RangeError at end of file. */
export async function readFully(handle: FileHandle, buffer: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.byteLength) {
    const { bytesRead } = await handle.read(buffer, done, buffer.byteLength - done, position + done);
    if (bytesRead === 0) throw new RangeError(`unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

function makeFile(handle: FileHandle, path: string, header: SafetensorsHeader): SafetensorsFile {
  let closed = false;
  const info = (name: string): SafetensorsTensorInfo => {
    const t = header.tensors.get(name);
    if (!t) throw new SafetensorsInvalidError(path, `it has no tensor "${name}"`);
    return t;
  };
  const readBytes = async (name: string, signal?: AbortSignal): Promise<Uint8Array> => {
    if (signal?.aborted) throw new AbortedError(`Reading tensor "${name}"`, signal.reason);
    const t = info(name);
    // 8-byte-aligned fresh buffer so typed-array views need no copy.
    const bytes = new Uint8Array(new ArrayBuffer(t.byteLength));
    try {
      await readFully(handle, bytes, t.offset);
    } catch (error) {
      throw new SafetensorsInvalidError(path, `reading tensor "${name}" failed`, { cause: error, details: (error as Error).message });
    }
    return bytes;
  };
  return {
    path,
    header,
    readBytes,
    readF32: async (name, signal) => bytesToF32(await readBytes(name, signal), info(name).dtype),
    readF16: async (name, signal) => bytesToF16Bits(await readBytes(name, signal), info(name).dtype),
    close: async () => {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}
