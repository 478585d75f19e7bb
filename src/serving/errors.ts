import { BaseError } from '../errors.ts';

/** A request names a model or adapter this node does not serve. */
export class ServingModelNotFoundError extends BaseError {
  override name = 'ServingModelNotFoundError' as const;
  constructor(model: string, available: string[]) {
    super('OPENLORA_SERVING_MODEL_NOT_FOUND', `The model "${model}" does not exist on this node.`, {
      hint: `Use the base model or an adapter listed by GET /v1/models: ${available.slice(0, 8).join(', ')}${available.length > 8 ? ', ...' : ''}.`,
      meta: { model },
    });
  }
}

/** The prompt does not fit the context with the requested completion. */
export class ServingContextExceededError extends BaseError {
  override name = 'ServingContextExceededError' as const;
  constructor(promptTokens: number, maxTokens: number, contextLength: number) {
    super('OPENLORA_SERVING_CONTEXT_EXCEEDED', `This model's context is ${contextLength} tokens; the request has ${promptTokens} prompt tokens and asks for ${maxTokens} more.`, {
      hint: 'Shorten the messages or lower max_tokens.',
      meta: { promptTokens, maxTokens, contextLength },
    });
  }
}

/** Text input on a model directory without a tokenizer, or token ids outside the vocabulary. */
export class ServingInputError extends BaseError {
  override name = 'ServingInputError' as const;
  constructor(shortMessage: string, hint: string, meta?: Record<string, unknown>) {
    super('OPENLORA_SERVING_INPUT', shortMessage, { hint, meta });
  }
}

/** A line of a batch file (`openlora generate --batch`) is not a valid request. */
export class ServingBatchInvalidError extends BaseError {
  override name = 'ServingBatchInvalidError' as const;
  constructor(file: string, line: number, problem: string) {
    super('OPENLORA_SERVING_BATCH_INVALID', `${file}:${line}: ${problem}`, {
      hint: 'Each line is one JSON object: {"id", "promptIds": [..] or "prompt": "..", "adapter": DIR or null, "maxTokens", "temperature", "seed"}.',
      meta: { file, line },
    });
  }
}
