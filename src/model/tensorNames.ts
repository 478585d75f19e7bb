/**
 * The tensors a model's checkpoint must hold, with the shapes config.json implies: derived from
 * its architecture's recipe (`arch/`), the one list the loader, validation and both backends read.
 */
import type { ModelConfig } from './config.ts';
import { modelRecipe } from './arch/index.ts';
import { recipeTensors, type TensorSpec } from './arch/recipe.ts';

/** One expected tensor. */
export type ExpectedTensor = TensorSpec;

/** Every tensor the model must have, in file order (embeddings, layers, final norm, lm_head). */
export function expectedTensors(config: ModelConfig): ExpectedTensor[] {
  return recipeTensors(modelRecipe(config));
}
