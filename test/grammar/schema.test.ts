import { Ajv } from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GrammarSchemaError } from '../../src/grammar/errors.ts';
import { JSON_MAX_DEPTH } from '../../src/grammar/schema.ts';
import { acceptsText, byteService, lcg, parserOf, randomWalk } from './helpers.ts';

const ajv = new Ajv({ strict: false });
const schemaOf = (schema: unknown, strict = false) => parserOf({ format: { type: 'json_schema', schema, strict } });

describe('every output of a schema grammar parses and validates', () => {
  const leaf = fc.oneof(
    fc.constantFrom({ type: 'string' }, { type: 'number' }, { type: 'integer' }, { type: 'boolean' }, { type: 'null' }, { type: ['string', 'null'] }, { type: ['integer', 'boolean'] }),
    fc.uniqueArray(fc.oneof(fc.string({ maxLength: 5 }), fc.integer()), { minLength: 1, maxLength: 4 }).map((values) => ({ enum: values })),
    fc.jsonValue({ maxDepth: 2 }).map((value) => ({ const: value })),
  );
  const { node } = fc.letrec<{ node: object; object: object; array: object; anyOf: object }>((tie) => ({
    node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('object'), tie('array'), tie('anyOf')),
    object: fc
      .dictionary(fc.string({ maxLength: 6 }), tie('node'), { maxKeys: 4 })
      .chain((properties) => fc.subarray(Object.keys(properties)).map((required) => ({ type: 'object', properties, required, additionalProperties: false }))),
    array: fc.record({ items: tie('node'), minItems: fc.nat(2), extra: fc.option(fc.nat(3)) }).map(({ items, minItems, extra }) => ({ type: 'array', items, minItems, ...(extra === null ? {} : { maxItems: minItems + extra }) })),
    anyOf: fc.array(tie('node'), { minLength: 1, maxLength: 3 }).map((alts) => ({ anyOf: alts })),
  }));

  it('random schemas of the subset, random walks (what a model with random weights writes)', () => {
    fc.assert(
      fc.property(node, fc.integer(), (schema, seed) => {
        const parser = schemaOf(schema);
        const validate = ajv.compile(schema);
        const rand = lcg(seed);
        const min = parser.grammar.minLen[parser.grammar.root];
        for (let walk = 0; walk < 4; walk++) {
          const text = randomWalk(parser, min + 1 + Math.floor(rand() * 120), rand);
          const value = JSON.parse(text);
          if (!validate(value)) throw new Error(`${text} does not validate: ${ajv.errorsText(validate.errors)}`);
        }
      }),
      { numRuns: 300, seed: 18 },
    );
  });

  it('strict objects, nested arrays, enums, nullable fields and recursion through $defs', () => {
    const schema = {
      type: 'object',
      properties: {
        id: { type: 'integer' },
        kind: { type: 'string', enum: ['a', 'b', 'c"quoted"'] },
        score: { type: ['number', 'null'] },
        ok: { type: 'boolean' },
        tree: { $ref: '#/$defs/node' },
      },
      required: ['id', 'kind', 'score', 'ok', 'tree'],
      additionalProperties: false,
      $defs: { node: { type: 'object', properties: { v: { type: 'string' }, kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 } }, required: ['v', 'kids'], additionalProperties: false } },
    };
    const parser = schemaOf(schema, true);
    const validate = ajv.compile(schema);
    const rand = lcg(5);
    const min = parser.grammar.minLen[parser.grammar.root];
    expect(min).toBe('{"id": 0, "kind": "a", "score": 0, "ok": true, "tree": {"v": "", "kids": []}}'.length);
    for (let i = 0; i < 200; i++) {
      const text = randomWalk(parser, min + 1 + Math.floor(rand() * 200), rand);
      expect(validate(JSON.parse(text)), text).toBe(true);
    }
    expect(acceptsText(parser, '{"id": 1, "kind": "c\\"quoted\\"", "score": null, "ok": true, "tree": {"v": "x", "kids": [{"v": "", "kids": []}]}}')).toBe(true);
    expect(acceptsText(parser, '{"id": 1, "kind": "d", "score": null, "ok": true, "tree": {"v": "x", "kids": []}}')).toBe(false);
    expect(acceptsText(parser, '{"kind": "a", "id": 1, "score": null, "ok": true, "tree": {"v": "x", "kids": []}}')).toBe(false); // declared order
  });

  it('optional properties may be left out, in declared order', () => {
    const parser = schemaOf({ type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' }, c: { type: 'integer' } }, required: ['b'] });
    for (const text of ['{"b": 1}', '{"a": 1, "b": 2}', '{"b": 2, "c": 3}', '{"a": 1, "b": 2, "c": 3}']) expect(acceptsText(parser, text), text).toBe(true);
    for (const text of ['{}', '{"a": 1}', '{"a": 1, "c": 3}', '{"c": 3, "b": 2}', '{"b": 2,}']) expect(acceptsText(parser, text), text).toBe(false);
  });

  it('strings are valid UTF-8 with JSON escapes; numbers are JSON numbers of bounded length', () => {
    const string = schemaOf({ type: 'string' });
    for (const text of ['""', '"é漢🙂"', '"\\n\\t\\"\\\\\\/\\u00e9"', '"\\u0041"']) expect(acceptsText(string, text), text).toBe(true);
    const bytes = (...b: number[]) => string.advanceBytes(string.initial(), [0x22, ...b]);
    expect(bytes(0xc0, 0x80)).toBeUndefined(); // overlong
    expect(bytes(0xed, 0xa0, 0x80)).toBeUndefined(); // a UTF-16 surrogate in UTF-8
    expect(bytes(0xf4, 0x90)).toBeUndefined(); // above U+10FFFF
    expect(bytes(0x0a)).toBeUndefined(); // a raw control character
    expect(string.advanceBytes(string.initial(), new TextEncoder().encode('"\\ud800'))).toBeUndefined(); // a lone surrogate escape
    const number = schemaOf({ type: 'number' });
    for (const text of ['0', '-0', '12.5', '-3e+12', '1E5', '0.25e-3']) expect(acceptsText(number, text), text).toBe(true);
    for (const text of ['01', '+1', '.5', '1.', '1e', '--1', '1'.repeat(16)]) expect(acceptsText(number, text), text).toBe(false);
    const integer = schemaOf({ type: 'integer' });
    expect(acceptsText(integer, '-42')).toBe(true);
    expect(acceptsText(integer, '4.0')).toBe(false);
  });

  it('json_object mode: any object, nested at most JSON_MAX_DEPTH deep', () => {
    const parser = parserOf({ format: { type: 'json_object' } });
    const rand = lcg(9);
    for (let i = 0; i < 100; i++) {
      const value = JSON.parse(randomWalk(parser, 10 + Math.floor(rand() * 150), rand));
      expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
    }
    const nest = (d: number): string => (d === 0 ? '1' : `[${nest(d - 1)}]`);
    expect(acceptsText(parser, `{"a": ${nest(JSON_MAX_DEPTH - 1)}}`)).toBe(true);
    expect(acceptsText(parser, `{"a": ${nest(JSON_MAX_DEPTH)}}`)).toBe(false);
    expect(acceptsText(parser, '[1]')).toBe(false);
  });
});

