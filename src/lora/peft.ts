/**
 * Loads a PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors) into
 * {@link LoraWeights}, validated tensor by tensor against the base model's {@link ModelConfig}.
 *
 * Tensor names: `base_model.model.model.layers.{i}.{module path}.lora_{A|B}[.default].weight` (module
 * paths as the base model's architecture names them: `self_attn.q_proj`, Phi-3's fused
 * `self_attn.qkv_proj`...), A `[r, in]`, B `[out, r]` (PyTorch layout) in F32, F16 or BF16. Both files are read whole once:
 * the bytes are hashed for the content id and parsed with the shared safetensors validator.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoraWeights } from '../engine/backend.ts';
import { moduleBase, type LinearModule, type ModelConfig, type Projection } from '../model/config.ts';
import { bytesToF32 } from '../model/dtype.ts';
import { parseSafetensorsHeader, type SafetensorsTensorInfo } from '../model/safetensors.ts';
import { AbortedError } from '../errors.ts';
import {
  LoraConfigInvalidError,
  LoraFileInvalidError,
  LoraRankMismatchError,
  LoraRankUnsupportedError,
  LoraTensorMissingError,
  LoraTensorShapeError,
  LoraTensorUnexpectedError,
} from './errors.ts';
import { loraSlotImageHoldsWeights, loraSlotImageLazyWeights, loraSlotImageWeights, packLoraFactors, packLoraSlotImage, type LoraSlotImage, type LoraSlotImageLayout } from './slotImage.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, adapterId, type AdapterId } from './id.ts';
import { MAX_LORA_RANK, parsePeftConfig, resolvePeftTargets, type PeftConfig } from './peftConfig.ts';
import { adapterTargets } from './pages.ts';

/** What is known of an adapter besides its weights. */
export interface AdapterMeta {
  /** Content id (see `id.ts`). */
  id: AdapterId;
  /** Directory it was read from. */
  dir: string;
  rank: number;
  alpha: number;
  useRslora: boolean;
  /** alpha / r, or alpha / sqrt(r). */
  scale: number;
  /** Modules that carry weights, in the model's module order. */
  targets: Projection[];
  /** Layers that carry at least one projection's weights. */
  layers: number[];
  /** Per layer, the modules carrying weights (what unified memory lays out in pages, `pages.ts`). */
  layerTargets: Projection[][];
  baseModel?: string;
  /** Bytes of the two files on disk. */
  fileBytes: number;
  /** Bytes of the parsed weights and slot image in host memory (what the host cache charges; the image alone where it is the one copy, until f32 weights decoded from it are asked for: `hostCache.ts` charges those then). */
  bytes: number;
}

/** Where a load's time went (milliseconds of the thread that ran it; `bench:lora`'s cold breakdown). */
export interface AdapterLoadTimings {
  /** Reading both files. */
  readMs: number;
  /** Validating the tensors, and decoding them to f32 unless they are decoded straight into the slot image (then `packMs`). */
  parseMs: number;
  /** Hashing the files for the content id (0 when the id was known). */
  hashMs: number;
  /** Packing into the slot layout (0 without one), decoding included where the image holds the f32 weights as they are. */
  packMs: number;
}

/** A loaded adapter: weights ready for a slot, plus metadata. */
export interface PeftAdapter {
  weights: LoraWeights;
  /**
   * True when `image` is the only copy of the factors and `weights` decodes them from it on first
   * use (f16 images: `loraSlotImageLazyWeights`); a loader thread then posts the adapter without
   * `weights`, and the main thread gives it that again.
   */
  weightsFromImage?: true;
  /** The weights packed for a device slot layout, when the load was asked for one (`slotImage`). */
  image?: LoraSlotImage;
  meta: AdapterMeta;
  timings?: AdapterLoadTimings;
}

