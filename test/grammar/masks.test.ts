import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { maskAllows } from '../../src/engine/sampling.ts';
import { computeStateMask } from '../../src/grammar/masks.ts';
import { NON_BYTE } from '../../src/grammar/parser.ts';
import { createGrammarService, type GrammarService } from '../../src/grammar/service.ts';
import { TOOL_CALL_FORMAT, toolCallPrefix } from '../../src/grammar/tools.ts';
import { packageTokenizer } from '../fixtures/tokenizers.ts';
import { byteService, lcg } from './helpers.ts';

const ajv = new Ajv({ strict: false });
const encode = (s: string) => new TextEncoder().encode(s);

/** A small vocabulary with multi-byte tokens that cross JSON structure, every single byte, and specials. */
function mixedVocab(): { tokenBytes: Array<Uint8Array | null>; eos: number } {
  const pieces = ['{"', '"}', '": ', ', "', 'true', 'null', 'false', '"a', 'ab', '12', '.5', 'e-', '[]', '[{"', '}]', '"]', '", "', 'é', '\\n', '\\u00', '"x": "', ' ', 'name'];
  const tokenBytes: Array<Uint8Array | null> = [];
  for (let b = 0; b < 256; b++) tokenBytes.push(Uint8Array.of(b));
  for (const p of pieces) tokenBytes.push(encode(p));
  tokenBytes.push(encode('ab')); // a duplicate: both ids must be allowed together
  tokenBytes.push(null, null); // specials
  tokenBytes.push(null); // eos
  return { tokenBytes, eos: tokenBytes.length - 1 };
}

/** Draws like a model with random weights: uniformly among the allowed tokens. */
function generate(service: GrammarService, request: Parameters<GrammarService['compile']>[0], maxTokens: number, rand: () => number) {
  const constraint = service.constraint(service.compile(request));
  const ids: number[] = [];
  let ended = false;
  for (let i = 0; i < maxTokens; i++) {
    const mask = constraint.mask(maxTokens - i);
    const allowed: number[] = [];
    for (let t = 0; t < service.vocab.size; t++) if (maskAllows(mask, t)) allowed.push(t);
    const token = allowed[Math.floor(rand() * allowed.length)];
    if (service.vocab.eos.includes(token)) {
      ended = true;
      break;
    }
    constraint.accept(token);
    ids.push(token);
  }
  return { ids, ended, forced: constraint.forced };
}

const schema = {
  type: 'object',
  properties: { name: { type: 'string' }, tags: { type: 'array', items: { enum: ['ab', 'x', 12, true] } }, n: { type: ['number', 'null'] }, inner: { type: 'object', properties: { x: { type: 'string' } }, required: ['x'], additionalProperties: false } },
  required: ['name', 'tags', 'n', 'inner'],
  additionalProperties: false,
};
const request = { format: { type: 'json_schema' as const, schema, strict: true } };

describe('token masks', () => {
  it('allow exactly the tokens whose bytes the grammar accepts (multi-byte tokens crossing structure, duplicates, specials, end of sequence)', () => {
    const { tokenBytes, eos } = mixedVocab();
    const service = createGrammarService({ vocabSize: tokenBytes.length, tokenBytes: () => tokenBytes, eosTokenIds: [eos] });
    const { parser } = service.compile(request);
    const rand = lcg(3);
    for (let walk = 0; walk < 20; walk++) {
      let state = parser.initial();
      for (let step = 0; step < 80; step++) {
        const mask = computeStateMask(parser, service.vocab, state);
        const allowed: number[] = [];
        tokenBytes.forEach((bytes, t) => {
          const want = t === eos ? parser.accepts(state) : bytes === null ? parser.advance(state, NON_BYTE) !== undefined : parser.advanceBytes(state, bytes) !== undefined;
          expect(maskAllows(mask.all, t), `token ${t} ${JSON.stringify(bytes && Buffer.from(bytes).toString())}`).toBe(want);
          if (want && t !== eos) allowed.push(t);
        });
        if (allowed.length === 0) break;
        const t = allowed[Math.floor(rand() * allowed.length)];
        state = parser.advanceBytes(state, tokenBytes[t]!)!;
      }
    }
  });

  it('close the output within max_tokens whenever the shortest completion fits (byte vocabulary: guaranteed)', () => {
    const service = byteService();
    const { parser } = service.compile(request);
    const min = parser.grammar.minLen[parser.grammar.root];
    const validate = ajv.compile(schema);
    const rand = lcg(11);
    let forced = 0;
    for (let i = 0; i < 60; i++) {
      const maxTokens = min + 1 + Math.floor(rand() * 60);
      const out = generate(service, request, maxTokens, rand);
      expect(out.ended).toBe(true);
      const text = Buffer.from(out.ids).toString();
      expect(validate(JSON.parse(text)), text).toBe(true);
      if (out.forced) forced++;
    }
    expect(forced).toBeGreaterThan(10); // most random walks run into the budget and are closed early
    // Below the shortest completion the output is cut, as OpenAI cuts it.
    const cut = generate(service, request, min - 5, rand);
    expect(cut.ended).toBe(false);
    expect(() => JSON.parse(Buffer.from(cut.ids).toString())).toThrow();
  });

  it('a real 128k vocabulary (Llama 3): valid outputs, masks cached across requests', () => {
    const { tokenizer } = packageTokenizer('tokenizer-llama3');
    const eos = tokenizer.tokenToId('<|end_of_text|>')!;
    const service = createGrammarService({ vocabSize: tokenizer.size, tokenBytes: () => tokenizer.tokenBytes(tokenizer.size), eosTokenIds: [eos] });
    expect(service.vocab.allBytes).toBe(true);
    const validate = ajv.compile(schema);
    const rand = lcg(21);
    for (let i = 0; i < 6; i++) {
      const out = generate(service, request, 120, rand);
      expect(out.ended).toBe(true);
      const text = tokenizer.decode(out.ids);
      expect(validate(JSON.parse(text)), text).toBe(true);
    }
    const { masks } = service.stats();
    expect(masks.hits).toBeGreaterThan(masks.misses);
  });
});

