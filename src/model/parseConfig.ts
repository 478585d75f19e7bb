/**
 * Hugging Face `config.json` → {@link ModelConfig}: the architecture module (`arch/`) reads the
 * fields its Hugging Face class reads; a math-changing key (`arch/mathKeys.ts`) it neither read
 * nor declared ignored is refused with an error naming it, never silently dropped.
 */
import type { ModelConfig } from './config.ts';
import { ModelArchitectureUnsupportedError, ModelConfigInvalidError, ModelConfigUnsupportedError } from './errors.ts';
import { createConfigReader } from './arch/configReader.ts';
import { findArchitecture, SUPPORTED_ARCHITECTURES } from './arch/index.ts';
import { MATH_KEYS } from './arch/mathKeys.ts';

/** Parameters of {@link parseModelConfig}. */
export interface ParseModelConfigParameters {
  /** The parsed config.json. */
  json: unknown;
  /** Path for error messages. */
  file: string;
  /** Extra EOS ids, e.g. from generation_config.json; merged after config's own. */
  extraEosTokenIds?: readonly number[];
}

/** Validates config.json and normalizes it. Throws the `OPENLORA_MODEL_CONFIG_*` / architecture errors. */
export function parseModelConfig(p: ParseModelConfigParameters): ModelConfig {
  const { file } = p;
  if (typeof p.json !== 'object' || p.json === null || Array.isArray(p.json)) throw new ModelConfigInvalidError(file, 'it is not a JSON object');
  const json = p.json as Record<string, unknown>;
  const archs = json.architectures;
  const named = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : typeof json.model_type === 'string' ? json.model_type : undefined;
  const arch = named === undefined ? undefined : findArchitecture(named);
  if (!arch) throw new ModelArchitectureUnsupportedError(file, String(named ?? '(none)'), SUPPORTED_ARCHITECTURES);
  const r = createConfigReader(file, json);
  const torchDtype = json.torch_dtype ?? json.dtype ?? 'float32';
  r.raw('torch_dtype');
  r.raw('dtype');
  if (torchDtype !== 'float32' && torchDtype !== 'float16' && torchDtype !== 'bfloat16') {
    throw new ModelConfigInvalidError(file, `"torch_dtype" ${JSON.stringify(torchDtype)} is not float32, float16 or bfloat16`);
  }
  const eos = [...idList(file, 'eos_token_id', r.raw('eos_token_id')), ...(p.extraEosTokenIds ?? [])];
  const bos = r.raw('bos_token_id');
  const config = arch.parse(r, {
    architecture: arch.names[0],
    torchDtype,
    bosTokenId: Number.isSafeInteger(bos) ? (bos as number) : undefined,
    eosTokenIds: [...new Set(eos)],
  });
  for (const key of Object.keys(MATH_KEYS)) {
    if (json[key] === undefined || json[key] === null || r.read.has(key) || key in arch.ignoredKeys) continue;
    throw new ModelConfigUnsupportedError(file, key, json[key], `${arch.names[0]} does not implement ${MATH_KEYS[key]}`);
  }
  return config;
}

/** An integer or list of integers (`eos_token_id` may be either); null/undefined → []. */
export function idList(file: string, key: string, value: unknown): number[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  if (!list.every((v) => Number.isSafeInteger(v) && v >= 0)) throw new ModelConfigInvalidError(file, `"${key}" must be a token id or a list of them, got ${JSON.stringify(value)}`);
  return list as number[];
}
