/**
 * Token masks of grammar states: one walk of the vocabulary trie per state (`vocab.ts`), carrying
 * the parser state down each branch and cutting a branch at the first byte the grammar rejects;
 * every token whose bytes all pass is allowed. Each allowed token is also filed under the fewest
 * bytes that complete the output after it (its *level*), so a row running out of `max_tokens` can
 * keep only the tokens that still let it close in time without another walk.
 *
 * Masks are cached by (grammar, state key) in one LRU bounded by bytes, shared by every request on
 * the node: a state reached again (the next string property, the next request with the same schema)
 * costs a lookup.
 */
import { LRUCache } from 'lru-cache';
import type { TokenMask } from '../engine/backend.ts';
import { NON_BYTE, type ParseState, type Parser } from './parser.ts';
import type { VocabIndex } from './vocab.ts';

/** The mask of one state. */
export interface StateMask {
  /** Every token the grammar allows here (end-of-sequence ids when the output may end). */
  readonly all: TokenMask;
  /** Allowed tokens by the fewest bytes that complete the output after them, ascending; absent when all share one level. */
  readonly levels?: ReadonlyArray<{ rest: number; mask: TokenMask }>;
  /** The largest level (fewest bytes to complete after the costliest allowed token). */
  readonly maxRest: number;
  /** Whether the output may end here (end-of-sequence allowed). */
  readonly accepts: boolean;
}

/** The node's mask cache: states of every grammar, LRU by bytes. */
export interface MaskCache {
  get(grammarId: number, state: ParseState, compute: () => StateMask): StateMask;
  stats(): { entries: number; bytes: number; hits: number; misses: number };
}

/** Creates a mask cache of at most `maxBytes`. */
export function createMaskCache(maxBytes: number): MaskCache {
  const lru = new LRUCache<string, StateMask>({ maxSize: maxBytes, sizeCalculation: (m) => m.all.byteLength * (1 + (m.levels?.length ?? 0)) + 64 });
  let hits = 0;
  let misses = 0;
  return {
    get(grammarId, state, compute) {
      const key = `${grammarId}#${state.key}`;
      let mask = lru.get(key);
      if (mask) hits++;
      else {
        misses++;
        mask = compute();
        lru.set(key, mask);
      }
      return mask;
    },
    stats: () => ({ entries: lru.size, bytes: lru.calculatedSize, hits, misses }),
  };
}

/** Walks the vocabulary from `state`: the allowed tokens and their levels. */
export function computeStateMask(parser: Parser, vocab: VocabIndex, state: ParseState): StateMask {
  const all = new Uint32Array(vocab.words);
  const byRest = new Map<number, number[]>();
  const file = (rest: number, token: number) => {
    all[token >>> 5] |= 1 << (token & 31);
    let list = byRest.get(rest);
    if (!list) byRest.set(rest, (list = []));
    list.push(token);
  };
  // Memo per walk: a state reading a byte gives the same state wherever in the trie it happens.
  const memo = new Map<string, Array<ParseState | null | undefined>>();
  const next = (s: ParseState, x: number): ParseState | null => {
    let row = memo.get(s.key);
    if (!row) memo.set(s.key, (row = Array.from<ParseState | null | undefined>({ length: 257 })));
    let r = row[x];
    if (r === undefined) row[x] = r = parser.advance(s, x) ?? null;
    return r;
  };
  const states: ParseState[] = [state];
  const { byte, depth, end, tokenStart, tokenCount, tokens } = vocab;
  for (let i = 1; i < byte.length; ) {
    const d = depth[i];
    const s = next(states[d - 1], byte[i]);
    if (!s) {
      i = end[i];
      continue;
    }
    states[d] = s;
    if (tokenCount[i] > 0) {
      const rest = parser.rest(s);
      for (let k = 0; k < tokenCount[i]; k++) file(rest, tokens[tokenStart[i] + k]);
    }
    i++;
  }
  const special = next(state, NON_BYTE);
  if (special) {
    const rest = parser.rest(special);
    for (const t of vocab.nonByte) file(rest, t);
  }
  const accepts = parser.accepts(state);
  if (accepts) for (const t of vocab.eos) all[t >>> 5] |= 1 << (t & 31);
  const rests = [...byRest.keys()].sort((a, b) => a - b);
  const maxRest = rests.length ? rests[rests.length - 1] : 0;
  if (rests.length <= 1) return { all, maxRest, accepts };
  const levels = rests.map((rest) => {
    const mask = new Uint32Array(vocab.words);
    for (const t of byRest.get(rest)!) mask[t >>> 5] |= 1 << (t & 31);
    return { rest, mask };
  });
  return { all, levels, maxRest, accepts };
}

/**
 * The tokens allowed with `remaining` tokens left (this one included): those after which the
 * output can still close with one token per byte and an end-of-sequence token, so a row whose
 * budget runs low closes its JSON instead of being cut. When even that does not fit, the tokens
 * that leave the fewest bytes to write (multi-byte tokens may still close it in time; otherwise
 * the output is cut at `max_tokens`, as OpenAI cuts it). `forced` says the budget removed choices.
 */
export function budgetedMask(mask: StateMask, vocab: VocabIndex, remaining: number): { mask: TokenMask; forced: boolean } {
  const budget = remaining - 2; // bytes after this token, one token each, then end-of-sequence
  if (mask.maxRest <= budget) return { mask: mask.all, forced: false };
  const out = new Uint32Array(vocab.words);
  let any = false;
  const levels = mask.levels ?? [];
  for (const level of levels) {
    if (level.rest > budget) break;
    for (let w = 0; w < out.length; w++) out[w] |= level.mask[w];
    any = true;
  }
  if (mask.accepts) {
    for (const t of vocab.eos) out[t >>> 5] |= 1 << (t & 31);
    any = true;
  }
  if (!any) {
    if (levels.length === 0) return { mask: mask.all, forced: false };
    return { mask: levels[0].mask, forced: true };
  }
  return { mask: out, forced: true };
}
