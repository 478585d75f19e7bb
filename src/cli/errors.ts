import { BaseError } from '../errors.ts';

/** A command line that does not parse: unknown command or flag, missing or bad argument. */
export class CliUsageError extends BaseError {
  override name = 'CliUsageError' as const;
  constructor(message: string, command: string, hint?: string) {
    super('OPENLORA_CLI_USAGE', message, { hint: hint ?? `\`${command} --help\` shows the usage.`, meta: { command } });
  }
}

/** An error that is not an openlora error: a bug or a condition nobody foresaw. */
export class CliUnexpectedError extends BaseError {
  override name = 'CliUnexpectedError' as const;
  constructor(cause: unknown) {
    super('OPENLORA_UNEXPECTED', String((cause as Error)?.message ?? cause).split('\n')[0], {
      cause,
      hint: 'Run it again with OPENLORA_LOG_LEVEL=debug for the stack trace, and report it if it looks like a bug.',
    });
  }
}
