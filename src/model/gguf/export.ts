/**
 * Writes a Hugging Face model directory as one GGUF file llama.cpp runs (`model create --format
 * gguf`): llama.cpp's tensor names, q/k rows permuted for Llama, Gemma norms stored as `1 + w`,
 * norms and biases in F32 and matrices in the requested type (ggml's reference quantizers for
 * Q8_0/Q4_0/Q4_K, rows that are not whole blocks falling back as `--quantize` does), the config and
 * tokenizer in metadata.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { modelRecipe } from '../arch/index.ts';
import { isMatrix, recipeTensors } from '../arch/recipe.ts';
import { quantizedTypeFor } from '../deviceTensor.ts';
import { f32ToBytes, type SafetensorsDtype } from '../dtype.ts';
import { ModelConfigInvalidError } from '../errors.ts';
import { idList, parseModelConfig } from '../parseConfig.ts';
import { isQuantType, quantize, type QuantizeType } from '../quant/index.ts';
import { openWeightStore } from '../weights.ts';
import { configMetadata } from './config.ts';
import { rowBytes, type GgufTensorType } from './format.ts';
import { ggufTensorName, permutedHeads, permuteRows, storesUnitOffsetNorm } from './names.ts';
import { tokenizerMetadata } from './tokenizer.ts';
import { writeGguf, type GgufWriteTensor } from './write.ts';

/** Matrix types a GGUF export writes. */
export type GgufExportType = SafetensorsDtype | QuantizeType;

/** Parameters of {@link exportGguf}. */
export interface ExportGgufParameters {
  /** Hugging Face model directory. */
  dir: string;
  /** The .gguf file to write. */
  path: string;
  /** Type of the weight matrices. */
  type: GgufExportType;
  /** `general.name`. */
  name: string;
  onProgress?: (written: number, total: number) => void;
  signal?: AbortSignal;
}

async function readJsonFile(path: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelConfigInvalidError(path, 'it cannot be read', { cause: error, details: (error as Error).message });
  }
  return JSON.parse(text) as Record<string, unknown>;
}

/** Converts the model in `dir` to a GGUF file at `path`. */
export async function exportGguf(p: ExportGgufParameters): Promise<void> {
  const configPath = join(p.dir, 'config.json');
  const configJson = (await readJsonFile(configPath, true))!;
  const gen = (await readJsonFile(join(p.dir, 'generation_config.json'), false)) ?? {};
  const config = parseModelConfig({ json: configJson, file: configPath, extraEosTokenIds: idList('generation_config.json', 'eos_token_id', gen.eos_token_id) });
  const tokenizerJson = await readJsonFile(join(p.dir, 'tokenizer.json'), false);
  const tokenizerConfig = (await readJsonFile(join(p.dir, 'tokenizer_config.json'), false)) ?? {};
  const weights = await openWeightStore({ dir: p.dir, signal: p.signal });
  try {
    const metadata = configMetadata({ config, configJson, name: p.name, mainType: p.type });
    const bos = typeof gen.bos_token_id === 'number' ? gen.bos_token_id : config.bosTokenId;
    if (tokenizerJson) {
      for (const [k, v] of tokenizerMetadata({ tokenizerJson, tokenizerConfig, vocabSize: config.vocabSize, bosTokenId: bos, eosTokenIds: config.eosTokenIds })) metadata.set(k, v);
    } else metadata.set('tokenizer.ggml.model', { type: 'string', value: 'none' });
    const tensors: GgufWriteTensor[] = recipeTensors(modelRecipe(config)).map((spec) => {
      const ggufName = ggufTensorName(config.architecture, spec.name);
      if (!ggufName) throw new ModelConfigInvalidError(configPath, `tensor ${spec.name} has no llama.cpp name`);
      const cols = spec.shape[spec.shape.length - 1];
      let type: GgufTensorType = 'F32';
      if (isMatrix(spec)) type = isQuantType(p.type) ? (quantizedTypeFor(p.type, cols) ?? 'F16') : p.type;
      return {
        name: ggufName,
        shape: spec.shape,
        type,
        data: async () => {
          const values = await weights.f32(spec.name, p.signal);
          if (storesUnitOffsetNorm(config.architecture, spec.name)) for (let i = 0; i < values.length; i++) values[i] = values[i] + 1;
          let bytes = isQuantType(type) ? quantize({ values, type }) : f32ToBytes(values, type);
          const heads = permutedHeads(config, spec.name);
          if (heads !== undefined) bytes = permuteRows({ data: bytes, rowBytes: isMatrix(spec) ? rowBytes(type, cols) : 4, heads, toGguf: true });
          return bytes;
        },
      };
    });
    await writeGguf({ path: p.path, metadata, tensors, onProgress: p.onProgress, signal: p.signal });
  } finally {
    await weights.close();
  }
}