/** Parameters of {@link loadPeftAdapter}. */
export interface LoadPeftAdapterParameters {
  /** Adapter directory in PEFT layout. */
  dir: string;
  /** The base model the adapter must fit. */
  config: ModelConfig;
  /** Largest rank accepted; default {@link MAX_LORA_RANK}. */
  maxRank?: number;
  /**
   * The id the files are known to hash to (the adapter store passes it when the files' size and
   * modification time are those it hashed at registration): skips hashing, the slow part of a load.
   */
  knownId?: AdapterId;
  /** Also pack the weights into this device slot layout (`slotImage.ts`); f32 weights are then views into the image where it adds no padding. */
  slotImage?: LoraSlotImageLayout;
  /** Pack the image into a SharedArrayBuffer (`LoraSlotImage.bytes`: what a loader thread posts); default false. */
  sharedImage?: boolean;
  signal?: AbortSignal;
}

/** Reads and validates an adapter directory. Throws the `OPENLORA_LORA_*` errors of `errors.ts`. */
export async function loadPeftAdapter(p: LoadPeftAdapterParameters): Promise<PeftAdapter> {
  const configPath = join(p.dir, ADAPTER_CONFIG_FILE);
  const weightsPath = join(p.dir, ADAPTER_WEIGHTS_FILE);
  const t0 = performance.now();
  const configBytes = await readAdapterFile(configPath, p.signal);
  const weightsBytes = await readAdapterFile(weightsPath, p.signal);
  const t1 = performance.now();
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(configBytes));
  } catch (error) {
    throw new LoraConfigInvalidError(configPath, 'it does not parse as JSON', { cause: error, details: (error as Error).message });
  }
  const peft = parsePeftConfig({ json, file: configPath });
  const maxRank = p.maxRank ?? MAX_LORA_RANK;
  if (peft.rank > maxRank) throw new LoraRankUnsupportedError(configPath, peft.rank, maxRank);
  const tensors = parsePeftTensors({ file: weightsPath, bytes: weightsBytes, config: p.config, peft });
  // A slot image is packed straight from the file's tensors when it is the one copy the host keeps:
  // an f32 image that holds the weights as they are (the weights are views into it), or an f16 image
  // (F16 tensors copied as they are; the weights are decoded from it only if something asks for
  // them, `loraSlotImageLazyWeights`). Otherwise the tensors are decoded, then packed.
  const direct = p.slotImage && (p.slotImage.dtype === 'f16' || loraSlotImageHoldsWeights(p.slotImage, peft.rank)) ? p.slotImage : undefined;
  const parsed = direct ? undefined : decodePeftTensors(tensors, weightsBytes);
  const t2 = performance.now();
  const id = p.knownId ?? adapterId({ configBytes, weightsBytes });
  const t3 = performance.now();
  const raw = (t: SafetensorsTensorInfo) => ({ bytes: weightsBytes.subarray(t.offset, t.offset + t.byteLength), dtype: t.dtype });
  const factors = (layer: number, module: Projection) => {
    const t = tensors.layers[layer][module];
    return t && { a: raw(t.a), b: raw(t.b) };
  };
  const image = direct ? packLoraFactors({ layout: direct, rank: peft.rank, scale: peft.scale, factors, shared: p.sharedImage }) : p.slotImage && parsed ? packLoraSlotImage({ config: p.config, layout: p.slotImage, weights: parsed, shared: p.sharedImage }) : undefined;
  const t4 = performance.now();
  const views = image && p.slotImage ? loraSlotImageWeights(p.slotImage, image, peft.scale) : undefined;
  const weightsFromImage = direct !== undefined && views === undefined;
  const weights = views ?? parsed ?? loraSlotImageLazyWeights(direct!, image!, peft.scale);
  const targets = p.config.modules.map((m) => m.name).filter((name) => tensors.layers.some((l) => l[name]));
  const layers = tensors.layers.flatMap((l, i) => (Object.keys(l).length ? [i] : []));
  const layerTargets = adapterTargets(p.config, tensors);
  let bytes = image?.bytes.byteLength ?? 0;
  if (parsed) for (const l of parsed.layers) for (const t of Object.values(l)) bytes += t!.a.byteLength + t!.b.byteLength;
  return {
    weights,
    weightsFromImage: weightsFromImage || undefined,
    image,
    meta: {
      id,
      dir: p.dir,
      rank: peft.rank,
      alpha: peft.alpha,
      useRslora: peft.useRslora,
      scale: peft.scale,
      targets,
      layers,
      layerTargets,
      baseModel: peft.baseModel,
      fileBytes: configBytes.byteLength + weightsBytes.byteLength,
      bytes,
    },
    timings: { readMs: t1 - t0, parseMs: t2 - t1, hashMs: t3 - t2, packMs: t4 - t3 },
  };
}

