import { BaseError } from '../errors.ts';

/** The request can never fit: its prompt plus max tokens exceed the model context or the KV pool. */
export class SchedulerRequestTooLargeError extends BaseError {
  override name = 'SchedulerRequestTooLargeError' as const;
  constructor(parameters: { promptTokens: number; maxTokens: number; limit: number; what: string }) {
    super('OPENLORA_SCHEDULER_REQUEST_TOO_LARGE', `The request needs ${parameters.promptTokens} prompt + ${parameters.maxTokens} new tokens, over the ${parameters.what} of ${parameters.limit} tokens.`, {
      hint: 'Shorten the prompt or lower max_tokens.',
      meta: parameters,
    });
  }
}

/** The waiting queue is full; the caller should retry later (HTTP 429). */
export class SchedulerQueueFullError extends BaseError {
  override name = 'SchedulerQueueFullError' as const;
  readonly retryAfterMs: number;
  constructor(parameters: { queued: number; limit: number; retryAfterMs: number }) {
    super('OPENLORA_SCHEDULER_QUEUE_FULL', `The request queue is full (${parameters.queued} of ${parameters.limit} waiting).`, {
      hint: `Retry after about ${Math.ceil(parameters.retryAfterMs / 1000)} s.`,
      meta: parameters,
    });
    this.retryAfterMs = parameters.retryAfterMs;
  }
}

/** The scheduler was stopped with requests still in it. */
export class SchedulerStoppedError extends BaseError {
  override name = 'SchedulerStoppedError' as const;
  constructor() {
    super('OPENLORA_SCHEDULER_STOPPED', 'The scheduler stopped before the request finished.', { hint: 'The node is shutting down; retry on another node or after restart.' });
  }
}

/** The request's adapter could not be made resident. */
export class SchedulerAdapterUnavailableError extends BaseError {
  override name = 'SchedulerAdapterUnavailableError' as const;
  constructor(adapter: string, cause: unknown) {
    super('OPENLORA_SCHEDULER_ADAPTER_UNAVAILABLE', `Adapter ${adapter} could not be loaded for this request.`, {
      cause,
      details: (cause as Error)?.message,
      hint: 'Check the adapter files with `openlora adapter inspect`, or use another adapter.',
    });
  }
}

/** A scheduler option out of its range. */
export class SchedulerOptionError extends BaseError {
  override name = 'SchedulerOptionError' as const;
  constructor(option: string, value: unknown, expected: string) {
    super('OPENLORA_SCHEDULER_OPTION_INVALID', `The scheduler option ${option} is ${String(value)}; it must be ${expected}.`, { hint: `Set ${option} to ${expected}.`, meta: { option, value } });
  }
}
