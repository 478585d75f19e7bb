/**
 * Writes a random LoRA adapter in PEFT layout for a base model, deterministically from a seed, so
 * tests and benchmarks exercise the real loading path with many distinct adapters.
 *
 * Init: A ~ N(0, 1/(3 in)): the variance of PEFT's kaiming_uniform(a=√5) (U(±1/√in)). PEFT
 * initializes B = 0, which makes a fresh adapter a no-op; here B ~ N(0, σ²) with
 * σ = DELTA_RATIO · √(3/r) / scale, so that for unit-RMS inputs the adapter's delta
 * `scale · B A x` has about DELTA_RATIO times the RMS of the base projection `W x` (whose weights
 * are N(0, 1/in)): enough to change greedy tokens of the tiny model, not enough to drown it.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { moduleBase, moduleNames, type Projection } from '../model/config.ts';
import { f32ToBytes, type SafetensorsDtype } from '../model/dtype.ts';
import { ModelConfigInvalidError, ModelFileNotFoundError } from '../model/errors.ts';
import { parseModelConfig } from '../model/parseConfig.ts';
import { normalStream } from '../model/random.ts';
import { writeSafetensors } from '../model/safetensorsWrite.ts';
import { LoraConfigInvalidError, LoraRankUnsupportedError, LoraTargetUnknownError } from './errors.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, adapterIdOfDir, type AdapterId } from './id.ts';
import { MAX_LORA_RANK } from './peftConfig.ts';

/** Target RMS of the adapter delta relative to the base projection's output. */
export const DELTA_RATIO = 0.3;

/** Parameters of {@link createAdapter}. */
export interface CreateAdapterParameters {
  /** Base model directory (its config.json fixes the shapes). */
  model: string;
  rank: number;
  /** lora_alpha; default 2 × rank (scale 2). */
  alpha?: number;
  /** Projections to target; default all seven. */
  targets?: readonly string[];
  seed: number;
  /** Output directory (created). */
  out: string;
  /** On-disk dtype; default the base model's torch_dtype. */
  dtype?: SafetensorsDtype;
  /** base_model_name_or_path written to the config (part of the id); default the model directory's name. */
  baseModel?: string;
  signal?: AbortSignal;
}

/** What {@link createAdapter} wrote. */
export interface CreateAdapterReturnType {
  dir: string;
  id: AdapterId;
  rank: number;
  alpha: number;
  targets: Projection[];
  /** Bytes of the two files. */
  bytes: number;
}

const ST_DTYPE = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' } as const;

/** Writes a generated adapter. Same (model config, rank, alpha, targets, seed, dtype) → identical bytes and id. */
export async function createAdapter(p: CreateAdapterParameters): Promise<CreateAdapterReturnType> {
  const configPath = join(p.model, 'config.json');
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (error) {
    throw new ModelFileNotFoundError(configPath, { cause: error, details: (error as Error).message });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelConfigInvalidError(configPath, 'it does not parse as JSON', { cause: error });
  }
  const config = parseModelConfig({ json, file: configPath });
  const rank = p.rank;
  if (!Number.isSafeInteger(rank) || rank < 1 || rank > MAX_LORA_RANK) throw new LoraRankUnsupportedError('to create', rank, MAX_LORA_RANK);
  const alpha = p.alpha ?? 2 * rank;
  if (!Number.isFinite(alpha) || alpha <= 0) throw new LoraConfigInvalidError('(--alpha)', `lora_alpha must be a positive number, got ${alpha}`);
  const known = moduleNames(config);
  const targets = (p.targets ?? known).map((t) => {
    if (!known.includes(t)) throw new LoraTargetUnknownError('(--targets)', t, known);
    return t as Projection;
  });
  const ordered = known.filter((t) => targets.includes(t));
  const dtype = p.dtype ?? ST_DTYPE[config.torchDtype];
  const seed = p.seed >>> 0;
  const scale = alpha / rank;
  const bStd = (DELTA_RATIO * Math.sqrt(3 / rank)) / scale;

  await mkdir(p.out, { recursive: true });
  const adapterConfig = {
    alpha_pattern: {},
    base_model_name_or_path: p.baseModel ?? basename(resolve(p.model)),
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    lora_alpha: alpha,
    lora_dropout: 0,
    modules_to_save: null,
    peft_type: 'LORA',
    r: rank,
    rank_pattern: {},
    target_modules: ordered,
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: false,
  };
  await writeFile(join(p.out, ADAPTER_CONFIG_FILE), JSON.stringify(adapterConfig, null, 2) + '\n');
  const tensors = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const m of config.modules.filter((x) => ordered.includes(x.name))) {
      const { out, in: inF } = m;
      const prefix = `base_model.model.${moduleBase(layer, m)}`;
      const aName = `${prefix}.lora_A.weight`;
      const bName = `${prefix}.lora_B.weight`;
      tensors.push({ name: aName, dtype, shape: [rank, inF], data: () => randomBytes(seed, aName, rank * inF, 1 / Math.sqrt(3 * inF), dtype) });
      tensors.push({ name: bName, dtype, shape: [out, rank], data: () => randomBytes(seed, bName, out * rank, bStd, dtype) });
    }
  }
  await writeSafetensors({ path: join(p.out, ADAPTER_WEIGHTS_FILE), tensors, metadata: { format: 'pt', generator: 'openlora adapter create', seed: String(seed) }, signal: p.signal });
  const id = await adapterIdOfDir({ dir: p.out, signal: p.signal });
  const bytes = (await stat(join(p.out, ADAPTER_CONFIG_FILE))).size + (await stat(join(p.out, ADAPTER_WEIGHTS_FILE))).size;
  return { dir: p.out, id, rank, alpha, targets: ordered, bytes };
}

function randomBytes(seed: number, name: string, count: number, std: number, dtype: SafetensorsDtype): Uint8Array {
  return f32ToBytes(normalStream(seed, name).fill(new Float32Array(count), std, 0), dtype);
}