describe('schemas outside the subset are refused, naming the keyword', () => {
  const refused = (schema: unknown, strict: boolean) => {
    try {
      schemaOf(schema, strict);
    } catch (error) {
      expect(error).toBeInstanceOf(GrammarSchemaError);
      return error as GrammarSchemaError;
    }
    throw new Error(`${JSON.stringify(schema)} was accepted`);
  };
  it.each([
    [{ type: 'string', pattern: '^a' }, 'pattern', 'response_format.json_schema.schema#'],
    [{ type: 'object', properties: { d: { type: 'string', format: 'date' } } }, 'format', 'response_format.json_schema.schema#/properties/d'],
    [{ type: 'object', properties: { n: { type: 'integer', minimum: 0 } } }, 'minimum', 'response_format.json_schema.schema#/properties/n'],
    [{ oneOf: [{ type: 'string' }] }, 'oneOf', 'response_format.json_schema.schema#'],
    [{ allOf: [{ type: 'string' }] }, 'allOf', 'response_format.json_schema.schema#'],
    [{ type: 'array', items: { type: 'string' }, uniqueItems: true }, 'uniqueItems', 'response_format.json_schema.schema#'],
    [{ type: 'object', required: ['x'] }, 'required', 'response_format.json_schema.schema#'],
    [{ $ref: '#/$defs/missing' }, '$ref', 'response_format.json_schema.schema#'],
    [{ $ref: 'https://example.com/s.json' }, '$ref', 'response_format.json_schema.schema#'],
    [{ type: 'text' }, 'type', 'response_format.json_schema.schema#'],
    [{ type: 'string', enum: [1, 2] }, 'enum', 'response_format.json_schema.schema#'],
    [{ type: 'object', properties: { self: { $ref: '#' } }, required: ['self'] }, '$ref', 'response_format.json_schema.schema'],
  ])('%j: %s', (schema, keyword, path) => {
    const error = refused(schema, false);
    expect(error.keyword).toBe(keyword);
    expect(error.path).toBe(path);
    expect(error.code).toBe('OPENLORA_GRAMMAR_SCHEMA_UNSUPPORTED');
  });

  it('strict mode: OpenAI\'s rules (all properties required, additionalProperties false, an object at the root)', () => {
    expect(refused({ type: 'object', properties: { a: { type: 'string' } }, required: [], additionalProperties: false }, true).keyword).toBe('required');
    expect(refused({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }, true).keyword).toBe('additionalProperties');
    expect(refused({ type: 'string' }, true).keyword).toBe('type');
    expect(refused({ anyOf: [{ type: 'object', properties: {}, additionalProperties: false }] }, true).keyword).toBe('anyOf');
    expect(() => schemaOf({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false, title: 'T', description: 'd' }, true)).not.toThrow();
  });

  it('compiled grammars are cached by their request', () => {
    const service = byteService();
    const request = { format: { type: 'json_schema' as const, schema: { type: 'string' }, strict: false } };
    expect(service.compile(request)).toBe(service.compile(structuredClone(request)));
    expect(service.stats().grammars).toBe(1);
  });
});
