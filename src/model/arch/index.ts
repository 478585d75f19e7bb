/**
 * The architectures openlora runs, one module each (llama.cpp's `src/models/*.cpp`). Adding one
 * is a file beside these (its config parsing and layer recipe from `build.ts`) and a line here.
 */
import { InternalError } from '../../errors.ts';
import type { ModelConfig } from '../config.ts';
import type { Architecture } from './build.ts';
import { gemma } from './gemma.ts';
import { gemma2 } from './gemma2.ts';
import { llama } from './llama.ts';
import { mistral } from './mistral.ts';
import { phi3 } from './phi3.ts';
import { qwen2 } from './qwen2.ts';
import type { ModelRecipe } from './recipe.ts';

/** Every architecture, in the order errors list them. */
export const ARCHITECTURES: readonly Architecture[] = [llama, mistral, qwen2, gemma, gemma2, phi3];

/** `config.architectures[0]` values openlora runs. */
export const SUPPORTED_ARCHITECTURES: readonly string[] = ARCHITECTURES.flatMap((a) => a.names);

/** The architecture named `name` (`architectures[0]` or `model_type`), or undefined. */
export function findArchitecture(name: string): Architecture | undefined {
  return ARCHITECTURES.find((a) => a.names.includes(name) || a.modelTypes.includes(name));
}

/** The recipe of a parsed config. */
export function modelRecipe(config: ModelConfig): ModelRecipe {
  const arch = findArchitecture(config.architecture);
  if (!arch) throw new InternalError(`no architecture module for ${config.architecture}`);
  return arch.recipe(config);
}
