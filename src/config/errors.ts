import { BaseError } from '../errors.ts';

/** Where a configuration value came from. */
export type ConfigSource = 'default' | 'file' | 'env' | 'flag';

/** Where a value came from, as the user wrote it: `file x.json`, `env OPENLORA_API_PORT`, `--set api.port`. */
function whereFrom(source: ConfigSource, origin?: string): string {
  if (!origin) return source;
  return source === 'flag' ? origin : `${source} ${origin}`;
}

/** A configuration value failed validation. */
export class ConfigInvalidError extends BaseError {
  override name = 'ConfigInvalidError' as const;
  constructor(parameters: { key: string; value: unknown; problem: string; source: ConfigSource; origin?: string; hint: string }) {
    const where = whereFrom(parameters.source, parameters.origin);
    super('OPENLORA_CONFIG_INVALID', `Invalid configuration value for "${parameters.key}" (from ${where}): ${parameters.problem}.`, {
      details: `value: ${JSON.stringify(parameters.value)}`,
      hint: parameters.hint,
      meta: { key: parameters.key, source: parameters.source },
    });
  }
}

/** An unknown key in a config file, environment variable or `--set`. */
export class ConfigUnknownKeyError extends BaseError {
  override name = 'ConfigUnknownKeyError' as const;
  constructor(parameters: { key: string; source: ConfigSource; origin?: string; suggestion?: string; known: string[] }) {
    const where = whereFrom(parameters.source, parameters.origin);
    super('OPENLORA_CONFIG_UNKNOWN_KEY', `Unknown configuration key "${parameters.key}" (from ${where}).`, {
      hint: parameters.suggestion ? `Did you mean "${parameters.suggestion}"?` : `Known keys: ${parameters.known.join(', ')}.`,
      meta: { key: parameters.key, source: parameters.source },
    });
  }
}

/** The config file cannot be read or is not JSON. */
export class ConfigFileError extends BaseError {
  override name = 'ConfigFileError' as const;
  constructor(path: string, problem: string, cause?: unknown) {
    super('OPENLORA_CONFIG_FILE', `Cannot use config file ${path}: ${problem}.`, {
      cause,
      hint: 'Pass a readable JSON file with --config, or omit --config to use defaults.',
    });
  }
}
