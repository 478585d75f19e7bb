import { readFileSync } from 'node:fs';
import Value from 'typebox/value';
import { UNIFIED_LORA_DTYPE_HINT } from '../lora/dtype.ts';
import { ConfigSchema, type Config } from './schema.ts';
import { ConfigFileError, ConfigInvalidError, ConfigUnknownKeyError, type ConfigSource } from './errors.ts';

/** A leaf of the config schema: its dotted key and its JSON schema. */
interface Leaf {
  key: string;
  schema: SchemaNode;
}

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  anyOf?: SchemaNode[];
  const?: unknown;
  items?: SchemaNode;
  description?: string;
  minimum?: number;
  maximum?: number;
  pattern?: string;
}

export interface LoadConfigParameters {
  /** JSON config file; keys as in `ConfigSchema` (nested objects). */
  file?: string;
  /** Environment to read `OPENLORA_*` variables from; default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Flag values by dotted key (`api.port`); strings are coerced to the key's type. */
  overrides?: Record<string, unknown>;
  /** How the user wrote each override, for errors (`--port`, `--set api.port`); default `--set <key>`. */
  origins?: Record<string, string>;
}

function leaves(node: SchemaNode, prefix = ''): Leaf[] {
  if (node.type === 'object' && node.properties) {
    return Object.entries(node.properties).flatMap(([name, child]) => leaves(child, prefix ? `${prefix}.${name}` : name));
  }
  return [{ key: prefix, schema: node }];
}

const LEAVES = leaves(ConfigSchema as unknown as SchemaNode);
const LEAF_BY_KEY = new Map(LEAVES.map((l) => [l.key, l]));

/** Environment variable for a dotted key: `chain.rpcUrl` -> `OPENLORA_CHAIN_RPC_URL`. */
export function envName(key: string): string {
  return 'OPENLORA_' + key.split('.').map((part) => part.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

/** Every config key with its env variable and description (for `--help` and docs). */
export function describeConfig(): Array<{ key: string; env: string; description: string; default?: unknown }> {
  return LEAVES.map((l) => ({ key: l.key, env: envName(l.key), description: l.schema.description ?? '', default: (l.schema as { default?: unknown }).default }));
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

function unknownKey(key: string, source: ConfigSource, origin?: string): ConfigUnknownKeyError {
  const known = LEAVES.map((l) => l.key);
  const best = known.map((k) => [k, distance(key.toLowerCase(), k.toLowerCase())] as const).sort((x, y) => x[1] - y[1])[0];
  return new ConfigUnknownKeyError({ key, source, origin, known, suggestion: best && best[1] <= 3 ? best[0] : undefined });
}

function expected(schema: SchemaNode): string {
  if (schema.anyOf) return `one of ${schema.anyOf.map((s) => JSON.stringify(s.const)).join(', ')}`;
  const range = schema.minimum !== undefined || schema.maximum !== undefined ? ` in [${schema.minimum ?? '-inf'}, ${schema.maximum ?? 'inf'}]` : '';
  const pattern = schema.pattern ? ` matching ${schema.pattern}` : '';
  const article = /^[aeiou]/.test(schema.type ?? '') ? 'an' : 'a';
  return `${article} ${schema.type}${range}${pattern}`;
}

function hintFor(leaf: Leaf): string {
  const what = leaf.schema.description ? `${leaf.key}: ${leaf.schema.description} ` : '';
  return `${what}Expected ${expected(leaf.schema)}. Set it in the config file, with ${envName(leaf.key)}, or with a flag.`;
}

/** Coerces a string from env or a flag to the leaf's type; other values pass through. */
function coerce(leaf: Leaf, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  switch (leaf.schema.type) {
    case 'integer':
    case 'number':
      return value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value;
    case 'boolean':
      return ({ true: true, '1': true, yes: true, false: false, '0': false, no: false } as Record<string, boolean>)[value.toLowerCase()] ?? value;
    case 'array':
      if (value.trimStart().startsWith('[')) {
        try {
          return JSON.parse(value);
        } catch {
          return value;
        }
      }
      return value.split(',').map((s) => s.trim()).filter(Boolean).map((s) => coerce({ key: leaf.key, schema: leaf.schema.items ?? {} }, s));
    default:
      return value;
  }
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
  node[parts[parts.length - 1]] = value;
}

function flatten(value: unknown, prefix: string, out: Array<[string, unknown]>): void {
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  const leaf = LEAF_BY_KEY.get(prefix);
  if (isObject && !leaf) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, value]);
  }
}

/**
 * Loads and validates the configuration from defaults, file, environment and flags.
 * Throws `ConfigUnknownKeyError` / `ConfigInvalidError` naming the key, its source and what to do.
 */
export function loadConfig(parameters: LoadConfigParameters = {}): Config {
  const raw: Record<string, unknown> = {};
  const sources = new Map<string, { source: ConfigSource; origin?: string }>();
  const assign = (key: string, value: unknown, source: ConfigSource, origin?: string) => {
    const leaf = LEAF_BY_KEY.get(key);
    if (!leaf) throw unknownKey(key, source, origin);
    setPath(raw, key, coerce(leaf, value));
    sources.set(key, { source, origin });
  };

  if (parameters.file) {
    let text: string;
    try {
      text = readFileSync(parameters.file, 'utf8');
    } catch (cause) {
      throw new ConfigFileError(parameters.file, (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not readable', cause);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new ConfigFileError(parameters.file, `not valid JSON (${(cause as Error).message})`, cause);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigFileError(parameters.file, 'the top level must be a JSON object');
    const entries: Array<[string, unknown]> = [];
    flatten(json, '', entries);
    for (const [key, value] of entries) assign(key, value, 'file', parameters.file);
  }

  const env = parameters.env ?? process.env;
  for (const leaf of LEAVES) {
    const name = envName(leaf.key);
    if (env[name] !== undefined && env[name] !== '') assign(leaf.key, env[name], 'env', name);
  }

  for (const [key, value] of Object.entries(parameters.overrides ?? {})) {
    if (value !== undefined) assign(key, value, 'flag', parameters.origins?.[key] ?? `--set ${key}`);
  }

  const config = Value.Default(ConfigSchema, Value.Clone(raw)) as Config;
  for (const error of Value.Errors(ConfigSchema, config)) {
    const parts = error.instancePath.slice(1).split('/');
    // The leaf a nested error belongs to (an array item's field reports as its array's key).
    let key = '';
    for (let n = parts.length; n > 0 && !LEAF_BY_KEY.has(key); n--) key = parts.slice(0, n).join('.');
    const leaf = LEAF_BY_KEY.get(key);
    if (!leaf) continue; // object-level errors repeat a leaf's error
    const { source, origin } = sources.get(key) ?? { source: 'default' as const };
    throw new ConfigInvalidError({ key, value: key.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown>)?.[p], config), problem: leaf.schema.type === 'array' ? `${error.instancePath.slice(key.length + 1) || 'value'} ${error.message}` : `expected ${expected(leaf.schema)}`, source, origin, hint: hintFor(leaf) });
  }
  if (config.lora.dtype === 'f16' && config.engine.memory.mode === 'unified') {
    const { source, origin } = sources.get('lora.dtype') ?? { source: 'default' as const };
    throw new ConfigInvalidError({ key: 'lora.dtype', value: config.lora.dtype, problem: 'f16 adapter factors cannot go with engine.memory.mode: unified', source, origin, hint: UNIFIED_LORA_DTYPE_HINT });
  }
  return config;
}
