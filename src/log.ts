import { pino, type Logger, type LevelWithSilent } from 'pino';

/** Structured logger (pino). JSON lines on stderr so stdout stays free for command output. */
export type { Logger };

export interface CreateLoggerParameters {
  /** Log level; default from `OPENLORA_LOG_LEVEL`, else `info`. */
  level?: LevelWithSilent;
  /** Component name, added as `component` to every line. */
  name?: string;
}

const redact = ['privateKey', 'passphrase', '*.privateKey', '*.passphrase', 'key', 'apiKey', 'authorization', 'req.headers.authorization'];

let root: Logger | undefined;

/** The process-wide root logger, created on first use. */
export function rootLogger(): Logger {
  root ??= pino(
    {
      level: (process.env.OPENLORA_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info',
      base: { pid: process.pid },
      redact: { paths: redact, censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
  return root;
}

/** A child logger for one component. */
export function createLogger(parameters: CreateLoggerParameters = {}): Logger {
  const logger = rootLogger().child(parameters.name ? { component: parameters.name } : {});
  if (parameters.level) logger.level = parameters.level;
  return logger;
}

/**
 * The logger of another component, at `parent`'s level. (`parent.child({ component })` would
 * write the `component` key twice on every line: pino does not replace bindings.)
 */
export function componentLogger(parent: Logger, name: string): Logger {
  return createLogger({ name, level: parent.level as LevelWithSilent });
}
