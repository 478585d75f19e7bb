import { Option, type Command } from 'commander';
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

/**
 * Resolves the configuration from `--config`, the environment, `--set` and the command's own
 * flags. `flagKeys` maps an option (commander's camel-case name) to its config key; errors name the
 * flag as written (`--port`, `--set api.port`).
 */
export async function configFromOptions<O extends ConfigOptions>(options: O, flagKeys: Partial<Record<keyof O & string, string>> = {}): Promise<Config> {
  const { loadConfig } = await import('../config/load.ts');
  const overrides: Record<string, unknown> = {};
  const origins: Record<string, string> = {};
  for (const item of options.set ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new CliSetSyntaxError(item);
    const key = item.slice(0, eq);
    overrides[key] = item.slice(eq + 1);
    origins[key] = `--set ${key}`;
  }
  for (const [option, key] of Object.entries(flagKeys) as Array<[keyof O & string, string]>) {
    if (options[option] === undefined) continue;
    overrides[key] = options[option];
    origins[key] = `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  }
  return loadConfig({ file: options.config, overrides, origins });
}
