/**
 * Quantize and dequantize whole tensors in ggml's block formats (`formats.ts`); the TypeScript
 * reference every kernel reading these formats is tested against.
 */
import { InternalError } from '../../errors.ts';
import { QUANT_FORMATS, quantizedBytes, type QuantType } from './formats.ts';
import { dequantizeQ4_0, quantizeQ4_0 } from './q4_0.ts';
import { dequantizeQ4_K, quantizeQ4_K } from './q4_k.ts';
import { dequantizeQ6_K, quantizeQ6_K } from './q6_k.ts';
import { dequantizeQ8_0, quantizeQ8_0 } from './q8_0.ts';

export * from './formats.ts';

const QUANTIZE: Record<QuantType, (x: Float32Array, out: Uint8Array) => Uint8Array> = { q8_0: quantizeQ8_0, q4_0: quantizeQ4_0, q4_k: quantizeQ4_K, q6_k: quantizeQ6_K };
const DEQUANTIZE: Record<QuantType, (data: Uint8Array, count: number, out?: Float32Array) => Float32Array> = {
  q8_0: dequantizeQ8_0,
  q4_0: dequantizeQ4_0,
  q4_k: dequantizeQ4_K,
  q6_k: dequantizeQ6_K,
};

/** Parameters of {@link quantize}. */
export interface QuantizeParameters {
  /** `// [n] f32`, n a multiple of the format's block size (rows laid end to end). */
  values: Float32Array;
  type: QuantType;
}

/** The blocks of `values` in `type`, as ggml's reference quantizer writes them. */
export function quantize(p: QuantizeParameters): Uint8Array {
  checkCount(p.type, p.values.length);
  return QUANTIZE[p.type](p.values, new Uint8Array(quantizedBytes(p.type, p.values.length)));
}

/** Parameters of {@link dequantize}. */
export interface DequantizeParameters {
  /** Blocks of `type`. */
  data: Uint8Array;
  type: QuantType;
  /** Elements to decode (a multiple of the block size; default all of `data`). */
  count?: number;
  out?: Float32Array;
}

/** The f32 values of quantized blocks (ggml's `dequantize_row_*`). `// [count] f32` */
export function dequantize(p: DequantizeParameters): Float32Array {
  const f = QUANT_FORMATS[p.type];
  const count = p.count ?? (p.data.byteLength / f.blockBytes) * f.blockElements;
  checkCount(p.type, count);
  if (p.data.byteLength < quantizedBytes(p.type, count)) throw new InternalError(`${p.type}: ${p.data.byteLength} bytes hold fewer than ${count} values`);
  return DEQUANTIZE[p.type](p.data, count, p.out);
}

function checkCount(type: QuantType, count: number): void {
  if (count % QUANT_FORMATS[type].blockElements !== 0) throw new InternalError(`${type} holds whole blocks of ${QUANT_FORMATS[type].blockElements} values, got ${count}`);
}
