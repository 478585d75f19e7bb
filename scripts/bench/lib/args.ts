/**
 * A benchmark's command line: `parseArgs` with `--help` (the script's doc comment and its options
 * with their defaults, exit 0) and one-line errors for an unknown or malformed option (exit 2),
 * instead of a stack trace.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

/** The parsed options of a script whose options are `O`. */
export type BenchArgs<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ options: O }>>['values'];

/** Parses `process.argv` for the benchmark at `scriptUrl` (its `import.meta.url`). */
export function benchArgs<const O extends ParseArgsOptionsConfig>(scriptUrl: string, options: O): BenchArgs<O> {
  const name = `bench:${basename(fileURLToPath(scriptUrl), '.ts')}`;
  let parsed: { values: Record<string, unknown> };
  try {
    parsed = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } } }) as { values: Record<string, unknown> };
  } catch (error) {
    process.stderr.write(`${name}: ${(error as Error).message.split('\n')[0]}\nSee the options: npm run ${name} -- --help\n`);
    process.exit(2);
  }
  if (parsed.values.help) {
    process.stdout.write(usage(scriptUrl, name, options));
    process.exit(0);
  }
  return parsed.values as BenchArgs<O>;
}

/**
 * `--flag`'s value (or `fallback` when absent) as a positive number; anything else is one line
 * and exit 2, as for a bad option (a NaN count would silently run no samples).
 */
export function positiveNumber(flag: string, value: string | undefined, fallback?: number): number {
  const n = value === undefined ? fallback : Number(value);
  if (n !== undefined && Number.isFinite(n) && n > 0) return n;
  const name = `bench:${basename(process.argv[1] ?? 'bench', '.ts')}`;
  process.stderr.write(`${name}: --${flag} must be a positive number, got ${JSON.stringify(value ?? '')}\nSee the options: npm run ${name} -- --help\n`);
  process.exit(2);
}

/** `--flag`'s value when it is one of `choices`; anything else is one line and exit 2, as for a bad option. */
export function oneOf<const C extends string>(flag: string, value: string | undefined, choices: readonly C[]): C {
  if (choices.includes(value as C)) return value as C;
  const name = `bench:${basename(process.argv[1] ?? 'bench', '.ts')}`;
  process.stderr.write(`${name}: --${flag} must be one of ${choices.join(', ')}, got ${JSON.stringify(value ?? '')}\nSee the options: npm run ${name} -- --help\n`);
  process.exit(2);
}

/** The script's first doc comment, then its options. */
function usage(scriptUrl: string, name: string, options: ParseArgsOptionsConfig): string {
  const doc = /\/\*\*([\s\S]*?)\*\//.exec(readFileSync(fileURLToPath(scriptUrl), 'utf8'))?.[1] ?? '';
  const text = doc.split('\n').map((line) => line.replace(/^\s*\* ?/, '')).join('\n').trim();
  const lines = Object.entries(options).map(([key, o]) => `  --${key}${o.type === 'string' ? ' VALUE' : ''}${o.default !== undefined && o.default !== false ? ` (default ${String(o.default)})` : ''}`);
  return `${text}\n\nnpm run ${name} -- [options]\n${[...lines, '  --help'].join('\n')}\n`;
}
