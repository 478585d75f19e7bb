import { Option, type Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { BaseError } from '../errors.ts';

/** Options every config-reading command takes. */
export interface ConfigOptions {
  config?: string;
  set?: string[];
}

/** A `--set` argument that is not `key=value`. */
export class CliSetSyntaxError extends BaseError {
  override name = 'CliSetSyntaxError' as const;
  constructor(argument: string) {
    super('OPENLORA_CLI_SET_SYNTAX', `--set expects key=value, got "${argument}".`, { hint: 'Example: --set api.port=8080 (keys as in the config file, dotted).' });
  }
}

/** Adds `--config FILE` and repeatable `--set key=value` to a command. */
export function addConfigOptions(command: Command): Command {
  return command
    .addOption(new Option('--config <file>', 'JSON config file').env('OPENLORA_CONFIG'))
    .option('--set <key=value...>', 'override a config key (repeatable), e.g. --set api.port=8080');
}

/** Resolves the configuration from `--config`, the environment, `--set` and per-command flags. */
export function configFromOptions(options: ConfigOptions, flags: Record<string, unknown> = {}): Config {
  const overrides: Record<string, unknown> = {};
  for (const item of options.set ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new CliSetSyntaxError(item);
    overrides[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return loadConfig({ file: options.config, overrides: { ...overrides, ...flags } });
}