/**
 * A whole file in one read of the size `stat` gives, as `readFile` reads a regular file (which takes
 * 512 KiB at a time, a thread-pool round trip each: 8.5 ms against 3.9 ms for a 9.8 MB adapter file,
 * load 6.4); short reads continue where they stopped.
 */
async function readWhole(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const out = new Uint8Array((await handle.stat()).size);
    let at = 0;
    while (at < out.byteLength) {
      const { bytesRead } = await handle.read(out, at, out.byteLength - at, at);
      if (bytesRead === 0) return out.subarray(0, at); // shrank since stat
      at += bytesRead;
    }
    return out;
  } finally {
    await handle.close();
  }
}

async function readAdapterFile(path: string, signal?: AbortSignal): Promise<Uint8Array> {
  if (signal?.aborted) throw new AbortedError(`Reading ${path}`, signal.reason);
  try {
    const bytes = await readWhole(path);
    signal?.throwIfAborted();
    return bytes;
  } catch (error) {
    if (signal?.aborted) throw new AbortedError(`Reading ${path}`, signal.reason);
    if (path.endsWith('.json')) throw new LoraConfigInvalidError(path, 'it cannot be read', { cause: error, details: (error as Error).message });
    throw new LoraFileInvalidError(path, error);
  }
}

const KEY = /^base_model\.model\.(.+)\.lora_(A|B)(?:\.default)?\.weight$/;
const LAYER_PATH = /^model\.layers\.(\d+)\.(.+)$/;

/** Parameters of {@link parsePeftWeights}. */
export interface ParsePeftWeightsParameters {
  /** Path for error messages. */
  file: string;
  /** The whole adapter_model.safetensors. */
  bytes: Uint8Array;
  config: ModelConfig;
  peft: PeftConfig;
}

/** Parses and validates adapter_model.safetensors bytes into {@link LoraWeights} (f32). */
export function parsePeftWeights(p: ParsePeftWeightsParameters): LoraWeights {
  return decodePeftTensors(parsePeftTensors(p), p.bytes);
}

/** An adapter file's LoRA tensors, validated against the model and adapter_config.json, not yet decoded. */
export interface PeftTensors {
  rank: number;
  scale: number;
  /** Per layer, the targeted modules' A [rank, in] and B [out, rank] as the file holds them. */
  layers: Array<Partial<Record<Projection, { a: SafetensorsTensorInfo; b: SafetensorsTensorInfo }>>>;
}

/** Decodes validated tensors to f32 (one array per factor). */
export function decodePeftTensors(tensors: PeftTensors, bytes: Uint8Array): LoraWeights {
  const f32 = (t: SafetensorsTensorInfo) => bytesToF32(bytes.subarray(t.offset, t.offset + t.byteLength), t.dtype);
  return { rank: tensors.rank, scale: tensors.scale, layers: tensors.layers.map((l) => Object.fromEntries(Object.entries(l).map(([name, t]) => [name, { a: f32(t!.a), b: f32(t!.b) }]))) };
}

