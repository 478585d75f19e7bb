/**
 * Loads a Hugging Face model directory: config.json, safetensors weights (checked against the
 * config), tokenizer, chat template and generation defaults.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelConfig } from './config.ts';
import { defaultDeviceDtype } from './deviceTensor.ts';
import type { DeviceDtype } from './dtype.ts';
import { ModelConfigInvalidError, ModelFileNotFoundError, ModelTensorMissingError, ModelTensorShapeError, ModelTokenizerInvalidError } from './errors.ts';
import { idList, parseModelConfig } from './parseConfig.ts';
import { expectedTensors } from './tensorNames.ts';
import { createChatTemplate, createModelTokenizer, type ChatTemplate, type ModelTokenizer } from './tokenizer.ts';
import { openWeightStore, type WeightStore } from './weights.ts';

/** Generation defaults from generation_config.json (and config.json for the ids). */
export interface GenerationDefaults {
  /** Tokens that end generation: config.json's and generation_config.json's, deduplicated. */
  eosTokenIds: number[];
  bosTokenId?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  maxNewTokens?: number;
}

/** A loaded model; weights stay on disk and are read per tensor. */
export interface LoadedModel {
  dir: string;
  config: ModelConfig;
  /** Dtype the backends hold weight matrices in (see `deviceTensor.ts`). */
  dtype: DeviceDtype;
  weights: WeightStore;
  /** Absent when the directory has no tokenizer.json (token ids only). */
  tokenizer?: ModelTokenizer;
  chatTemplate?: ChatTemplate;
  generation: GenerationDefaults;
  /** Closes the weight files. Idempotent. */
  close(): Promise<void>;
}

/** Parameters of {@link loadModel}. */
export interface LoadModelParameters {
  /** Model directory in Hugging Face layout. */
  dir: string;
  /** Device dtype; default the checkpoint's (`torch_dtype`: f32, f16 or bf16). */
  dtype?: DeviceDtype;
  signal?: AbortSignal;
}

/**
 * Loads and validates a model directory. Every tensor the config implies must exist with the
 * implied shape; throws the `OPENLORA_MODEL_*` errors of `errors.ts` otherwise.
 */
export async function loadModel(p: LoadModelParameters): Promise<LoadedModel> {
  const { dir } = p;
  const configPath = join(dir, 'config.json');
  const configJson = await readJson(configPath, true, (problem, parameters) => new ModelConfigInvalidError(configPath, problem, parameters));
  const genPath = join(dir, 'generation_config.json');
  const gen = ((await readJson(genPath, false, (problem, parameters) => new ModelConfigInvalidError(genPath, problem, parameters))) ?? {}) as Record<string, unknown>;
  const config = parseModelConfig({ json: configJson, file: configPath, extraEosTokenIds: idList(genPath, 'eos_token_id', gen.eos_token_id) });

  const weights = await openWeightStore({ dir, signal: p.signal });
  try {
    for (const expected of expectedTensors(config)) {
      if (!weights.has(expected.name)) throw new ModelTensorMissingError(dir, expected.name, expected.shape);
      const info = weights.info(expected.name);
      if (info.shape.length !== expected.shape.length || info.shape.some((d, i) => d !== expected.shape[i])) {
        throw new ModelTensorShapeError(info.file, expected.name, expected.shape, info.shape);
      }
    }
    const tokPath = join(dir, 'tokenizer.json');
    const tokCfgPath = join(dir, 'tokenizer_config.json');
    const tokErr = (file: string) => (problem: string, parameters: { cause?: unknown; details?: string }) => new ModelTokenizerInvalidError(file, problem, parameters);
    const tokenizerJson = await readJson(tokPath, false, tokErr(tokPath));
    const tokenizerConfig = ((await readJson(tokCfgPath, false, tokErr(tokCfgPath))) ?? {}) as Record<string, unknown>;
    const tokenizer = tokenizerJson === undefined ? undefined : createModelTokenizer({ tokenizerJson, tokenizerConfig, file: tokPath });
    const chatTemplate = createChatTemplate({ tokenizerConfig, file: tokCfgPath });
    const bos = gen.bos_token_id ?? config.bosTokenId;
    return {
      dir,
      config,
      dtype: p.dtype ?? defaultDeviceDtype(config.torchDtype),
      weights,
      tokenizer,
      chatTemplate,
      generation: {
        eosTokenIds: config.eosTokenIds,
        bosTokenId: Number.isSafeInteger(bos) ? (bos as number) : undefined,
        temperature: positiveOrZero(gen.temperature),
        topP: positiveOrZero(gen.top_p),
        topK: positiveOrZero(gen.top_k),
        maxNewTokens: positiveOrZero(gen.max_new_tokens),
      },
      close: () => weights.close(),
    };
  } catch (error) {
    await weights.close();
    throw error;
  }
}

function positiveOrZero(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** Reads and parses a JSON file; a missing optional file gives undefined. */
async function readJson(
  path: string,
  required: boolean,
  invalid: (problem: string, parameters: { cause?: unknown; details?: string }) => Error,
): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !required) return undefined;
    throw new ModelFileNotFoundError(path, { cause: error, details: (error as Error).message });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw invalid('it does not parse as JSON', { cause: error, details: (error as Error).message });
  }
}
