/**
 * PEFT `adapter_config.json` → the facts openlora serves an adapter with: rank, alpha, rsLoRA,
 * which modules it targets, base model. Features that change the math in ways openlora does not
 * implement (modules_to_save, DoRA, per-module rank/alpha patterns, bias training) are rejected
 * with a clear error rather than served wrong.
 */
import type { ModelConfig } from '../model/config.ts';
import { moduleBase } from '../model/config.ts';
import { LoraConfigInvalidError, LoraFeatureUnsupportedError, LoraRankUnsupportedError, LoraTargetUnknownError } from './errors.ts';

/** Largest rank openlora serves (the shrink kernel keeps one row of `v` per workgroup: 128 f32). */
export const MAX_LORA_RANK = 128;

/** PEFT's default `lora_alpha` when the config omits it. */
export const PEFT_DEFAULT_ALPHA = 8;

/** Which modules an adapter applies to, as PEFT's `check_target_module_exists` decides it. */
export interface PeftTargets {
  /** `target_modules`: a list of names (exact path or `.name` suffix), a regex over whole paths, or `all-linear`. */
  modules: readonly string[] | { regex: string } | 'all-linear';
  /** `exclude_modules`: same forms, checked first. */
  exclude?: readonly string[] | { regex: string };
  /** `layers_to_transform` (list targets only): layer indices. */
  layers?: readonly number[];
}

/** A validated adapter_config.json. */
export interface PeftConfig {
  /** `r`. */
  rank: number;
  /** `lora_alpha`. */
  alpha: number;
  /** `use_rslora`: scale alpha / sqrt(r) instead of alpha / r. */
  useRslora: boolean;
  /** `target_modules` and its companions. */
  targets: PeftTargets;
  /** `base_model_name_or_path`, when given. */
  baseModel?: string;
  /** alpha / r, or alpha / sqrt(r) with rsLoRA. */
  scale: number;
}

/** Parameters of {@link parsePeftConfig}. */
export interface ParsePeftConfigParameters {
  /** Parsed adapter_config.json. */
  json: unknown;
  /** Path for error messages. */
  file: string;
}

/** Validates adapter_config.json. Throws the `OPENLORA_LORA_*` config errors. */
export function parsePeftConfig(p: ParsePeftConfigParameters): PeftConfig {
  const { file } = p;
  if (typeof p.json !== 'object' || p.json === null || Array.isArray(p.json)) throw new LoraConfigInvalidError(file, 'it is not a JSON object');
  const c = p.json as Record<string, unknown>;
  if (c.peft_type !== undefined && c.peft_type !== 'LORA') throw new LoraFeatureUnsupportedError(file, 'peft_type', c.peft_type, 'openlora serves LoRA adapters (peft_type "LORA") only.');
  const rank = c.r;
  if (!Number.isSafeInteger(rank)) throw new LoraConfigInvalidError(file, `"r" must be a positive integer, got ${JSON.stringify(rank)}`);
  if ((rank as number) < 1 || (rank as number) > MAX_LORA_RANK) throw new LoraRankUnsupportedError(file, rank as number, MAX_LORA_RANK);
  const alpha = c.lora_alpha ?? PEFT_DEFAULT_ALPHA;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) throw new LoraConfigInvalidError(file, `"lora_alpha" must be a positive number, got ${JSON.stringify(alpha)}`);
  const useRslora = c.use_rslora ?? false;
  if (typeof useRslora !== 'boolean') throw new LoraConfigInvalidError(file, `"use_rslora" must be true or false, got ${JSON.stringify(useRslora)}`);

  const empty = (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
  if (!empty(c.modules_to_save)) {
    throw new LoraFeatureUnsupportedError(file, 'modules_to_save', c.modules_to_save, 'Adapters that replace whole modules (e.g. lm_head, embed_tokens) cannot share one base model. Train with modules_to_save = None.');
  }
  if (c.use_dora === true) throw new LoraFeatureUnsupportedError(file, 'use_dora', true, 'DoRA adapters are not supported; use plain LoRA.');
  for (const key of ['rank_pattern', 'alpha_pattern'] as const) {
    if (!empty(c[key])) throw new LoraFeatureUnsupportedError(file, key, c[key], 'openlora serves one rank and alpha per adapter; train without per-module patterns.');
  }
  if (!empty(c.target_parameters)) throw new LoraFeatureUnsupportedError(file, 'target_parameters', c.target_parameters, 'LoRA on raw parameters (mixture-of-experts weights) is not supported; target linear modules.');
  if (c.bias !== undefined && c.bias !== 'none') throw new LoraFeatureUnsupportedError(file, 'bias', c.bias, 'Train with bias = "none": adapters that change biases cannot share the base model.');
  if (c.fan_in_fan_out === true) throw new LoraFeatureUnsupportedError(file, 'fan_in_fan_out', true, 'The supported models use nn.Linear; fan_in_fan_out is for GPT-2 Conv1D.');
  if (c.layers_pattern !== undefined && c.layers_pattern !== null && c.layers_pattern !== 'layers' && !(Array.isArray(c.layers_pattern) && c.layers_pattern.length === 1 && c.layers_pattern[0] === 'layers')) {
    throw new LoraFeatureUnsupportedError(file, 'layers_pattern', c.layers_pattern, 'The supported models keep their layers in model.layers; use layers_pattern "layers" or leave it unset.');
  }

  const baseModel = c.base_model_name_or_path;
  if (baseModel !== undefined && baseModel !== null && typeof baseModel !== 'string') {
    throw new LoraConfigInvalidError(file, `"base_model_name_or_path" must be a string, got ${JSON.stringify(baseModel)}`);
  }
  const targets: PeftTargets = { modules: parseModules(file, 'target_modules', c.target_modules, true)! };
  const exclude = parseModules(file, 'exclude_modules', c.exclude_modules, false);
  if (exclude !== undefined) {
    if (exclude === 'all-linear') throw new LoraConfigInvalidError(file, '"exclude_modules" cannot be "all-linear"');
    targets.exclude = exclude;
  }
  const layers = c.layers_to_transform;
  if (layers !== undefined && layers !== null) {
    const list = typeof layers === 'number' ? [layers] : layers;
    if (!Array.isArray(list) || !list.every((l) => Number.isSafeInteger(l) && l >= 0)) throw new LoraConfigInvalidError(file, `"layers_to_transform" must be a layer index or a list of them, got ${JSON.stringify(layers)}`);
    if (list.length > 0) targets.layers = list as number[];
  }
  const r = rank as number;
  return { rank: r, alpha, useRslora, targets, baseModel: baseModel ?? undefined, scale: useRslora ? alpha / Math.sqrt(r) : alpha / r };
}

