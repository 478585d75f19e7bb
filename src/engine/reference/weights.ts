/**
 * The CPU reference's copy of the model weights, all float32. When the model's dtype is f16,
 * matrices are rounded through f16 first so the CPU computes with exactly the values the GPU holds
 * (norms and biases stay f32 on both).
 */
import type { ModelConfig } from '../../model/config.ts';
import { f16Table32 } from '../../model/dtype.ts';
import type { LoadProgress } from '../backend.ts';
import { loadModelWeights, type LayerWeights, type ModelWeights } from '../loadWeights.ts';
import type { LoadedModel } from '../../model/load.ts';

/** One decoder layer's weights, all f32 (see `LayerWeights`). */
export type CpuLayerWeights = LayerWeights<Float32Array, Float32Array>;

/** All weights of the model, all f32. */
export type CpuWeights = ModelWeights<Float32Array, Float32Array>;

/** Parameters of {@link loadCpuWeights}. */
export interface LoadCpuWeightsParameters {
  model: LoadedModel;
  onProgress?: LoadProgress;
  signal?: AbortSignal;
}

/** Reads every tensor into float32 (f16-rounded matrices when `model.dtype` is f16). */
export async function loadCpuWeights(p: LoadCpuWeightsParameters): Promise<CpuWeights> {
  const { model, signal } = p;
  const config: ModelConfig = model.config;
  const table = model.dtype === 'f16' ? f16Table32() : undefined;
  const matrix = async (name: string): Promise<Float32Array> => {
    if (!table) return model.weights.f32(name, signal);
    const bits = await model.weights.f16(name, signal);
    const out = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
    return out;
  };
  const checked = async (name: string, rows: number, cols: number): Promise<Float32Array> => {
    const m = await matrix(name);
    if (m.length !== rows * cols) throw new RangeError(`${name} has ${m.length} values, expected ${rows * cols}`);
    return m;
  };
  return loadModelWeights({ config, matrix: checked, vector: (name) => model.weights.f32(name, signal), onProgress: p.onProgress });
}
