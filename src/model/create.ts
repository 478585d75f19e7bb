/**
 * Generates a model deterministically from a seed and writes it in Hugging Face layout, so the
 * real loading code is what runs: config.json, model.safetensors, tokenizer.json,
 * tokenizer_config.json, generation_config.json.
 *
 * Init: linear weights and embeddings ~ N(0, 1/fan_in) (1/sqrt(2048) ≈ 0.022 matches HF's 0.02 at
 * Llama-3.2-1B width; at tiny widths it keeps every layer's contribution O(1) so greedy decoding
 * of the tiny model varies), norm gains near 1 (1 + N(0, 0.02²), or N(0, 0.02²) for Gemma's
 * `1 + w` gains), biases N(0, 0.02²). Values depend only on (seed, tensor name).
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { f32ToBytes, type SafetensorsDtype } from './dtype.ts';
import { ModelPresetUnknownError, ModelQuantizeFormatError } from './errors.ts';
import { parseModelConfig } from './parseConfig.ts';
import { byteTokenizerConfig, byteTokenizerJson } from './byteTokenizer.ts';
import { isModelPreset, isTinyPreset, MODEL_PRESETS, presetConfigJson, presetGenerationConfig } from './presets.ts';
import { modelRecipe } from './arch/index.ts';
import { normalStream, type NormalStream } from './random.ts';
import { writeSafetensors } from './safetensorsWrite.ts';
import { exportGguf } from './gguf/export.ts';
import type { QuantizeType } from './quant/formats.ts';
import { expectedTensors } from './tensorNames.ts';

/** On-disk dtypes of generated models. */
export type CreateDtype = 'f32' | 'f16' | 'bf16';

const TORCH_DTYPE: Record<CreateDtype, string> = { f32: 'float32', f16: 'float16', bf16: 'bfloat16' };
const ST_DTYPE: Record<CreateDtype, SafetensorsDtype> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };

/** Elements generated per chunk when streaming a tensor to disk (4 Mi, bounded memory). */
const CHUNK_ELEMENTS = 1 << 22;

/** Parameters of {@link createModel}. */
export interface CreateModelParameters {
  /** A name of {@link MODEL_PRESETS}. */
  preset: string;
  seed: number;
  /** On-disk dtype; default f32 for the tiny presets, f16 otherwise. */
  dtype?: CreateDtype;
  /** Output directory (created). */
  out: string;
  /** `safetensors` (Hugging Face layout, default) or `gguf` (one `model.gguf` with config and tokenizer in its metadata). */
  format?: 'safetensors' | 'gguf';
  /** GGUF only: matrices in this ggml format (ggml's reference quantizer). */
  quantize?: QuantizeType;
  /**
   * Another tokenizer (parsed tokenizer.json and tokenizer_config.json, e.g. a real model's), with
   * the vocabulary size and special ids it implies, instead of the byte tokenizer: benchmarks of
   * what a real vocabulary costs (constrained decoding's masks).
   */
  tokenizer?: { json: unknown; config: Record<string, unknown> };
  /** Progress callback (bytes written, total bytes). */
  onProgress?: (written: number, total: number) => void;
  signal?: AbortSignal;
}

/** What {@link createModel} wrote. */
export interface CreateModelReturnType {
  dir: string;
  preset: string;
  dtype: CreateDtype;
  parameters: number;
  bytes: number;
  /** The GGUF file, for `format: 'gguf'`. */
  gguf?: string;
}

