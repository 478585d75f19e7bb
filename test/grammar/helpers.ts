import type { Parser } from '../../src/grammar/parser.ts';
import { createGrammarService, type GrammarRequest, type GrammarService } from '../../src/grammar/service.ts';

/** A byte vocabulary (openlora's generated models): ids 0-255 are the bytes, 256 ends the sequence, 257-263 are other specials. */
export function byteService(): GrammarService {
  return createGrammarService({ vocabSize: 264, tokenBytes: () => Array.from({ length: 264 }, (_, i) => (i < 256 ? Uint8Array.of(i) : null)), eosTokenIds: [256] });
}

/** A deterministic random source (tests must not depend on Math.random). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

/**
 * A random walk through the grammar, byte by byte, as a model with random weights would go: every
 * byte the grammar allows is equally likely, and the walk keeps to what still closes within `budget`
 * bytes (as the constraint does). Ends when accepting and a coin says so, or nothing else fits.
 */
export function randomWalk(parser: Parser, budget: number, rand: () => number): string {
  let state = parser.initial();
  const bytes: number[] = [];
  for (let left = budget; ; left--) {
    const options: number[] = [];
    for (let x = 0; x < 256; x++) {
      const next = parser.advance(state, x);
      if (next && parser.rest(next) <= left - 1) options.push(x);
    }
    if (parser.accepts(state) && (options.length === 0 || rand() < 0.25)) break;
    if (options.length === 0) throw new Error(`walk stuck after ${JSON.stringify(Buffer.from(bytes).toString())} (rest ${parser.rest(state)}, ${left} left)`);
    const x = options[Math.floor(rand() * options.length)];
    state = parser.advance(state, x)!;
    bytes.push(x);
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
}

/** The parser of a response format over the byte vocabulary. */
export function parserOf(request: GrammarRequest, service = byteService()): Parser {
  return service.compile(request).parser;
}

/** Whether the grammar accepts exactly `text`. */
export function acceptsText(parser: Parser, text: string): boolean {
  const state = parser.advanceBytes(parser.initial(), new TextEncoder().encode(text));
  return state !== undefined && parser.accepts(state);
}
