/**
 * ggml's block-quantized weight formats, byte for byte as llama.cpp's `ggml-common.h` lays them
 * out (little-endian; `d`/`dmin` are IEEE halves): what GGUF files hold and what `--quantize`
 * makes. Each row of a matrix is a whole number of blocks.
 *
 * | type | elements / block | bytes / block | layout |
 * | --- | --- | --- | --- |
 * | Q8_0 | 32 | 34 | `d` f16, `qs[32]` i8: `x = d · q` |
 * | Q4_0 | 32 | 18 | `d` f16, `qs[16]` u8: element j in the low nibble of byte j, element j+16 in its high nibble: `x = d · (q - 8)` |
 * | Q4_K | 256 | 144 | `d`, `dmin` f16, `scales[12]` (8 six-bit scales and mins), `qs[128]`: per 64 elements, 32 bytes whose low nibbles are the first 32 and high nibbles the next 32: `x = d·sc · q - dmin·m` |
 * | Q6_K | 256 | 210 | `ql[128]` low 4 bits, `qh[64]` high 2 bits, `scales[16]` i8, `d` f16: `x = d · sc · (q - 32)` |
 */

/** Quantized formats openlora reads and writes (ggml names, lower case). */
export const QUANT_TYPES = ['q8_0', 'q4_0', 'q4_k', 'q6_k'] as const;
export type QuantType = (typeof QUANT_TYPES)[number];

/** Formats `--quantize` makes at load (Q6_K is read from GGUF files only). */
export const QUANTIZE_TYPES = ['q8_0', 'q4_0', 'q4_k'] as const;
export type QuantizeType = (typeof QUANTIZE_TYPES)[number];

/** Block geometry and ggml type id of a format. */
export interface QuantFormat {
  /** ggml's `enum ggml_type` value (GGUF tensor type). */
  ggmlType: number;
  /** Elements per block (`QK8_0`, `QK4_0` = 32; `QK_K` = 256). */
  blockElements: number;
  /** Bytes per block (`sizeof(block_q8_0)` ...). */
  blockBytes: number;
}

/** `ggml-common.h`'s block structs. */
export const QUANT_FORMATS: Readonly<Record<QuantType, QuantFormat>> = {
  q8_0: { ggmlType: 8, blockElements: 32, blockBytes: 34 },
  q4_0: { ggmlType: 2, blockElements: 32, blockBytes: 18 },
  q4_k: { ggmlType: 12, blockElements: 256, blockBytes: 144 },
  q6_k: { ggmlType: 14, blockElements: 256, blockBytes: 210 },
};

/** True when `t` names a quantized format. */
export function isQuantType(t: unknown): t is QuantType {
  return (QUANT_TYPES as readonly unknown[]).includes(t);
}

/** Bytes of `count` elements in `type` (`count` a multiple of the block size). */
export function quantizedBytes(type: QuantType, count: number): number {
  const f = QUANT_FORMATS[type];
  return (count / f.blockElements) * f.blockBytes;
}

/** True when rows of `cols` elements are whole blocks of `type`. */
export function fitsBlocks(type: QuantType, cols: number): boolean {
  return cols % QUANT_FORMATS[type].blockElements === 0;
}
