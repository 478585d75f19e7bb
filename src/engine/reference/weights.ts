/**
 * The CPU reference's copy of the model weights, all float32: each matrix holds exactly the values
 * the device holds (`src/model/deviceTensor.ts`: f16 or bf16 rounded, or f32), so the CPU
 * computes with the GPU's numbers; norm gains and biases are f32 on both.
 */
import { deviceMatrixValues, readDeviceMatrix } from '../../model/deviceTensor.ts';
import type { LoadedModel } from '../../model/load.ts';
import { InternalError } from '../../errors.ts';
import type { LoadProgress } from '../backend.ts';
import { loadModelWeights, type ModelWeights } from '../loadWeights.ts';

/** All weights of the model, all f32, by tensor name. */
export type CpuWeights = ModelWeights<Float32Array, Float32Array>;

/** Parameters of {@link loadCpuWeights}. */
export interface LoadCpuWeightsParameters {
  model: Pick<LoadedModel, 'config' | 'weights' | 'dtype' | 'quantize'>;
  onProgress?: LoadProgress;
  signal?: AbortSignal;
}

/** Reads every tensor of the model's recipe as f32 (device-rounded matrices). */
export async function loadCpuWeights(p: LoadCpuWeightsParameters): Promise<CpuWeights> {
  const { model, signal } = p;
  return loadModelWeights({
    config: model.config,
    matrix: async ({ name, shape }) => {
      const m = deviceMatrixValues(await readDeviceMatrix({ weights: model.weights, name, dtype: model.dtype, quantize: model.quantize, signal }));
      if (m.length !== shape[0] * shape[1]) throw new InternalError(`${name} has ${m.length} values, expected ${shape[0] * shape[1]}`);
      return m;
    },
    vector: ({ name }) => model.weights.f32(name, signal),
    onProgress: p.onProgress,
  });
}
