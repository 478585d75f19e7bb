/**
 * Reading a Hugging Face `config.json` field by field, remembering which keys were read, so that
 * a math-changing key an architecture does not read is refused instead of ignored
 * (see `mathKeys.ts` and `parseModelConfig`).
 */
import { ModelConfigInvalidError, ModelConfigUnsupportedError } from '../errors.ts';

/** A config.json being read. Every accessor marks its key as read. */
export interface ConfigReader {
  readonly file: string;
  /** Keys read so far. */
  readonly read: ReadonlySet<string>;
  /** The raw value (undefined when absent). */
  raw(key: string): unknown;
  /** True when the key is present and not null. */
  has(key: string): boolean;
  /** A positive integer; `fallback` when absent or null. */
  int(key: string, fallback?: number): number;
  /** A positive finite number; `fallback` when absent or null. */
  num(key: string, fallback?: number): number;
  /** A boolean; `fallback` when absent or null. */
  bool(key: string, fallback: boolean): boolean;
  /** A string; `fallback` when absent or null. */
  str(key: string, fallback?: string): string;
  /** Throws {@link ModelConfigUnsupportedError} naming the key and its value. */
  refuse(key: string, why: string, hint?: string): never;
  /** Throws {@link ModelConfigInvalidError} naming the key and its value. */
  invalid(key: string, problem: string): never;
}

/** Wraps a parsed config.json object. */
export function createConfigReader(file: string, json: Record<string, unknown>): ConfigReader {
  const read = new Set<string>();
  const raw = (key: string): unknown => {
    read.add(key);
    return json[key];
  };
  const present = (key: string): boolean => raw(key) !== undefined && json[key] !== null;
  const reader: ConfigReader = {
    file,
    read,
    raw,
    has: present,
    int(key, fallback) {
      const v = present(key) ? json[key] : fallback;
      if (!Number.isSafeInteger(v) || (v as number) <= 0) reader.invalid(key, 'must be a positive integer');
      return v as number;
    },
    num(key, fallback) {
      const v = present(key) ? json[key] : fallback;
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) reader.invalid(key, 'must be a positive number');
      return v;
    },
    bool(key, fallback) {
      if (!present(key)) return fallback;
      const v = json[key];
      if (typeof v !== 'boolean') reader.invalid(key, 'must be true or false');
      return v;
    },
    str(key, fallback) {
      const v = present(key) ? json[key] : fallback;
      if (typeof v !== 'string') reader.invalid(key, 'must be a string');
      return v;
    },
    refuse(key, why, hint) {
      throw new ModelConfigUnsupportedError(file, key, json[key], why, hint);
    },
    invalid(key, problem) {
      throw new ModelConfigInvalidError(file, `"${key}" ${problem}, got ${JSON.stringify(json[key])}`);
    },
  };
  return reader;
}
