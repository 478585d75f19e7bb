/**
 * A {@link WeightStore} over a GGUF file, under Hugging Face tensor names: what the loader, the
 * backends and validation read whatever the file format. Reading undoes what llama.cpp's
 * converter did: Llama's q/k rows back in transformers' order, Gemma's `1 + w` norm gains back
 * to `w` (exact for gains in [-0.5, 1], Sterbenz).
 */
import { bytesToF32, f32ArrayToHalfBits, f32ToBytes, type SafetensorsDtype } from '../dtype.ts';
import type { ModelConfig } from '../config.ts';
import { modelRecipe } from '../arch/index.ts';
import { recipeTensors } from '../arch/recipe.ts';
import { dequantize, isQuantType } from '../quant/index.ts';
import { SafetensorsInvalidError } from '../errors.ts';
import type { WeightStore } from '../weights.ts';
import { rowBytes } from './format.ts';
import { ggufTensorName, permutedHeads, permuteRows, storesUnitOffsetNorm } from './names.ts';
import type { GgufFile, GgufTensorInfo } from './read.ts';

/** Parameters of {@link ggufWeightStore}. */
export interface GgufWeightStoreParameters {
  file: GgufFile;
  config: ModelConfig;
}

/** The recipe's tensors found in the file, by Hugging Face name. */
export function ggufWeightStore(p: GgufWeightStoreParameters): WeightStore {
  const { file, config } = p;
  const byHf = new Map<string, GgufTensorInfo>();
  for (const spec of recipeTensors(modelRecipe(config))) {
    const gguf = ggufTensorName(config.architecture, spec.name);
    const t = gguf === undefined ? undefined : file.tensors.get(gguf);
    if (t) byHf.set(spec.name, t);
  }
  const get = (name: string) => {
    const t = byHf.get(name);
    if (!t) throw new SafetensorsInvalidError(file.path, `it has no tensor for "${name}" (GGUF ${ggufTensorName(config.architecture, name) ?? 'name unknown'})`);
    return t;
  };
  const bytes = async (name: string, signal?: AbortSignal): Promise<Uint8Array> => {
    const t = get(name);
    let data = await file.readBytes(t.name, signal);
    const heads = permutedHeads(config, name);
    if (heads !== undefined) {
      data = permuteRows({ data, rowBytes: t.ne.length > 1 ? rowBytes(t.type, t.ne[0]) : rowBytes(t.type, 1), heads, toGguf: false });
    }
    if (storesUnitOffsetNorm(config.architecture, name) && !isQuantType(t.type)) {
      const values = bytesToF32(data, t.type);
      for (let i = 0; i < values.length; i++) values[i] = values[i] - 1;
      data = f32ToBytes(values, t.type);
    }
    return data;
  };
  const f32 = async (name: string, signal?: AbortSignal): Promise<Float32Array> => {
    const t = get(name);
    const data = await bytes(name, signal);
    return isQuantType(t.type) ? dequantize({ data, type: t.type }) : bytesToF32(data, t.type as SafetensorsDtype);
  };
  return {
    names: () => [...byHf.keys()],
    has: (name) => byHf.has(name),
    info: (name) => {
      const t = get(name);
      return { name, dtype: t.type, shape: [...t.ne].reverse(), file: file.path };
    },
    bytes,
    f32,
    async f16(name, signal) {
      const t = get(name);
      if (t.type === 'F16') return new Uint16Array((await bytes(name, signal)).buffer);
      const values = await f32(name, signal);
      return f32ArrayToHalfBits(values, new Uint16Array(values.length), 'F16');
    },
    close: () => file.close(),
  };
}
