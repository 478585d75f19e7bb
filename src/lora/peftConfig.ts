/**
 * PEFT `adapter_config.json` → the few facts openlora serves an adapter with: rank, alpha,
 * rsLoRA, targeted projections, base model. Features that change the math in ways openlora does
 * not implement (modules_to_save, DoRA, per-module rank/alpha patterns, bias training) are
 * rejected with a clear error rather than served wrong.
 */
import { PROJECTIONS, type Projection } from '../model/config.ts';
import { LoraConfigInvalidError, LoraFeatureUnsupportedError, LoraRankUnsupportedError, LoraTargetUnknownError } from './errors.ts';

/** Largest rank openlora serves (the shrink kernel keeps one row of `v` per workgroup: 128 f32). */
export const MAX_LORA_RANK = 128;

/** PEFT's default `lora_alpha` when the config omits it. */
export const PEFT_DEFAULT_ALPHA = 8;

/** A validated adapter_config.json. */
export interface PeftConfig {
  /** `r`. */
  rank: number;
  /** `lora_alpha`. */
  alpha: number;
  /** `use_rslora`: scale alpha / sqrt(r) instead of alpha / r. */
  useRslora: boolean;
  /** The projections `target_modules` selects, in {@link PROJECTIONS} order. */
  targets: Projection[];
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

  const modulesToSave = c.modules_to_save;
  if (modulesToSave !== undefined && modulesToSave !== null && !(Array.isArray(modulesToSave) && modulesToSave.length === 0)) {
    throw new LoraFeatureUnsupportedError(file, 'modules_to_save', modulesToSave, 'Adapters that replace whole modules (e.g. lm_head, embed_tokens) cannot share one base model. Train with modules_to_save = None.');
  }
  if (c.use_dora === true) throw new LoraFeatureUnsupportedError(file, 'use_dora', true, 'DoRA adapters are not supported; use plain LoRA.');
  for (const key of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = c[key];
    if (v !== undefined && v !== null && !(typeof v === 'object' && Object.keys(v).length === 0)) {
      throw new LoraFeatureUnsupportedError(file, key, v, 'openlora serves one rank and alpha per adapter; train without per-module patterns.');
    }
  }
  if (c.bias !== undefined && c.bias !== 'none') throw new LoraFeatureUnsupportedError(file, 'bias', c.bias, 'Train with bias = "none": adapters that change biases cannot share the base model.');
  if (c.fan_in_fan_out === true) throw new LoraFeatureUnsupportedError(file, 'fan_in_fan_out', true, 'Llama-family models use nn.Linear; fan_in_fan_out is for GPT-2 Conv1D.');

  const baseModel = c.base_model_name_or_path;
  if (baseModel !== undefined && baseModel !== null && typeof baseModel !== 'string') {
    throw new LoraConfigInvalidError(file, `"base_model_name_or_path" must be a string, got ${JSON.stringify(baseModel)}`);
  }
  const targets = parseTargets(file, c.target_modules);
  const r = rank as number;
  return { rank: r, alpha, useRslora, targets, baseModel: baseModel ?? undefined, scale: useRslora ? alpha / Math.sqrt(r) : alpha / r };
}

/** Module paths PEFT matches `target_modules` against (a layer's projections). */
function modulePath(projection: Projection): string {
  const block = projection === 'gate_proj' || projection === 'up_proj' || projection === 'down_proj' ? 'mlp' : 'self_attn';
  return `model.layers.0.${block}.${projection}`;
}

/**
 * PEFT semantics: a list matches module names by suffix; a string is `all-linear` or a regex that
 * must fully match a module path.
 */
function parseTargets(file: string, value: unknown): Projection[] {
  const known = PROJECTIONS as readonly string[];
  const selected = new Set<Projection>();
  if (Array.isArray(value)) {
    if (value.length === 0) throw new LoraConfigInvalidError(file, '"target_modules" is empty');
    for (const item of value) {
      if (typeof item !== 'string') throw new LoraConfigInvalidError(file, `"target_modules" entries must be strings, got ${JSON.stringify(item)}`);
      const last = item.split('.').pop()!;
      if (!known.includes(last)) throw new LoraTargetUnknownError(file, item, PROJECTIONS);
      selected.add(last as Projection);
    }
  } else if (typeof value === 'string') {
    if (value === 'all-linear') return [...PROJECTIONS];
    if (known.includes(value)) return [value as Projection];
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${value})$`);
    } catch (error) {
      throw new LoraConfigInvalidError(file, `"target_modules" ${JSON.stringify(value)} is not a valid regular expression`, { cause: error });
    }
    for (const proj of PROJECTIONS) if (re.test(modulePath(proj)) || re.test(proj)) selected.add(proj);
    if (selected.size === 0) throw new LoraTargetUnknownError(file, value, PROJECTIONS);
  } else {
    throw new LoraConfigInvalidError(file, `"target_modules" must be a list of module names or a string, got ${JSON.stringify(value)}`);
  }
  return PROJECTIONS.filter((proj) => selected.has(proj));
}
