/**
 * JSON Schema → grammar nodes, for the subset OpenAI's strict mode accepts: objects (properties,
 * required, additionalProperties), arrays (items, minItems, maxItems), enum, const, anyOf, type
 * (one or a list), string, number, integer, boolean, null, and $ref into $defs/definitions (or "#"),
 * recursion included. Every string the grammar matches parses as JSON and validates against the
 * schema; anything it cannot promise that for is refused with {@link GrammarSchemaError} naming the
 * keyword. Objects are written with their properties in declared order, compactly with Python's
 * separators (`, ` and `: `); an object without declared properties, or `{}`/`true` as a schema, is
 * any JSON (nested at most {@link JSON_MAX_DEPTH} deep).
 */
import { GrammarSchemaError } from './errors.ts';
import { GrammarBuilder, JSON_COMMA, utf8, type ObjectProperty } from './nodes.ts';

/** Deepest nesting of free JSON (json_object mode, `{}` schemas): keeps the parser's stack and state keys bounded. */
export const JSON_MAX_DEPTH = 8;

/** Largest schema compiled (nodes), and largest enum: the grammar's size stays bounded. */
export const SCHEMA_LIMITS = { nodes: 10_000, enumValues: 1_000 } as const;

/** Keywords that only describe: accepted and ignored. */
const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$comment', '$schema', '$id', 'deprecated', 'readOnly', 'writeOnly']);
const STRUCTURAL = new Set(['type', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'maxItems', 'enum', 'const', 'anyOf', '$ref', '$defs', 'definitions']);
const TYPES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'] as const;
type JsonType = (typeof TYPES)[number];

type Schema = Record<string, unknown>;

/** Options of {@link SchemaCompiler.compile}. */
export interface CompileOptions {
  /** OpenAI strict mode's rules: every object lists all its properties in `required` and sets `additionalProperties: false`. */
  strict: boolean;
  /** Where the schema sits in the request, for error paths (e.g. `response_format.json_schema.schema`). */
  at?: string;
}

/** Adds schemas' nodes to a shared {@link GrammarBuilder} (several schemas share one grammar for tool calls). */
export class SchemaCompiler {
  readonly builder: GrammarBuilder;
  #string = -1;
  readonly #numbers = new Map<boolean, number>();
  readonly #any = new Map<number, number>();

  constructor(builder: GrammarBuilder) {
    this.builder = builder;
  }