/** Writes a generated model directory. Same (preset, seed, dtype, format) → identical bytes. */
export async function createModel(p: CreateModelParameters): Promise<CreateModelReturnType> {
  if (!isModelPreset(p.preset)) throw new ModelPresetUnknownError(p.preset, MODEL_PRESETS);
  if (p.format === 'gguf') {
    const hf = join(p.out, '.safetensors');
    try {
      const made = await createModel({ ...p, format: 'safetensors', quantize: undefined, out: hf });
      const gguf = join(p.out, 'model.gguf');
      const type = p.quantize ?? (made.dtype === 'f32' ? 'F32' : made.dtype === 'f16' ? 'F16' : 'BF16');
      await exportGguf({ dir: hf, path: gguf, type, name: `openlora ${p.preset} seed ${p.seed >>> 0}`, signal: p.signal });
      const { size } = await stat(gguf);
      return { ...made, dir: p.out, bytes: size, gguf };
    } finally {
      await rm(hf, { recursive: true, force: true });
    }
  }
  if (p.quantize) throw new ModelQuantizeFormatError(p.quantize);
  const dtype = p.dtype ?? (isTinyPreset(p.preset) ? 'f32' : 'f16');
  const tok = p.tokenizer && tokenizerShape(p.tokenizer);
  const configJson = { ...presetConfigJson(p.preset), ...(tok ? { vocab_size: tok.vocabSize, bos_token_id: tok.bos, eos_token_id: tok.eos } : {}), torch_dtype: TORCH_DTYPE[dtype] };
  const config = parseModelConfig({ json: configJson, file: 'config.json' });
  const tensors = expectedTensors(config);
  // Norm gains start near 1: w ~ 1 + N(0, 0.02²), or w ~ N(0, 0.02²) where the gain is (1 + w) (Gemma).
  const unitGains = new Set(modelRecipe(config).layers.flat().flatMap((op) => (op.op === 'rmsnorm' && op.weightOffset === 0 ? [op.weight.name] : [])));
  if (modelRecipe(config).finalNorm.weightOffset === 0) unitGains.add('model.norm.weight');
  await mkdir(p.out, { recursive: true });
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
  await writeFile(join(p.out, 'config.json'), json(configJson));
  await writeFile(join(p.out, 'generation_config.json'), json(tok ? { bos_token_id: tok.bos, eos_token_id: tok.eos } : presetGenerationConfig()));
  await writeFile(join(p.out, 'tokenizer.json'), json(p.tokenizer?.json ?? byteTokenizerJson()));
  await writeFile(join(p.out, 'tokenizer_config.json'), json(p.tokenizer?.config ?? byteTokenizerConfig(config.maxPositionEmbeddings)));
  const seed = p.seed >>> 0;
  let parameters = 0;
  let bytes = 0;
  await writeSafetensors({
    path: join(p.out, 'model.safetensors'),
    metadata: { format: 'pt', generator: 'openlora model create', preset: p.preset, seed: String(seed) },
    signal: p.signal,
    onProgress: (written, total) => {
      bytes = written;
      p.onProgress?.(written, total);
    },
    tensors: tensors.map(({ name, shape }) => {
      const count = shape.reduce((a, b) => a * b, 1);
      parameters += count;
      const isNorm = shape.length === 1;
      const std = isNorm ? 0.02 : 1 / Math.sqrt(shape[shape.length - 1]);
      const offset = unitGains.has(name) ? 1 : 0;
      return {
        name,
        dtype: ST_DTYPE[dtype],
        shape,
        data: () => chunks({ count, random: normalStream(seed, name), std, offset, dtype: ST_DTYPE[dtype] }),
      };
    }),
  });
  return { dir: p.out, preset: p.preset, dtype, parameters, bytes };
}

function* chunks(p: { count: number; random: NormalStream; std: number; offset: number; dtype: SafetensorsDtype }): Generator<Uint8Array> {
  const values = new Float32Array(Math.min(p.count, CHUNK_ELEMENTS));
  for (let done = 0; done < p.count; done += values.length) {
    const n = Math.min(values.length, p.count - done);
    const chunk = n === values.length ? values : values.subarray(0, n);
    yield f32ToBytes(p.random.fill(chunk, p.std, p.offset), p.dtype);
  }
}

/** The vocabulary size (largest id + 1) and the bos/eos ids a tokenizer's files name. */
function tokenizerShape(t: { json: unknown; config: Record<string, unknown> }): { vocabSize: number; bos: number | null; eos: number | null } {
  const json = t.json as { model?: { vocab?: Record<string, number> | unknown[] }; added_tokens?: Array<{ id: number; content: string }> };
  const ids = new Map<string, number>();
  const vocab = json.model?.vocab;
  if (Array.isArray(vocab)) vocab.forEach((entry, id) => ids.set(String(Array.isArray(entry) ? entry[0] : entry), id));
  else for (const [token, id] of Object.entries(vocab ?? {})) ids.set(token, id);
  for (const a of json.added_tokens ?? []) ids.set(a.content, a.id);
  const idOf = (v: unknown) => {
    const token = typeof v === 'string' ? v : (v as { content?: string } | undefined)?.content;
    return token === undefined ? null : (ids.get(token) ?? null);
  };
  let vocabSize = 0;
  for (const id of ids.values()) vocabSize = Math.max(vocabSize, id + 1);
  return { vocabSize, bos: idOf(t.config.bos_token), eos: idOf(t.config.eos_token) };
}
