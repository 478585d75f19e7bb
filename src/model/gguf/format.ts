/**
 * The GGUF container (llama.cpp's `ggml/docs/gguf.md`, version 3), little-endian:
 *
 *   "GGUF" u32 version, u64 tensor_count, u64 metadata_kv_count,
 *   metadata: { string key, u32 value_type, value }*,
 *   tensor infos: { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }*,
 *   padding to `general.alignment` (default 32), tensor data (each tensor aligned).
 *
 * Strings are `u64 length` + UTF-8 bytes; arrays `u32 item_type, u64 count, items`. `ne[0]` is the
 * fastest-varying dimension, so a PyTorch `[out, in]` matrix has `ne = [in, out]`.
 */
import type { SafetensorsDtype } from '../dtype.ts';
import { QUANT_FORMATS, type QuantType } from '../quant/formats.ts';

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
/** The version openlora writes (and the oldest it reads: v1 used 32-bit counts). */
export const GGUF_VERSION = 3;
/** `general.alignment` when absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** GGUF metadata value types (`enum gguf_type`). */
export const GGUF_TYPE = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const;
export type GgufScalarType = Exclude<keyof typeof GGUF_TYPE, 'array'>;

/** A metadata value with its GGUF type (so a file can be written back as it was read). */
export type GgufValue =
  | { type: Exclude<GgufScalarType, 'string' | 'bool'>; value: number }
  | { type: 'string'; value: string }
  | { type: 'bool'; value: boolean }
  | { type: 'array'; itemType: Exclude<GgufScalarType, 'string' | 'bool'>; value: number[] }
  | { type: 'array'; itemType: 'string'; value: string[] }
  | { type: 'array'; itemType: 'bool'; value: boolean[] };

/** Metadata of a GGUF file, in file order. */
export type GgufMetadata = Map<string, GgufValue>;

/** Tensor element types openlora reads and writes in GGUF. */
export type GgufTensorType = SafetensorsDtype | QuantType;

/** ggml type id, block geometry of each {@link GgufTensorType} (`ggml_type_traits`). */
export const GGML_TYPES: Readonly<Record<GgufTensorType, { id: number; blockElements: number; blockBytes: number }>> = {
  F32: { id: 0, blockElements: 1, blockBytes: 4 },
  F16: { id: 1, blockElements: 1, blockBytes: 2 },
  BF16: { id: 30, blockElements: 1, blockBytes: 2 },
  q8_0: { id: QUANT_FORMATS.q8_0.ggmlType, blockElements: 32, blockBytes: 34 },
  q4_0: { id: QUANT_FORMATS.q4_0.ggmlType, blockElements: 32, blockBytes: 18 },
  q4_k: { id: QUANT_FORMATS.q4_k.ggmlType, blockElements: 256, blockBytes: 144 },
  q6_k: { id: QUANT_FORMATS.q6_k.ggmlType, blockElements: 256, blockBytes: 210 },
};

/** ggml's names of the types, for messages (`ggml_type_name`). */
const GGML_NAMES: Record<number, string> = {
  0: 'f32', 1: 'f16', 2: 'q4_0', 3: 'q4_1', 6: 'q5_0', 7: 'q5_1', 8: 'q8_0', 9: 'q8_1', 10: 'q2_K', 11: 'q3_K', 12: 'q4_K', 13: 'q5_K', 14: 'q6_K', 15: 'q8_K',
  16: 'iq2_xxs', 17: 'iq2_xs', 18: 'iq3_xxs', 19: 'iq1_s', 20: 'iq4_nl', 21: 'iq3_s', 22: 'iq2_s', 23: 'iq4_xs', 24: 'i8', 25: 'i16', 26: 'i32', 27: 'i64', 28: 'f64', 29: 'iq1_m', 30: 'bf16',
};

/** The {@link GgufTensorType} of a ggml type id, or undefined for types openlora does not read. */
export function tensorTypeOf(id: number): GgufTensorType | undefined {
  return (Object.keys(GGML_TYPES) as GgufTensorType[]).find((t) => GGML_TYPES[t].id === id);
}

/** ggml's name of a type id (`q4_K`), or `type <id>`. */
export function ggmlTypeName(id: number): string {
  return GGML_NAMES[id] ?? `type ${id}`;
}

/** Bytes of a tensor of `elements` elements whose rows have `cols` elements. Undefined when rows are not whole blocks. */
export function tensorBytes(type: GgufTensorType, cols: number, elements: number): number | undefined {
  const t = GGML_TYPES[type];
  if (cols % t.blockElements !== 0) return undefined;
  return (elements / t.blockElements) * t.blockBytes;
}

/** Bytes of one row of `cols` elements. */
export function rowBytes(type: GgufTensorType, cols: number): number {
  const t = GGML_TYPES[type];
  return (cols / t.blockElements) * t.blockBytes;
}