function parseModules(file: string, key: string, value: unknown, required: boolean): PeftTargets['modules'] | undefined {
  if (value === undefined || value === null) {
    if (required) throw new LoraConfigInvalidError(file, `"${key}" is missing`);
    return undefined;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) {
      if (required) throw new LoraConfigInvalidError(file, `"${key}" is empty`);
      return undefined;
    }
    for (const item of value) if (typeof item !== 'string') throw new LoraConfigInvalidError(file, `"${key}" entries must be strings, got ${JSON.stringify(item)}`);
    return value as string[];
  }
  if (typeof value !== 'string') throw new LoraConfigInvalidError(file, `"${key}" must be a list of module names or a string, got ${JSON.stringify(value)}`);
  if (value === 'all-linear') return 'all-linear';
  try {
    new RegExp(`^(?:${value})$`);
  } catch (error) {
    throw new LoraConfigInvalidError(file, `"${key}" ${JSON.stringify(value)} is not a valid regular expression`, { cause: error });
  }
  return { regex: value };
}

/** PEFT's match of one form against a module path: regex full match, exact name, or `.name` suffix. */
function matches(form: readonly string[] | { regex: string }, path: string): boolean {
  if (!Array.isArray(form)) return new RegExp(`^(?:${(form as { regex: string }).regex})$`).test(path);
  return (form as readonly string[]).some((name) => path === name || path.endsWith(`.${name}`));
}

/** Modules of the causal-LM besides the layers' linear ones that a LoRA could target: openlora cannot serve those. */
const OUTSIDE_LAYERS = ['lm_head', 'model.embed_tokens'];

/** Parameters of {@link resolvePeftTargets}. */
export interface ResolvePeftTargetsParameters {
  targets: PeftTargets;
  config: ModelConfig;
  /** Path for error messages. */
  file: string;
}

/**
 * The `(layer, module)` pairs an adapter applies to on this model, as `"layer.module"` keys
 * (`"1.q_proj"`): every module path `model.layers.{i}.{path}` tested as PEFT's
 * `check_target_module_exists` does. Throws {@link LoraTargetUnknownError} when a listed name or
 * the regex selects nothing, and {@link LoraFeatureUnsupportedError} when it selects lm_head or
 * the embedding.
 */
export function resolvePeftTargets(p: ResolvePeftTargetsParameters): Set<string> {
  const { targets, config, file } = p;
  const known = config.modules.map((m) => m.name);
  const all = targets.modules === 'all-linear';
  const form = targets.modules === 'all-linear' ? known : targets.modules;
  const excluded = (path: string) => targets.exclude !== undefined && matches(targets.exclude, path);
  const selected = new Set<string>();
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const m of config.modules) {
      const path = moduleBase(layer, m);
      if (excluded(path) || !matches(form, path)) continue;
      if (Array.isArray(form) && targets.layers && !targets.layers.includes(layer)) continue;
      selected.add(`${layer}.${m.name}`);
    }
  }
  if (!all) {
    for (const path of OUTSIDE_LAYERS) {
      if (!excluded(path) && matches(form, path)) throw new LoraFeatureUnsupportedError(file, 'target_modules', form, `It selects ${path}, which every adapter on a node shares; target the layers' linear modules (${known.join(', ')}).`);
    }
    if (Array.isArray(form)) {
      for (const name of form as readonly string[]) {
        const hits = config.modules.some((m) => Array.from({ length: config.numLayers }, (_, l) => moduleBase(l, m)).some((path) => path === name || path.endsWith(`.${name}`)));
        if (!hits) throw new LoraTargetUnknownError(file, name, known);
      }
    }
  }
  if (selected.size === 0) throw new LoraTargetUnknownError(file, Array.isArray(form) ? form.join(', ') : (form as { regex: string }).regex, known);
  return selected;
}
