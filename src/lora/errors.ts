/**
 * Errors of the adapter subsystem (PEFT loading, store, caches, slots). Each names the adapter
 * (directory or id), the tensor and the offending value; codes are `OPENLORA_LORA_<CONDITION>`.
 */
import { BaseError, type BaseErrorParameters } from '../errors.ts';

const RECREATE = 'Re-export the adapter with PEFT `save_pretrained`, or make a test one with `openlora adapter create`.';

/** adapter_config.json is missing, does not parse, or holds an invalid value. */
export class LoraConfigInvalidError extends BaseError {
  override name = 'LoraConfigInvalidError' as const;
  constructor(file: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_LORA_CONFIG_INVALID', `Invalid adapter config ${file}: ${problem}`, {
      hint: `An adapter directory holds adapter_config.json and adapter_model.safetensors (PEFT layout). ${RECREATE}`,
      meta: { file },
      ...parameters,
    });
  }
}

/** The adapter uses a PEFT feature openlora does not serve (modules_to_save, DoRA, rank_pattern...). */
export class LoraFeatureUnsupportedError extends BaseError {
  override name = 'LoraFeatureUnsupportedError' as const;
  constructor(file: string, feature: string, value: unknown, hint: string) {
    super('OPENLORA_LORA_FEATURE_UNSUPPORTED', `Adapter ${file} uses ${feature} = ${JSON.stringify(value)}, which openlora does not support.`, {
      hint,
      meta: { file, feature },
    });
  }
}

/** target_modules selects no linear module of the model's layers, or names one openlora cannot serve. */
export class LoraTargetUnknownError extends BaseError {
  override name = 'LoraTargetUnknownError' as const;
  constructor(file: string, target: string, known: readonly string[]) {
    super('OPENLORA_LORA_TARGET_UNKNOWN', `Adapter ${file} targets module ${JSON.stringify(target)}, which openlora cannot apply LoRA to.`, {
      hint: `Supported targets are the linear modules of the base model's layers: ${known.join(', ')} (matched as PEFT does: a list by name suffix, a string as a regex over paths like model.layers.0.self_attn.q_proj).`,
      meta: { file, target },
    });
  }
}

/** The adapter's rank is outside what openlora (or the slot pool) holds. */
export class LoraRankUnsupportedError extends BaseError {
  override name = 'LoraRankUnsupportedError' as const;
  constructor(where: string, rank: number, maxRank: number) {
    super('OPENLORA_LORA_RANK_UNSUPPORTED', `Adapter ${where} has rank ${rank}, outside [1, ${maxRank}].`, {
      hint: `Use an adapter of rank <= ${maxRank}, or start the node with a larger lora.maxRank (at most 128).`,
      meta: { where, rank, maxRank },
    });
  }
}

/** A lora_A / lora_B pair disagrees on the rank, or with adapter_config.json's `r`. */
export class LoraRankMismatchError extends BaseError {
  override name = 'LoraRankMismatchError' as const;
  constructor(file: string, problem: string, meta: Record<string, unknown>) {
    super('OPENLORA_LORA_RANK_MISMATCH', `Rank mismatch in adapter ${file}: ${problem}`, {
      hint: `The adapter's tensors and adapter_config.json "r" must agree. ${RECREATE}`,
      meta: { file, ...meta },
    });
  }
}

/** A tensor has a shape the base model does not allow (an adapter for another base model). */
export class LoraTensorShapeError extends BaseError {
  override name = 'LoraTensorShapeError' as const;
  constructor(file: string, tensor: string, expected: readonly number[], found: readonly number[]) {
    super('OPENLORA_LORA_TENSOR_SHAPE', `Tensor "${tensor}" in ${file} has shape [${found.join(', ')}], but the base model needs [${expected.join(', ')}].`, {
      hint: 'The adapter was trained for a different base model (see base_model_name_or_path in adapter_config.json). Use an adapter made for this model.',
      meta: { file, tensor, expected, found },
    });
  }
}

/** One half of a lora_A / lora_B pair is missing. */
export class LoraTensorMissingError extends BaseError {
  override name = 'LoraTensorMissingError' as const;
  constructor(file: string, tensor: string, partner: string) {
    super('OPENLORA_LORA_TENSOR_MISSING', `Tensor "${tensor}" is missing from ${file} (its partner "${partner}" is present).`, {
      hint: `Every targeted projection needs both lora_A and lora_B. The file is incomplete. ${RECREATE}`,
      meta: { file, tensor, partner },
    });
  }
}

/** A tensor name that is not a LoRA weight of a decoder projection, or a layer beyond the model's. */
export class LoraTensorUnexpectedError extends BaseError {
  override name = 'LoraTensorUnexpectedError' as const;
  constructor(file: string, tensor: string, problem: string, hint?: string) {
    super('OPENLORA_LORA_TENSOR_UNEXPECTED', `Tensor "${tensor}" in ${file}: ${problem}`, {
      hint: hint ?? `Expected names like base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight. ${RECREATE}`,
      meta: { file, tensor },
    });
  }
}

/** adapter_model.safetensors is unreadable: truncated, bad header, bad offsets. */
export class LoraFileInvalidError extends BaseError {
  override name = 'LoraFileInvalidError' as const;
  constructor(file: string, cause: unknown) {
    const inner = cause instanceof BaseError ? cause.shortMessage : String((cause as Error)?.message ?? cause);
    super('OPENLORA_LORA_FILE_INVALID', `Adapter file ${file} cannot be read: ${inner}`, {
      hint: `The file is truncated or not a safetensors file. ${RECREATE}`,
      meta: { file },
      cause,
    });
  }
}

