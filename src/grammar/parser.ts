/**
 * Runs a {@link Grammar} over bytes: a pushdown parser whose state is a set of stacks of frames
 * (a set, because `anyOf` alternatives may share a prefix). A frame is a node and where in it the
 * parser is; a node that starts a child leaves a frame in its *return* state below the child's,
 * and a child that can end pops, letting the frame below read the byte. Frames are immutable and
 * keyed, so equal states have equal keys (what the mask cache is keyed by), and a frame that reads
 * a byte without changing (a character inside a string) returns itself: walking a vocabulary trie
 * through a long string allocates nothing.
 *
 * `rest` is the fewest bytes that complete a state: the sum over its frames, each from the node's
 * precomputed minimum lengths. The constraint forces the output to close in time with it.
 */
import { NUMBER_DIGITS, OBJECT_CLOSE, type Grammar } from './nodes.ts';
import { ACTION_NONE } from './trie.ts';

/** The symbol a token without bytes (a special token) is read as: only free text takes it. */
export const NON_BYTE = 256;

/** Where the parser is in one node. */
export interface Frame {
  readonly n: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly key: string;
}

/** A stack of frames, top first. */
export interface Stack {
  readonly f: Frame;
  readonly rest: Stack | null;
  readonly key: string;
}

/** The parser's state: every stack still alive (never empty), and a key naming the set. */
export interface ParseState {
  readonly stacks: readonly Stack[];
  readonly key: string;
}

// String states (the frame's `a`).
const S = { open: 0, body: 1, escape: 2, hex1: 3, hex2: 4, hex3: 5, hex4: 6, hex2d: 7, u1: 10, u2: 11, u3: 12, ue0: 13, ued: 14, uf0: 15, uf4: 16, done: 20 } as const;
const STRING_REST: Record<number, number> = { 0: 2, 1: 1, 2: 2, 3: 5, 4: 4, 7: 4, 5: 3, 6: 2, 10: 2, 11: 3, 12: 4, 13: 3, 14: 3, 15: 4, 16: 4, 20: 0 };
// Number states (`a`; `b` counts digits of the current part).
const N = { start: 0, minus: 1, zero: 2, int: 3, dot: 4, frac: 5, exp: 6, expSign: 7, expDigits: 8 } as const;
const NUMBER_ENDS = new Set<number>([N.zero, N.int, N.frac, N.expDigits]);
// Repeat phases (`a`; `b` items so far, `c` position in open/sep/close).
const R = { open: 0, first: 1, after: 2, sep: 3, item: 4, close: 5, done: 6 } as const;
// Map phases (`a`; `c` position in a separator).
const M = { open: 0, first: 1, colon: 2, value: 3, after: 4, comma: 5, key: 6, done: 7 } as const;
// Object phases (`a`; `b` = last written property + 1, `c` = node in its key trie).
const O = { open: 0, keys: 1, done: 2 } as const;

const COLON = [0x3a, 0x20];
const COMMA = [0x2c, 0x20];
const isDigit = (x: number) => x >= 0x30 && x <= 0x39;
const isHex = (x: number) => isDigit(x) || (x >= 0x41 && x <= 0x46) || (x >= 0x61 && x <= 0x66);

/** A parser over one grammar. */
export interface Parser {
  readonly grammar: Grammar;
  /** The state before any byte. */
  initial(): ParseState;
  /** The state after `symbol` (a byte, or {@link NON_BYTE}); undefined when the grammar rejects it. */
  advance(state: ParseState, symbol: number): ParseState | undefined;
  /** The state after every byte of `bytes`; undefined when rejected on the way. */
  advanceBytes(state: ParseState, bytes: ArrayLike<number>): ParseState | undefined;
  /** Whether the output may end here. */
  accepts(state: ParseState): boolean;
  /** Fewest bytes that complete the output from here. */
  rest(state: ParseState): number;
  /** Whether only free text is left (tool_choice auto answered in words): nothing more to constrain. */
  free(state: ParseState): boolean;
  /** Stacks reached from one stack by one symbol (exposed for the mask walk's memo). */
  step(stack: Stack, symbol: number): Stack[];
}

