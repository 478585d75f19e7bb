/**
 * Loads a model: a Hugging Face directory (config.json, safetensors weights, tokenizer, chat
 * template, generation defaults) or a GGUF file (a `.gguf` path, or a directory holding one and
 * no safetensors): config from its metadata (`gguf/config.ts`), tokenizer from a tokenizer.json
 * beside it, else from its metadata (`gguf/tokenizer.ts`). Weights are checked against the config.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ModelConfig } from './config.ts';
import { defaultDeviceDtype } from './deviceTensor.ts';
import type { DeviceDtype } from './dtype.ts';
import { ModelConfigInvalidError, ModelFileNotFoundError, ModelTensorMissingError, ModelTensorShapeError, ModelTokenizerInvalidError } from './errors.ts';
import { idList, parseModelConfig } from './parseConfig.ts';
import { expectedTensors } from './tensorNames.ts';
import { createChatTemplate, createModelTokenizer, type ChatTemplate, type ModelTokenizer } from './tokenizer.ts';
import { openWeightStore, type WeightStore } from './weights.ts';
import type { QuantizeType } from './quant/formats.ts';
import { openGguf, type GgufFile } from './gguf/read.ts';
import { configJsonFromGguf } from './gguf/config.ts';
import { ggufWeightStore } from './gguf/store.ts';
import { tokenizerFromMetadata } from './gguf/tokenizer.ts';

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
  /** Model directory (the GGUF file's directory for a GGUF model). */
  dir: string;
  /** The GGUF file, when the model is one. */
  gguf?: string;
  config: ModelConfig;
  /** Dtype the backends hold weight matrices in (see `deviceTensor.ts`). */
  dtype: DeviceDtype;
  /** Matrices quantized at load (`--quantize`; see `deviceTensor.ts`). */
  quantize?: QuantizeType;
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
  /** Model directory in Hugging Face layout, a `.gguf` file, or a directory holding one GGUF file. */
  dir: string;
  /** Device dtype; default the checkpoint's (`torch_dtype`: f32, f16 or bf16). */
  dtype?: DeviceDtype;
  /** Quantize float matrices at load: q8_0, q4_0 or q4_k. */
  quantize?: QuantizeType;
  signal?: AbortSignal;
}

/**
 * Loads and validates a model directory. Every tensor the config implies must exist with the
 * implied shape; throws the `OPENLORA_MODEL_*` errors of `errors.ts` otherwise.
 */
export async function loadModel(p: LoadModelParameters): Promise<LoadedModel> {
  const ggufPath = await findGguf(p.dir);
  const dir = ggufPath ? dirname(ggufPath) : p.dir;
  const genPath = join(dir, 'generation_config.json');
  const gen = ((await readJson(genPath, false, (problem, parameters) => new ModelConfigInvalidError(genPath, problem, parameters))) ?? {}) as Record<string, unknown>;
  const extraEosTokenIds = idList(genPath, 'eos_token_id', gen.eos_token_id);
  let config: ModelConfig;
  let weights: WeightStore;
  let gguf: GgufFile | undefined;
  if (ggufPath) {
    gguf = await openGguf({ path: ggufPath, signal: p.signal });
    try {
      const eot = gguf.metadata.get('tokenizer.ggml.eot_token_id');
      if (eot?.type === 'u32') extraEosTokenIds.push(eot.value);
      config = parseModelConfig({ json: configJsonFromGguf({ file: ggufPath, metadata: gguf.metadata, tensors: gguf.tensors }), file: ggufPath, extraEosTokenIds });
    } catch (error) {
      await gguf.close();
      throw error;
    }
    weights = ggufWeightStore({ file: gguf, config });
  } else {
    const configPath = join(dir, 'config.json');
    const configJson = await readJson(configPath, true, (problem, parameters) => new ModelConfigInvalidError(configPath, problem, parameters));
    config = parseModelConfig({ json: configJson, file: configPath, extraEosTokenIds });
    weights = await openWeightStore({ dir, signal: p.signal });
  }
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
    let tokenizerJson = await readJson(tokPath, false, tokErr(tokPath));
    let tokenizerConfig = ((await readJson(tokCfgPath, false, tokErr(tokCfgPath))) ?? {}) as Record<string, unknown>;
    const embedded = gguf && tokenizerJson === undefined ? tokenizerFromMetadata(gguf.metadata) : undefined;
    if (embedded) ({ tokenizerJson, tokenizerConfig } = embedded);
    const tokenizer = tokenizerJson === undefined ? undefined : createModelTokenizer({ tokenizerJson, tokenizerConfig, file: tokPath });
    const chatTemplate = createChatTemplate({ tokenizerConfig, file: tokCfgPath });
    const bos = gen.bos_token_id ?? config.bosTokenId;
    return {
      dir,
      gguf: ggufPath,
      config,
      dtype: p.dtype ?? defaultDeviceDtype(config.torchDtype),
      quantize: p.quantize,
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

/** The GGUF file `path` names: itself when it is a file, else the directory's `model.gguf` or only `*.gguf` when it holds no safetensors. */
async function findGguf(path: string): Promise<string | undefined> {
  let entries: string[];
  try {
    if (!(await stat(path)).isDirectory()) return path.endsWith('.gguf') ? path : undefined;
    entries = await readdir(path);
  } catch {
    return undefined; // the safetensors path reports the missing directory
  }
  if (entries.some((e) => e.endsWith('.safetensors') || e === 'model.safetensors.index.json')) return undefined;
  if (entries.includes('model.gguf')) return join(path, 'model.gguf');
  const ggufs = entries.filter((e) => e.endsWith('.gguf'));
  return ggufs.length === 1 ? join(path, ggufs[0]) : undefined;
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