  /** The node of `schema`, with `$ref`s resolved against it as the root document. */
  compile(schema: unknown, options: CompileOptions): number {
    const refs = new Map<string, number>();
    const at = options.at ?? '';
    const fail = (keyword: string, path: string, problem: string, hint?: string): never => {
      throw new GrammarSchemaError({ keyword, path: `${at}${path}`, problem, hint });
    };
    const limit = () => {
      if (this.builder.nodes.length > SCHEMA_LIMITS.nodes) fail('$ref', '', `makes a grammar over ${SCHEMA_LIMITS.nodes} nodes`, 'Simplify the schema.');
    };
    const resolve = (ref: string, path: string): { schema: unknown; path: string } => {
      if (ref === '#') return { schema, path: '#' };
      const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
      if (!m) return fail('$ref', path, `is ${JSON.stringify(ref)}; only "#", "#/$defs/NAME" and "#/definitions/NAME" are supported`);
      const name = m[2].replaceAll('~1', '/').replaceAll('~0', '~');
      const defs = (schema as Schema)?.[m[1]];
      const target = typeof defs === 'object' && defs !== null ? (defs as Schema)[name] : undefined;
      if (target === undefined) return fail('$ref', path, `points at ${ref}, which the schema does not define`);
      return { schema: target, path: `#/${m[1]}/${m[2]}` };
    };

    const node = (s: unknown, path: string, root = false): number => {
      limit();
      if (s === true) return this.any(JSON_MAX_DEPTH);
      if (s === false) return fail('false', path, 'admits no value', 'Use a schema some JSON value matches.');
      if (typeof s !== 'object' || s === null || Array.isArray(s)) return fail('schema', path, 'is not an object');
      const sch = s as Schema;
      for (const key of Object.keys(sch)) {
        if (!STRUCTURAL.has(key) && !ANNOTATIONS.has(key)) fail(key, path, 'is not supported by constrained decoding');
      }
      if (sch.$ref !== undefined) {
        if (typeof sch.$ref !== 'string') return fail('$ref', path, 'is not a string');
        const beside = Object.keys(sch).find((k) => STRUCTURAL.has(k) && k !== '$ref' && k !== '$defs' && k !== 'definitions');
        if (beside) fail(beside, path, 'stands beside $ref', 'Put the keyword in the referenced definition.');
        const target = resolve(sch.$ref, path);
        let index = refs.get(target.path);
        if (index === undefined) {
          index = this.builder.reserve();
          refs.set(target.path, index);
          const compiled = node(target.schema, target.path);
          this.builder.set(index, { kind: 'anyOf', alts: [compiled] });
        }
        return index;
      }
      if (sch.enum !== undefined || sch.const !== undefined) return literals(sch, path);
      if (sch.anyOf !== undefined) {
        const beside = Object.keys(sch).find((k) => STRUCTURAL.has(k) && k !== 'anyOf' && k !== '$defs' && k !== 'definitions');
        if (beside) fail(beside, path, 'stands beside anyOf', 'Move the keyword into each anyOf alternative.');
        if (!Array.isArray(sch.anyOf) || sch.anyOf.length === 0) return fail('anyOf', path, 'is not a non-empty array');
        if (options.strict && root) fail('anyOf', path, 'is at the root; strict mode needs an object there', 'Wrap the alternatives in an object property.');
        return this.builder.add({ kind: 'anyOf', alts: sch.anyOf.map((alt, i) => node(alt, `${path}/anyOf/${i}`)) });
      }
      const types = typesOf(sch, path);
      if (options.strict && root && (types.length !== 1 || types[0] !== 'object')) fail('type', path, 'is not "object"; strict mode needs an object at the root');
      if (types.length === 0) return Object.keys(sch).some((k) => k === 'properties' || k === 'additionalProperties') ? object(sch, path) : this.any(JSON_MAX_DEPTH);
      const alts = types.map((t) => typed(t, sch, path));
      return alts.length === 1 ? alts[0] : this.builder.add({ kind: 'anyOf', alts });
    };

    const typesOf = (sch: Schema, path: string): JsonType[] => {
      const t = sch.type;
      if (t === undefined) return [];
      const list = Array.isArray(t) ? t : [t];
      if (list.length === 0) fail('type', path, 'is an empty list');
      for (const x of list) if (!TYPES.includes(x as JsonType)) fail('type', path, `names ${JSON.stringify(x)}, not one of ${TYPES.join(', ')}`);
      if (new Set(list).size !== list.length) fail('type', path, 'repeats a type');
      // "integer" is a subset of "number": a list with both is just "number".
      return (list as JsonType[]).filter((x) => !(x === 'integer' && list.includes('number')));
    };

    const typed = (t: JsonType, sch: Schema, path: string): number => {
      switch (t) {
        case 'object':
          return object(sch, path);
        case 'array':
          return array(sch, path);
        case 'string':
          return this.string();
        case 'number':
        case 'integer':
          return this.number(t === 'integer');
        case 'boolean':
          return this.builder.literal([utf8('true'), utf8('false')]);
        case 'null':
          return this.builder.literal([utf8('null')]);
      }
    };

    const object = (sch: Schema, path: string): number => {
      const props = sch.properties ?? {};
      if (typeof props !== 'object' || props === null || Array.isArray(props)) return fail('properties', path, 'is not an object');
      const required = sch.required ?? [];
      if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) return fail('required', path, 'is not a list of property names');
      for (const r of required as string[]) if (!(r in props)) fail('required', path, `names "${r}", which is not in properties`, 'List only declared properties in required: the grammar writes declared properties alone.');
      const extra = sch.additionalProperties;
      if (extra !== undefined && typeof extra !== 'boolean' && (typeof extra !== 'object' || extra === null)) fail('additionalProperties', path, 'is neither a boolean nor a schema');
      const keys = Object.keys(props as Schema);
      if (options.strict) {
        if (extra !== false) fail('additionalProperties', path, 'is not false; strict mode needs additionalProperties: false on every object');
        const missing = keys.find((k) => !(required as string[]).includes(k));
        if (missing !== undefined) fail('required', path, `leaves out "${missing}"; strict mode needs every property required`, 'List every property in required; make an optional one nullable with "type": ["string", "null"].');
      }
      if (keys.length === 0 && extra !== false) {
        // Any keys: values of the additionalProperties schema, or any JSON.
        const value = typeof extra === 'object' ? node(extra, `${path}/additionalProperties`) : this.any(JSON_MAX_DEPTH - 1);
        return this.builder.add({ kind: 'map', key: this.string(), value });
      }
      const list: ObjectProperty[] = keys.map((key) => ({ key, value: node((props as Schema)[key], `${path}/properties/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`), required: (required as string[]).includes(key) }));
      return this.builder.add({ kind: 'object', props: list });
    };