/** Validates adapter_model.safetensors bytes (names, targets, shapes, ranks) and finds each LoRA tensor. */
export function parsePeftTensors(p: ParsePeftWeightsParameters): PeftTensors {
  const { file, bytes, config, peft } = p;
  const tensors = parseHeader(file, bytes);
  const targeted = resolvePeftTargets({ targets: peft.targets, config, file });
  const byPath = new Map(config.modules.map((m) => [m.path, m]));
  // "layer.module" -> { A, B } tensor infos
  const pairs = new Map<string, { layer: number; module: LinearModule; a?: SafetensorsTensorInfo; b?: SafetensorsTensorInfo }>();
  for (const info of tensors.values()) {
    const m = KEY.exec(info.name);
    const inLayer = m ? LAYER_PATH.exec(m[1]) : null;
    const module = inLayer ? byPath.get(inLayer[2]) : undefined;
    if (!m || !inLayer || !module) {
      throw new LoraTensorUnexpectedError(file, info.name, `it is not a LoRA weight of a linear module of ${config.architecture} layers (${config.modules.map((x) => x.path).join(', ')})`);
    }
    const layer = Number(inLayer[1]);
    if (layer >= config.numLayers) {
      throw new LoraTensorUnexpectedError(file, info.name, `layer ${layer} is out of range: the base model has ${config.numLayers} layers (0..${config.numLayers - 1})`, 'The adapter was trained for a deeper base model. Use an adapter made for this model.');
    }
    const key = `${layer}.${module.name}`;
    if (!targeted.has(key)) {
      throw new LoraTensorUnexpectedError(file, info.name, `${moduleBase(layer, module)} is not selected by adapter_config.json target_modules ${JSON.stringify(peft.targets.modules)}`);
    }
    const pair = pairs.get(key) ?? { layer, module };
    pair[m[2] === 'A' ? 'a' : 'b'] = info;
    pairs.set(key, pair);
  }
  const layers: PeftTensors['layers'] = Array.from({ length: config.numLayers }, () => ({}));
  for (const { layer, module, a, b } of pairs.values()) {
    const prefix = `base_model.model.${moduleBase(layer, module)}`;
    if (!a) throw new LoraTensorMissingError(file, `${prefix}.lora_A.weight`, b!.name);
    if (!b) throw new LoraTensorMissingError(file, `${prefix}.lora_B.weight`, a.name);
    const { out, in: inF } = module;
    if (a.shape.length !== 2 || b.shape.length !== 2) {
      const bad = a.shape.length !== 2 ? a : b;
      throw new LoraTensorShapeError(file, bad.name, bad === a ? [peft.rank, inF] : [out, peft.rank], bad.shape);
    }
    if (a.shape[0] !== b.shape[1]) {
      throw new LoraRankMismatchError(file, `"${a.name}" has shape [${a.shape.join(', ')}] (rank ${a.shape[0]}) but "${b.name}" has shape [${b.shape.join(', ')}] (rank ${b.shape[1]})`, {
        a: a.name,
        b: b.name,
        aShape: a.shape,
        bShape: b.shape,
      });
    }
    if (a.shape[0] !== peft.rank) {
      throw new LoraRankMismatchError(file, `"${a.name}" has shape [${a.shape.join(', ')}] (rank ${a.shape[0]}) but adapter_config.json says r = ${peft.rank}`, {
        a: a.name,
        aShape: a.shape,
        r: peft.rank,
      });
    }
    if (a.shape[1] !== inF) throw new LoraTensorShapeError(file, a.name, [peft.rank, inF], a.shape);
    if (b.shape[0] !== out) throw new LoraTensorShapeError(file, b.name, [out, peft.rank], b.shape);
    layers[layer][module.name] = { a, b }; // A [r, in], B [out, r]
  }
  if (pairs.size === 0) throw new LoraFileInvalidError(file, new Error('it holds no LoRA tensors'));
  return { rank: peft.rank, scale: peft.scale, layers };
}

/** The header of an in-memory safetensors file, validated like the file reader does. */
function parseHeader(file: string, bytes: Uint8Array): Map<string, SafetensorsTensorInfo> {
  try {
    if (bytes.byteLength < 8) throw new Error(`the file has ${bytes.byteLength} bytes, fewer than the 8-byte header length`);
    const headerLen = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (headerLen > BigInt(bytes.byteLength - 8)) throw new Error(`the header length ${headerLen} runs past the end of the file (${bytes.byteLength} bytes)`);
    const headerBytes = bytes.subarray(8, 8 + Number(headerLen));
    return parseSafetensorsHeader({ file, headerBytes, fileSize: bytes.byteLength }).tensors;
  } catch (error) {
    throw new LoraFileInvalidError(file, error);
  }
}