describe('tool-call grammars', () => {
  const functions = [
    { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { enum: ['c', 'f'] } }, required: ['city', 'unit'], additionalProperties: false }, strict: true },
    { name: 'noop', strict: false },
  ];
  const argsSchema: Record<string, object> = { get_weather: functions[0].parameters!, noop: { type: 'object', additionalProperties: false } };
  const parseCalls = (text: string) =>
    text.split(TOOL_CALL_FORMAT.separator + TOOL_CALL_FORMAT.open.trimEnd()).map((block, i) => {
      const body = (i === 0 ? block : TOOL_CALL_FORMAT.open.trimEnd() + block).slice(TOOL_CALL_FORMAT.open.length, -TOOL_CALL_FORMAT.close.length);
      const call = JSON.parse(body) as { name: string; arguments: unknown };
      expect(body.startsWith(toolCallPrefix(call.name))).toBe(true);
      return call;
    });

  it('required: one or more calls, each naming a function, arguments valid for it', () => {
    const service = byteService();
    const rand = lcg(4);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const out = generate(service, { tools: { functions, choice: 'required', parallel: i % 2 === 0 } }, 200, rand);
      expect(out.ended).toBe(true);
      const calls = parseCalls(Buffer.from(out.ids).toString());
      if (i % 2 === 1) expect(calls).toHaveLength(1);
      for (const call of calls) {
        seen.add(call.name);
        expect(ajv.validate(argsSchema[call.name], call.arguments)).toBe(true);
      }
    }
    expect(seen).toEqual(new Set(['get_weather', 'noop']));
  });

  it('auto: the first bytes choose between calls and words; once words, nothing is constrained', () => {
    const service = byteService();
    const grammar = service.compile({ tools: { functions, choice: 'auto', parallel: true } });
    const words = service.constraint(grammar);
    expect(maskAllows(words.mask(50), 256)).toBe(true); // an empty answer may end at once
    for (const b of encode('<tool')) words.accept(b);
    expect(words.mask(50)).toBeDefined(); // still possibly a call
    words.accept(encode('x')[0]);
    expect(words.mask(50)).toBeUndefined(); // words: free
    const call = service.constraint(grammar);
    for (const b of encode(TOOL_CALL_FORMAT.open)) call.accept(b);
    const mask = call.mask(100)!;
    expect(maskAllows(mask, encode('{')[0])).toBe(true);
    expect(maskAllows(mask, encode('x')[0])).toBe(false);
    expect(maskAllows(mask, 256)).toBe(false);
  });

  it('auto with a response format: calls, or JSON of the format', () => {
    const service = byteService();
    const rand = lcg(8);
    const kinds = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const out = generate(service, { tools: { functions, choice: 'auto', parallel: false }, format: request.format }, 200, rand);
      const text = Buffer.from(out.ids).toString();
      if (text.startsWith(TOOL_CALL_FORMAT.open)) {
        kinds.add('call');
        parseCalls(text);
      } else {
        kinds.add('json');
        expect(ajv.validate(schema, JSON.parse(text))).toBe(true);
      }
    }
    expect(kinds).toEqual(new Set(['call', 'json']));
  });
});
