/**
 * An adapter's `base_model_name_or_path` is a hub id (`meta-llama/Llama-3.2-1B`) or a path. Shapes
 * decide whether it loads; the name only tells whether it was trained on this model. Names are
 * compared by their last path segment, case-insensitively; an adapter that names none matches.
 */
import { basename } from 'node:path';

const lastSegment = (name: string) => basename(name.replace(/[\\/]+$/, '')).toLowerCase();

/** The base model an adapter names when it is not `modelDir`'s model, else undefined. */
export function otherBaseModel(adapterBase: string | undefined, modelDir: string): string | undefined {
  if (!adapterBase) return undefined;
  return lastSegment(adapterBase) === lastSegment(modelDir) ? undefined : adapterBase;
}
