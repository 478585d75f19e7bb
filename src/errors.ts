/**
 * The one error hierarchy of openlora (after viem's `BaseError`).
 *
 * Every error has a stable `code` (`OPENLORA_<SUBSYSTEM>_<CONDITION>`), a `shortMessage` saying
 * what was wrong (with the value), optional `details`, an optional `hint` saying what to do, and the
 * underlying `cause`. Each subsystem declares one subclass per condition with a literal `name`.
 */
export interface BaseErrorParameters {
  /** Underlying error, kept for logs and `--verbose`. */
  cause?: unknown;
  /** Extra facts: the offending value, the limit it broke. */
  details?: string;
  /** What the user should do about it. */
  hint?: string;
  /** Structured fields for JSON output and logs. */
  meta?: Record<string, unknown>;
}

export class BaseError extends Error {
  override name = 'BaseError';
  readonly code: string;
  readonly shortMessage: string;
  readonly details?: string;
  readonly hint?: string;
  readonly meta?: Record<string, unknown>;

  constructor(code: string, shortMessage: string, parameters: BaseErrorParameters = {}) {
    const lines = [shortMessage];
    if (parameters.details) lines.push('', `Details: ${parameters.details}`);
    if (parameters.hint) lines.push(`Hint: ${parameters.hint}`);
    super(lines.join('\n'), parameters.cause === undefined ? undefined : { cause: parameters.cause });
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = parameters.details;
    this.hint = parameters.hint;
    this.meta = parameters.meta;
  }

  /** A JSON-safe view for `--json` output, API bodies and logs. */
  toJSON(): { code: string; name: string; message: string; details?: string; hint?: string; meta?: Record<string, unknown> } {
    return { code: this.code, name: this.name, message: this.shortMessage, details: this.details, hint: this.hint, meta: this.meta };
  }

  /** Walks the cause chain and returns the first error `fn` accepts. */
  walk(fn: (error: unknown) => boolean): unknown {
    return walkCauses(this, fn);
  }
}

function walkCauses(start: unknown, fn: (error: unknown) => boolean): unknown {
  for (let error = start; error !== undefined && error !== null; error = (error as { cause?: unknown }).cause) {
    if (fn(error)) return error;
  }
  return undefined;
}

/** True when `error` is an openlora error, optionally with the given code. */
export function isBaseError(error: unknown, code?: string): error is BaseError {
  return error instanceof BaseError && (code === undefined || error.code === code);
}

/** Raised when a caller's AbortSignal fires while an operation waits. */
export class AbortedError extends BaseError {
  override name = 'AbortedError' as const;
  constructor(what: string, cause?: unknown) {
    super('OPENLORA_ABORTED', `${what} was aborted.`, { cause });
  }
}

/** A bug: a state the code believes impossible. */
export class InternalError extends BaseError {
  override name = 'InternalError' as const;
  constructor(shortMessage: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_INTERNAL', shortMessage, { hint: 'This is a bug in openlora; please report it with the log.', ...parameters });
  }
}
