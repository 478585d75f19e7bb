/**
 * Walks a model's tensor list (its recipe's, `src/model/arch/recipe.ts`) in checkpoint order and
 * builds each tensor with the backend's own `matrix` (`[rows, cols]`) and `vector` readers,
 * reporting progress per decoder layer. Backends then look tensors up by name as the recipe's ops
 * name them.
 */
import type { ModelConfig } from '../model/config.ts';
import { modelRecipe } from '../model/arch/index.ts';
import { isMatrix, recipeTensors, type ModelRecipe, type TensorSpec } from '../model/arch/recipe.ts';
import { InternalError } from '../errors.ts';
import type { LoadProgress } from './backend.ts';

/** A model's tensors as a backend holds them: matrices `M` and vectors `V` by tensor name. */
export interface ModelWeights<M, V> {
  recipe: ModelRecipe;
  /** A matrix of the recipe (`// [rows, cols]`). */
  matrix(name: string): M;
  /** A vector of the recipe (norm gain, bias). */
  vector(name: string): V;
  /** Every matrix, by name (tied embeddings appear once). */
  readonly matrices: ReadonlyMap<string, M>;
  readonly vectors: ReadonlyMap<string, V>;
}

/** Parameters of {@link loadModelWeights}. */
export interface LoadModelWeightsParameters<M, V> {
  config: ModelConfig;
  matrix: (spec: TensorSpec) => Promise<M>;
  vector: (spec: TensorSpec) => Promise<V>;
  onProgress?: LoadProgress;
}

/** Reads every tensor of the recipe in file order. */
export async function loadModelWeights<M, V>(p: LoadModelWeightsParameters<M, V>): Promise<ModelWeights<M, V>> {
  const recipe = modelRecipe(p.config);
  const specs = recipeTensors(recipe);
  const matrices = new Map<string, M>();
  const vectors = new Map<string, V>();
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i];
    if (isMatrix(spec)) matrices.set(spec.name, await p.matrix(spec));
    else vectors.set(spec.name, await p.vector(spec));
    if (spec.layer !== undefined && specs[i + 1]?.layer !== spec.layer) p.onProgress?.(spec.layer + 1, p.config.numLayers);
  }
  return {
    recipe,
    matrices,
    vectors,
    matrix(name) {
      const m = matrices.get(name);
      if (m === undefined) throw new InternalError(`the recipe reads matrix ${name}, which was not loaded`);
      return m;
    },
    vector(name) {
      const v = vectors.get(name);
      if (v === undefined) throw new InternalError(`the recipe reads vector ${name}, which was not loaded`);
      return v;
    },
  };
}