    const array = (sch: Schema, path: string): number => {
      const count = (k: 'minItems' | 'maxItems'): number | undefined => {
        const v = sch[k];
        if (v === undefined) return undefined;
        if (!Number.isSafeInteger(v) || (v as number) < 0) fail(k, path, `is ${JSON.stringify(v)}, not an integer >= 0`);
        return v as number;
      };
      const min = count('minItems') ?? 0;
      const max = count('maxItems') ?? Infinity;
      if (min > max) fail('minItems', path, `is ${min}, above maxItems ${max}`);
      if (max !== Infinity && max > 1_000) fail('maxItems', path, `is ${max}; at most 1,000 is supported`);
      const item = sch.items === undefined ? this.any(JSON_MAX_DEPTH - 1) : node(sch.items, `${path}/items`);
      return this.builder.add({ kind: 'repeat', item, open: utf8('['), sep: JSON_COMMA, close: utf8(']'), min, max });
    };

    const literals = (sch: Schema, path: string): number => {
      const keyword = sch.enum !== undefined ? 'enum' : 'const';
      if (sch.enum !== undefined && sch.const !== undefined) fail('const', path, 'stands beside enum');
      const beside = Object.keys(sch).find((k) => STRUCTURAL.has(k) && k !== keyword && k !== 'type' && k !== '$defs' && k !== 'definitions');
      if (beside) fail(beside, path, `stands beside ${keyword}`, `Give ${keyword} alone (with type at most).`);
      const values = keyword === 'enum' ? sch.enum : [sch.const];
      if (!Array.isArray(values) || values.length === 0) return fail('enum', path, 'is not a non-empty array');
      if (values.length > SCHEMA_LIMITS.enumValues) fail('enum', path, `has ${values.length} values; at most ${SCHEMA_LIMITS.enumValues} are supported`);
      const types = typesOf(sch, path);
      const kept = values.filter((v) => types.length === 0 || types.some((t) => typeMatches(t, v)));
      if (kept.length === 0) fail(keyword, path, `has no value of type ${types.join(' or ')}`);
      return this.builder.literal(kept.map((v) => utf8(JSON.stringify(v))));
    };

    return node(schema, '#', true);
  }

  /** The shared string node. */
  string(): number {
    if (this.#string < 0) this.#string = this.builder.add({ kind: 'string' });
    return this.#string;
  }

  /** The shared number (or integer) node. */
  number(integer: boolean): number {
    let n = this.#numbers.get(integer);
    if (n === undefined) {
      n = this.builder.add({ kind: 'number', integer });
      this.#numbers.set(integer, n);
    }
    return n;
  }

  /** Any JSON value with at most `depth` levels of objects and arrays. */
  any(depth: number): number {
    let n = this.#any.get(depth);
    if (n !== undefined) return n;
    const alts = [this.string(), this.number(false), this.builder.literal([utf8('true'), utf8('false'), utf8('null')])];
    if (depth > 0) {
      const inner = this.any(depth - 1);
      alts.push(this.builder.add({ kind: 'map', key: this.string(), value: inner }), this.builder.add({ kind: 'repeat', item: inner, open: utf8('['), sep: JSON_COMMA, close: utf8(']'), min: 0, max: Infinity }));
    }
    n = this.builder.add({ kind: 'anyOf', alts });
    this.#any.set(depth, n);
    return n;
  }

  /** Any JSON object (json_object mode). */
  anyObject(): number {
    return this.builder.add({ kind: 'map', key: this.string(), value: this.any(JSON_MAX_DEPTH - 1) });
  }
}

function typeMatches(t: JsonType, v: unknown): boolean {
  switch (t) {
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
  }
}
