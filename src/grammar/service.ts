/**
 * Constrained decoding for one model: compiles response formats and tool lists into grammars
 * (cached, bounded), and makes the per-sequence {@link GrammarConstraint} the scheduler asks for a
 * token mask before each draw. The vocabulary index is built on first use.
 */
import { LRUCache } from 'lru-cache';
import type { TokenMask } from '../engine/backend.ts';
import { InternalError } from '../errors.ts';
import type { TokenConstraint } from '../scheduler/types.ts';
import { GrammarBuilder, finishGrammar, type Grammar } from './nodes.ts';
import { budgetedMask, computeStateMask, createMaskCache, type MaskCache } from './masks.ts';
import { NON_BYTE, createParser, type ParseState, type Parser } from './parser.ts';
import { GrammarSchemaError } from './errors.ts';
import { SchemaCompiler } from './schema.ts';
import { textNode, toolCallsNode, type ToolFunction } from './tools.ts';
import { createVocabIndex, type VocabIndex } from './vocab.ts';
import { GRAMMAR_DEFAULTS } from './limits.ts';

/** What the output must be. */
export type OutputFormat =
  /** OpenAI `response_format: {type: "json_object"}`: any JSON object. */
  | { type: 'json_object' }
  /** OpenAI `response_format: {type: "json_schema"}`. */
  | { type: 'json_schema'; schema: unknown; strict: boolean };

/** What a request constrains: its output format, its tools, or both. */
export interface GrammarRequest {
  format?: OutputFormat;
  tools?: {
    functions: readonly ToolFunction[];
    /** `required` (or a named function): the answer is calls; `auto`: calls or an answer in words (or in `format`). */
    choice: 'auto' | 'required';
    parallel: boolean;
  };
}

/** A compiled grammar, shared by the requests that ask for it. */
export interface CompiledGrammar {
  readonly id: number;
  readonly parser: Parser;
}

/** Parameters of {@link createGrammarService}. */
export interface CreateGrammarServiceParameters {
  /** Vocabulary size (logit rows). */
  vocabSize: number;
  /** Per id: its bytes (`ModelTokenizer.tokenBytes`); read on first use. */
  tokenBytes: () => ReadonlyArray<Uint8Array | null>;
  eosTokenIds: readonly number[];
  /** Compiled grammars kept (LRU); default {@link GRAMMAR_DEFAULTS}.grammars. */
  grammars?: number;
  /** Bytes of cached masks; default {@link GRAMMAR_DEFAULTS}.maskCacheBytes. */
  maskCacheBytes?: number;
}

/** A sequence's grammar: masks before each draw, and the draws fed back. */
export interface GrammarConstraint extends TokenConstraint {
  /** Whether the output is complete (end-of-sequence allowed). */
  readonly accepting: boolean;
}

/** Constrained decoding for one model. */
export interface GrammarService {
  /** Compiles (or finds) the grammar of a request; throws {@link GrammarSchemaError} for a schema outside the subset. */
  compile(request: GrammarRequest): CompiledGrammar;
  /** A fresh constraint over a compiled grammar (one per sequence). */
  constraint(grammar: CompiledGrammar): GrammarConstraint;
  readonly vocab: VocabIndex;
  stats(): { grammars: number; masks: ReturnType<MaskCache['stats']> };
}

/** Creates the grammar service of a model. */
export function createGrammarService(p: CreateGrammarServiceParameters): GrammarService {
  let vocab: VocabIndex | undefined;
  const vocabIndex = () => (vocab ??= createVocabIndex({ tokenBytes: p.tokenBytes(), eosTokenIds: p.eosTokenIds }));
  const grammars = new LRUCache<string, CompiledGrammar>({ max: p.grammars ?? GRAMMAR_DEFAULTS.grammars });
  const masks = createMaskCache(p.maskCacheBytes ?? GRAMMAR_DEFAULTS.maskCacheBytes);
  let nextId = 0;

  function build(request: GrammarRequest): Grammar {
    const b = new GrammarBuilder();
    const compiler = new SchemaCompiler(b);
    const format = request.format;
    const formatNode = format === undefined ? undefined : format.type === 'json_object' ? compiler.anyObject() : compiler.compile(format.schema, { strict: format.strict, at: 'response_format.json_schema.schema' });
    let node: number;
    if (request.tools) {
      const calls = toolCallsNode({ compiler, functions: request.tools.functions, parallel: request.tools.parallel, at: 'tools' });
      if (request.tools.choice === 'required') node = calls;
      else node = b.add({ kind: 'anyOf', alts: [calls, formatNode ?? textNode(b)] });
    } else if (formatNode !== undefined) node = formatNode;
    else throw new InternalError('a grammar request with neither a format nor tools');
    const root = b.add({ kind: 'seq', parts: [node] });
    const grammar = finishGrammar(b.nodes, root);
    if (grammar.minLen[root] === Infinity) throw new GrammarSchemaError({ keyword: '$ref', path: format?.type === 'json_schema' ? 'response_format.json_schema.schema' : 'tools', problem: 'admits no finite JSON value (every branch recurses)', hint: 'Give each recursive reference a way out: an optional property, an empty array, or a null alternative.' });
    return grammar;
  }

  return {
    compile(request) {
      const key = JSON.stringify(request);
      let compiled = grammars.get(key);
      if (!compiled) {
        compiled = { id: nextId++, parser: createParser(build(request)) };
        grammars.set(key, compiled);
      }
      return compiled;
    },
    constraint(grammar) {
      const index = vocabIndex();
      const { parser } = grammar;
      let state: ParseState | undefined = parser.initial();
      let forced = false;
      let accepting = parser.accepts(state);
      return {
        mask(remaining: number): TokenMask | undefined {
          if (!state) return undefined; // free text: nothing left to constrain
          const s = state;
          const m = masks.get(grammar.id, s, () => computeStateMask(parser, index, s));
          const budgeted = budgetedMask(m, index, remaining);
          if (budgeted.forced) forced = true;
          return budgeted.mask;
        },
        accept(token: number) {
          if (!state) return;
          const bytes = index.bytesOf(token);
          const next: ParseState | undefined = bytes === null ? parser.advance(state, NON_BYTE) : parser.advanceBytes(state, bytes);
          if (!next) {
            if (index.eos.includes(token) && parser.accepts(state)) return;
            throw new InternalError(`token ${token} was drawn outside the grammar's mask`);
          }
          state = parser.free(next) ? undefined : next;
          accepting = state === undefined || parser.accepts(state);
        },
        get forced() {
          return forced;
        },
        get accepting() {
          return accepting;
        },
      };
    },
    get vocab() {
      return vocabIndex();
    },
    stats: () => ({ grammars: grammars.size, masks: masks.stats() }),
  };
}