/** An adapter id or name the store does not know. */
export class LoraAdapterNotFoundError extends BaseError {
  override name = 'LoraAdapterNotFoundError' as const;
  constructor(idOrName: string) {
    super('OPENLORA_LORA_ADAPTER_NOT_FOUND', `Adapter ${JSON.stringify(idOrName)} is not registered on this node.`, {
      hint: 'Register it with `openlora adapter load DIR` (or the admin API), then use its id (0x...) or name.',
      meta: { adapter: idOrName },
    });
  }
}

/** The adapter's files changed on disk after registration: their hash no longer matches the id. */
export class LoraContentChangedError extends BaseError {
  override name = 'LoraContentChangedError' as const;
  constructor(dir: string, expectedId: string, foundId: string) {
    super('OPENLORA_LORA_CONTENT_CHANGED', `Adapter files in ${dir} hash to ${foundId}, not the registered id ${expectedId}.`, {
      hint: 'An adapter id names its exact bytes. Re-register the directory to serve the new content under its new id.',
      meta: { dir, expectedId, foundId },
    });
  }
}

/** Two different adapters registered under the same name. */
export class LoraNameConflictError extends BaseError {
  override name = 'LoraNameConflictError' as const;
  constructor(name: string, existingId: string, newId: string) {
    super('OPENLORA_LORA_NAME_CONFLICT', `Adapter name ${JSON.stringify(name)} already names ${existingId}; cannot also name ${newId}.`, {
      hint: 'Pick another name, or unload the existing adapter first.',
      meta: { name, existingId, newId },
    });
  }
}

/** An adapter cannot be unloaded while requests use it. */
export class LoraAdapterInUseError extends BaseError {
  override name = 'LoraAdapterInUseError' as const;
  constructor(id: string, pins: number) {
    super('OPENLORA_LORA_ADAPTER_IN_USE', `Adapter ${id} is in use by ${pins} running request(s).`, {
      hint: 'Wait for its requests to finish (or cancel them), then unload it.',
      meta: { id, pins },
    });
  }
}

/** The backend was created without adapter slots. */
export class LoraDisabledError extends BaseError {
  override name = 'LoraDisabledError' as const;
  constructor() {
    super('OPENLORA_LORA_DISABLED', 'This node has no LoRA adapter slots.', {
      hint: 'Start the node with lora.slots > 0 to serve adapters.',
    });
  }
}

/** An adapter's weights do not fit a slot pool's layout (model shapes or rank). */
export class LoraSlotLayoutError extends BaseError {
  override name = 'LoraSlotLayoutError' as const;
  constructor(problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_LORA_SLOT_LAYOUT', `LoRA slot pool: ${problem}`, {
      hint: 'Lower lora.slots or lora.maxRank so each slot buffer fits the device limits, or check that the adapter was validated against this model.',
      ...parameters,
    });
  }
}

/** `lora.dtype: f16` and an adapter value beyond f16's range (its f16 copy would be infinite). */
export class LoraDtypeRangeError extends BaseError {
  override name = 'LoraDtypeRangeError' as const;
  constructor(tensor: string, index: number, value: number, dtype: string) {
    super('OPENLORA_LORA_DTYPE_RANGE', `Adapter tensor ${tensor} holds ${value} at element ${index}, beyond ${dtype}'s largest finite value (65504): held in ${dtype} it would be infinite.`, {
      hint: 'Serve adapters in f32: set lora.dtype: f32 (--set lora.dtype=f32, or --lora-dtype f32); lora.dtype: auto holds them in f16 on a 16-bit or quantized base model. Or rescale the adapter so its factors fit f16.',
      meta: { tensor, index, value, dtype },
    });
  }
}

/** Unified memory: an adapter needs more pages than the whole budget holds. */
export class LoraBudgetTooSmallError extends BaseError {
  override name = 'LoraBudgetTooSmallError' as const;
  constructor(adapter: string, bytes: number, budgetBytes: number) {
    super('OPENLORA_LORA_BUDGET_TOO_SMALL', `Adapter ${adapter} needs ${bytes} bytes, more than the whole memory budget of ${budgetBytes} bytes.`, {
      hint: 'Raise engine.memory.budgetMiB, or serve a smaller adapter.',
      meta: { adapter, bytes, budgetBytes },
    });
  }
}

/** Unified memory: one row of an adapter's factor is larger than the unit of a page it must fit in (`src/lora/pages.ts`), so it cannot be laid out in pages. */
export class LoraPageTooSmallError extends BaseError {
  override name = 'LoraPageTooSmallError' as const;
  constructor(factor: string, rowBytes: number, pageBytes: number) {
    super('OPENLORA_LORA_PAGE_TOO_SMALL', `A row of the adapter's ${factor} factor takes ${rowBytes} bytes, more than fits in one piece of a page of unified memory (${pageBytes} bytes: a KV block on the CPU backend, one layer's K or V slice of it on WebGPU).`, {
      hint: 'Serve this model with engine.memory.mode: split (adapters in slots of their own).',
      meta: { factor, rowBytes, pageBytes },
    });
  }
}
