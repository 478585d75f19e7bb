import { BaseError, type BaseErrorParameters } from '../errors.ts';

/** A prompt or step token id is outside the model's vocabulary. */
export class EngineTokenOutOfRangeError extends BaseError {
  override name = 'EngineTokenOutOfRangeError' as const;
  constructor(token: number, vocabSize: number) {
    super('OPENLORA_ENGINE_TOKEN_OUT_OF_RANGE', `Token id ${token} is outside the vocabulary [0, ${vocabSize}).`, {
      hint: 'Pass token ids produced by this model\'s tokenizer (or --prompt TEXT instead of --prompt-ids).',
      meta: { token, vocabSize },
    });
  }
}

/** A sequence would run past the context the backend was created for. */
export class EngineContextExceededError extends BaseError {
  override name = 'EngineContextExceededError' as const;
  constructor(length: number, maxContext: number) {
    super('OPENLORA_ENGINE_CONTEXT_EXCEEDED', `The sequence needs ${length} positions but the context holds ${maxContext}.`, {
      hint: 'Shorten the prompt or lower --max-tokens.',
      meta: { length, maxContext },
    });
  }
}

/** A step's block table does not cover its positions or names a block outside the pool. */
export class EngineBlockTableError extends BaseError {
  override name = 'EngineBlockTableError' as const;
  constructor(problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_ENGINE_BLOCK_TABLE', `Invalid KV block table: ${problem}.`, {
      hint: 'The caller must give each sequence blocks covering startPos + tokens.length positions, ids below numKvBlocks.',
      ...parameters,
    });
  }
}

/** A feature of a step the backend does not run yet (e.g. a LoRA adapter slot before LoRA lands). */
export class EngineUnsupportedError extends BaseError {
  override name = 'EngineUnsupportedError' as const;
  constructor(what: string, hint: string) {
    super('OPENLORA_ENGINE_UNSUPPORTED', `${what} is not supported by this backend.`, { hint });
  }
}

/** A step names an adapter slot outside the backend's LoRA pool. */
export class EngineAdapterSlotError extends BaseError {
  override name = 'EngineAdapterSlotError' as const;
  constructor(slot: number, slots: number) {
    super('OPENLORA_ENGINE_ADAPTER_SLOT', `Adapter slot ${slot} is outside the pool: use -1 (base model) or a slot in [0, ${slots}).`, {
      hint: slots === 0 ? 'This backend was created without LoRA slots; create it with loraSlots > 0.' : 'Take slots from the slot manager (createSlotManager), which only hands out slots of this pool.',
      meta: { slot, slots },
    });
  }
}

/** An adapter that does not fit the pool or the model (slot, rank or shape). */
export class EngineLoraWeightsError extends BaseError {
  override name = 'EngineLoraWeightsError' as const;
  constructor(problem: string) {
    super('OPENLORA_ENGINE_LORA_WEIGHTS', `Cannot load the LoRA adapter: ${problem}.`, {
      hint: 'Check the adapter targets this base model (shapes) and that its rank fits the pool (--max-lora-rank).',
    });
  }
}

/** A model shape the kernels cannot run (e.g. an inner size that is not a multiple of 8). */
export class EngineShapeUnsupportedError extends BaseError {
  override name = 'EngineShapeUnsupportedError' as const;
  constructor(tensor: string, problem: string) {
    super('OPENLORA_ENGINE_SHAPE_UNSUPPORTED', `The WebGPU kernels cannot run tensor ${tensor}: ${problem}.`, {
      hint: 'Use --backend cpu for this model.',
    });
  }
}

/** Invalid sampling parameters (negative temperature, topP outside (0, 1], ...). */
export class EngineSamplingParamsError extends BaseError {
  override name = 'EngineSamplingParamsError' as const;
  constructor(problem: string) {
    super('OPENLORA_ENGINE_SAMPLING_PARAMS', `Invalid sampling parameters: ${problem}.`, {
      hint: 'temperature >= 0, topK >= 0 (0 = off), 0 < topP <= 1, seed an integer.',
    });
  }
}

/** A generation request with no prompt tokens. */
export class EnginePromptEmptyError extends BaseError {
  override name = 'EnginePromptEmptyError' as const;
  constructor() {
    super('OPENLORA_ENGINE_PROMPT_EMPTY', 'The prompt has no tokens.', { hint: 'Pass a non-empty --prompt or --prompt-ids.' });
  }
}