/** Creates the parser of a grammar. */
export function createParser(grammar: Grammar): Parser {
  const { nodes, nullable, minLen, objectTries } = grammar;

  const frame = (n: number, a: number, b = 0, c = 0): Frame => ({ n, a, b, c, key: `${n}.${a}.${b}.${c}` });
  const push = (f: Frame, rest: Stack | null): Stack => ({ f, rest, key: rest ? `${f.key}/${rest.key}` : f.key });
  const fresh = (n: number) => frame(n, 0);

  function canEnd(f: Frame): boolean {
    const node = nodes[f.n];
    switch (node.kind) {
      case 'literal':
        return node.trie.action[f.a] !== ACTION_NONE;
      case 'string':
        return f.a === S.done;
      case 'number':
        return NUMBER_ENDS.has(f.a);
      case 'object':
        return f.a === O.done;
      case 'map':
        return f.a === M.done;
      case 'repeat':
        return repeatEnds(node, f);
      case 'anyOf':
        return nullable[f.n];
      case 'seq':
        return node.parts.slice(f.a).every((p) => nullable[p]);
      case 'text':
        return true;
    }
  }

  /** Whether a repeat frame can end without reading another byte. */
  function repeatEnds(node: Extract<Grammar['nodes'][number], { kind: 'repeat' }>, f: Frame): boolean {
    switch (f.a) {
      case R.done:
        return true;
      case R.open:
        return f.c === node.open.length && node.min === 0 && node.close.length === 0;
      case R.first:
      case R.after:
        return f.b >= node.min && node.close.length === 0;
      case R.close:
        return f.c === node.close.length;
      default:
        return false;
    }
  }

  function frameRest(f: Frame): number {
    const node = nodes[f.n];
    switch (node.kind) {
      case 'literal':
        return node.trie.rest[f.a];
      case 'string':
        return STRING_REST[f.a];
      case 'number':
        return NUMBER_ENDS.has(f.a) ? 0 : 1;
      case 'object': {
        if (f.a === O.open) return minLen[f.n];
        if (f.a === O.done) return 0;
        return objectTries.get(f.n)![f.b].rest[f.c];
      }
      case 'map': {
        const v = minLen[node.value];
        switch (f.a) {
          case M.open:
            return 2;
          case M.first:
          case M.after:
            return 1;
          case M.colon:
            return COLON.length - f.c + v + 1;
          case M.value:
            return v + 1;
          case M.comma:
            return COMMA.length - f.c + 2 + COLON.length + v + 1;
          case M.key:
            return 2 + COLON.length + v + 1;
          default:
            return 0;
        }
      }
      case 'repeat': {
        const item = minLen[node.item];
        const more = (count: number) => Math.max(0, node.min - count) * (item + node.sep.length);
        switch (f.a) {
          case R.open:
            return node.open.length - f.c + (node.min > 0 ? node.min * item + (node.min - 1) * node.sep.length : 0) + node.close.length;
          case R.first:
            return (node.min > 0 ? node.min * item + (node.min - 1) * node.sep.length : 0) + node.close.length;
          case R.after:
            return more(f.b) + node.close.length;
          case R.sep:
            return node.sep.length - f.c + item + more(f.b + 1) + node.close.length;
          case R.item:
            return item + more(f.b + 1) + node.close.length;
          case R.close:
            return node.close.length - f.c;
          default:
            return 0;
        }
      }
      case 'anyOf':
        return minLen[f.n];
      case 'seq':
        return node.parts.slice(f.a).reduce((s, p) => s + minLen[p], 0);
      case 'text':
        return 0;
    }
  }

  /** Feeds `x` to the stack's top frame; a top that can end also pops and lets the frame below read it. */
  function feed(stack: Stack, x: number, out: Stack[]): void {
    consume(stack.f, stack.rest, x, out, stack);
    if (stack.rest && canEnd(stack.f)) feed(stack.rest, x, out);
  }

  /** Starts node `n` (its first byte is `x`) with `below` under it. */
  const enter = (n: number, below: Stack | null, x: number, out: Stack[]) => consume(fresh(n), below, x, out);

  /** `self`: the stack `f` tops, when there is one (a frame that stays as it is reuses it). */
  function consume(f: Frame, below: Stack | null, x: number, out: Stack[], self?: Stack): void {
    const node = nodes[f.n];
    const to = (g: Frame): void => void out.push(g === f && self ? self : push(g, below));
    if (x === NON_BYTE) {
      if (node.kind === 'text') to(frame(f.n, -1));
      else if (node.kind === 'anyOf') for (const alt of node.alts) enter(alt, below, x, out);
      else if (node.kind === 'seq' && f.a < node.parts.length) {
        enter(node.parts[f.a], push(frame(f.n, f.a + 1), below), x, out);
        if (nullable[node.parts[f.a]]) consume(frame(f.n, f.a + 1), below, x, out);
      }
      return;
    }
    switch (node.kind) {
      case 'literal': {
        const child = node.trie.children[f.a].get(x);
        if (child !== undefined) to(frame(f.n, child));
        return;
      }
      case 'string':
        return stringByte(f, x, to);
      case 'number':
        return numberByte(f, node.integer, x, to);
      case 'object': {
        if (f.a === O.open) {
          if (x === 0x7b) to(frame(f.n, O.keys, 0, 0));
          return;
        }
        if (f.a !== O.keys) return;
        const trie = objectTries.get(f.n)![f.b];
        const child = trie.children[f.c].get(x);
        if (child === undefined) return;
        const action = trie.action[child];
        if (action === ACTION_NONE) to(frame(f.n, O.keys, f.b, child));
        else if (action === OBJECT_CLOSE) to(frame(f.n, O.done));
        else out.push(push(fresh(node.props[action].value), push(frame(f.n, O.keys, action + 1, 0), below)));
        return;
      }
      case 'map':
        return mapByte(f, node.key, node.value, below, x, out, to);
      case 'repeat':
        return repeatByte(f, node, below, x, out, to);
      case 'anyOf':
        for (const alt of node.alts) enter(alt, below, x, out);
        return;
      case 'seq':
        if (f.a < node.parts.length) {
          enter(node.parts[f.a], push(frame(f.n, f.a + 1), below), x, out);
          if (nullable[node.parts[f.a]]) consume(frame(f.n, f.a + 1), below, x, out);
        }
        return;
      case 'text': {
        if (f.a < 0) return to(f);
        if (x !== node.trigger[f.a]) return to(frame(f.n, -1));
        if (f.a + 1 < node.trigger.length) to(frame(f.n, f.a + 1));
        return;
      }
    }
  }

  function stringByte(f: Frame, x: number, to: (g: Frame) => void): void {
    const go = (a: number) => to(a === f.a ? f : frame(f.n, a));
    switch (f.a) {
      case S.open:
        if (x === 0x22) go(S.body);
        return;
      case S.body:
        if (x === 0x22) return go(S.done);
        if (x === 0x5c) return go(S.escape);
        if (x >= 0x20 && x < 0x80) return go(S.body);
        if (x >= 0xc2 && x <= 0xdf) return go(S.u1);
        if (x === 0xe0) return go(S.ue0);
        if (x === 0xed) return go(S.ued);
        if (x >= 0xe1 && x <= 0xef) return go(S.u2);
        if (x === 0xf0) return go(S.uf0);
        if (x === 0xf4) return go(S.uf4);
        if (x >= 0xf1 && x <= 0xf3) return go(S.u3);
        return;
      case S.escape:
        if (x === 0x75) return go(S.hex1);
        if ('"\\/bfnrt'.includes(String.fromCharCode(x))) go(S.body);
        return;
      case S.hex1:
        // \uD800-\uDFFF (surrogates) are left out: JSON allows them, but alone they are not text.
        if (x === 0x64 || x === 0x44) return go(S.hex2d);
        if (isHex(x)) go(S.hex2);
        return;
      case S.hex2d:
        if (x >= 0x30 && x <= 0x37) go(S.hex3);
        return;
      case S.hex2:
        if (isHex(x)) go(S.hex3);
        return;
      case S.hex3:
        if (isHex(x)) go(S.hex4);
        return;
      case S.hex4:
        if (isHex(x)) go(S.body);
        return;
      case S.u1:
        if (x >= 0x80 && x <= 0xbf) go(S.body);
        return;
      case S.u2:
        if (x >= 0x80 && x <= 0xbf) go(S.u1);
        return;
      case S.u3:
        if (x >= 0x80 && x <= 0xbf) go(S.u2);
        return;
      case S.ue0:
        if (x >= 0xa0 && x <= 0xbf) go(S.u1);
        return;
      case S.ued:
        if (x >= 0x80 && x <= 0x9f) go(S.u1);
        return;
      case S.uf0:
        if (x >= 0x90 && x <= 0xbf) go(S.u2);
        return;
      case S.uf4:
        if (x >= 0x80 && x <= 0x8f) go(S.u2);
        return;
    }
  }

  function numberByte(f: Frame, integer: boolean, x: number, to: (g: Frame) => void): void {
    const go = (a: number, b = 0) => to(frame(f.n, a, b));
    const digit = isDigit(x);
    const integerStart = () => (x === 0x30 ? go(N.zero) : digit ? go(N.int, 1) : undefined);
    const fractionOrExponent = () => (integer ? undefined : x === 0x2e ? go(N.dot) : x === 0x65 || x === 0x45 ? go(N.exp) : undefined);
    switch (f.a) {
      case N.start:
        return x === 0x2d ? go(N.minus) : integerStart();
      case N.minus:
        return integerStart();
      case N.int:
        return digit ? (f.b < NUMBER_DIGITS.integer ? go(N.int, f.b + 1) : undefined) : fractionOrExponent();
      case N.zero:
        return fractionOrExponent();
      case N.dot:
        return digit ? go(N.frac, 1) : undefined;
      case N.frac:
        if (digit) return f.b < NUMBER_DIGITS.fraction ? go(N.frac, f.b + 1) : undefined;
        return x === 0x65 || x === 0x45 ? go(N.exp) : undefined;
      case N.exp:
        return x === 0x2b || x === 0x2d ? go(N.expSign) : digit ? go(N.expDigits, 1) : undefined;
      case N.expSign:
        return digit ? go(N.expDigits, 1) : undefined;
      case N.expDigits:
        return digit && f.b < NUMBER_DIGITS.exponent ? go(N.expDigits, f.b + 1) : undefined;
    }
  }

  function mapByte(f: Frame, keyNode: number, value: number, below: Stack | null, x: number, out: Stack[], to: (g: Frame) => void): void {
    const key = (): void => enter(keyNode, push(frame(f.n, M.colon), below), x, out);
    switch (f.a) {
      case M.open:
        if (x === 0x7b) to(frame(f.n, M.first));
        return;
      case M.first:
        if (x === 0x7d) return to(frame(f.n, M.done));
        return key();
      case M.colon:
        if (x !== COLON[f.c]) return;
        return to(f.c + 1 === COLON.length ? frame(f.n, M.value) : frame(f.n, M.colon, 0, f.c + 1));
      case M.value:
        return enter(value, push(frame(f.n, M.after), below), x, out);
      case M.after:
        if (x === 0x7d) return to(frame(f.n, M.done));
        if (x === COMMA[0]) to(frame(f.n, M.comma, 0, 1));
        return;
      case M.comma:
        if (x !== COMMA[f.c]) return;
        return to(f.c + 1 === COMMA.length ? frame(f.n, M.key) : frame(f.n, M.comma, 0, f.c + 1));
      case M.key:
        return key();
    }
  }

  function repeatByte(f: Frame, node: Extract<Grammar['nodes'][number], { kind: 'repeat' }>, below: Stack | null, x: number, out: Stack[], to: (g: Frame) => void): void {
    // Without maxItems only "at least minItems yet?" matters: the count stops there, so states (and mask cache keys) repeat.
    const item = (count: number) => enter(node.item, push(frame(f.n, R.after, node.max === Infinity ? Math.min(count + 1, node.min) : count + 1), below), x, out);
    const lit = (bytes: Uint8Array, a: number, done: Frame) => {
      if (x !== bytes[f.c]) return;
      to(f.c + 1 === bytes.length ? done : frame(f.n, a, f.b, f.c + 1));
    };
    const close = () => (node.close.length === 0 ? undefined : x === node.close[0] && to(node.close.length === 1 ? frame(f.n, R.done, f.b) : frame(f.n, R.close, f.b, 1)));
    switch (f.a) {
      case R.open:
        if (f.c < node.open.length) return lit(node.open, R.open, frame(f.n, R.first, 0));
        return consume(frame(f.n, R.first, 0), below, x, out);
      case R.first:
        if (node.max > 0) item(0);
        if (node.min === 0) close();
        return;
      case R.after:
        if (f.b < node.max) {
          if (node.sep.length === 0) item(f.b);
          else if (x === node.sep[0]) to(node.sep.length === 1 ? frame(f.n, R.item, f.b) : frame(f.n, R.sep, f.b, 1));
        }
        if (f.b >= node.min) close();
        return;
      case R.sep:
        return lit(node.sep, R.sep, frame(f.n, R.item, f.b));
      case R.item:
        return item(f.b);
      case R.close:
        return lit(node.close, R.close, frame(f.n, R.done, f.b));
    }
  }

  const stateOf = (stacks: Stack[]): ParseState | undefined => {
    if (stacks.length === 0) return undefined;
    if (stacks.length === 1) return { stacks, key: stacks[0].key };
    const unique = new Map<string, Stack>();
    for (const s of stacks) if (!unique.has(s.key)) unique.set(s.key, s);
    const sorted = [...unique.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { stacks: sorted, key: sorted.map((s) => s.key).join('|') };
  };

  const step = (stack: Stack, x: number): Stack[] => {
    const out: Stack[] = [];
    feed(stack, x, out);
    return out;
  };

  const stackAccepts = (s: Stack | null): boolean => s === null || (canEnd(s.f) && stackAccepts(s.rest));
  const stackRest = (s: Stack | null): number => (s === null ? 0 : frameRest(s.f) + stackRest(s.rest));

  const parser: Parser = {
    grammar,
    initial: () => stateOf([push(fresh(grammar.root), null)])!,
    advance(state, x) {
      const out: Stack[] = [];
      for (const s of state.stacks) feed(s, x, out);
      return stateOf(out);
    },
    advanceBytes(state, bytes) {
      let s: ParseState | undefined = state;
      for (let i = 0; i < bytes.length && s; i++) s = parser.advance(s, bytes[i]);
      return s;
    },
    accepts: (state) => state.stacks.some((s) => stackAccepts(s)),
    rest: (state) => Math.min(...state.stacks.map((s) => stackRest(s))),
    free: (state) => state.stacks.every((s) => nodes[s.f.n].kind === 'text' && s.f.a < 0 && stackAccepts(s.rest)),
    step,
  };
  return parser;
}
