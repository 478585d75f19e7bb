/**
 * The grammar a JSON Schema (or a tool list) compiles to: a graph of byte-level nodes, each the
 * shape of one JSON value or wrapper, referring to others by index (a `$ref` cycle is a cycle in
 * the graph). `src/grammar/parser.ts` runs it; {@link finishGrammar} derives what the parser needs:
 * nullability, the fewest bytes each node takes, and the key tries of objects.
 */
import { ACTION_NONE, ByteTrie } from './trie.ts';

/** UTF-8 bytes of a string. */
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Separators the grammar writes, as Python's `json.dumps` does (what most tool-call data looks like). */
export const JSON_COMMA = utf8(', ');
export const JSON_COLON = utf8(': ');

/** Digits a number's integer part, fraction and exponent have at most (keeps integers exact in a double). */
export const NUMBER_DIGITS = { integer: 15, fraction: 15, exponent: 2 } as const;

/** One node of a grammar. */
export type GrammarNode =
  /** One of fixed byte strings (enum, const, true, false, null, a tool's name). */
  | { kind: 'literal'; trie: ByteTrie }
  /** Any JSON string (valid UTF-8, escapes). */
  | { kind: 'string' }
  /** A JSON number; `integer`: no fraction or exponent. */
  | { kind: 'number'; integer: boolean }
  /** An object with declared properties, written in declared order; the optional ones may be left out. */
  | { kind: 'object'; props: ObjectProperty[] }
  /** An object of any keys (`key`: a string node), every value matching `value`. */
  | { kind: 'map'; key: number; value: number }
  /** `open item (sep item)* close` with `min..max` items (JSON arrays: `[`, `, `, `]`). */
  | { kind: 'repeat'; item: number; open: Uint8Array; sep: Uint8Array; close: Uint8Array; min: number; max: number }
  /** Any one of the alternatives. */
  | { kind: 'anyOf'; alts: number[] }
  /** The parts one after another. */
  | { kind: 'seq'; parts: number[] }
  /** Free text that does not begin with `trigger` (tool_choice auto's answer in words); may be empty. */
  | { kind: 'text'; trigger: Uint8Array };

/** A declared property of an object node. */
export interface ObjectProperty {
  key: string;
  value: number;
  required: boolean;
}

/** Actions at the ends of an object's key tries: the value of property `j` (>= 0), or the closing brace. */
export const OBJECT_CLOSE = -1;

/** A grammar ready to run. */
export interface Grammar {
  readonly nodes: readonly GrammarNode[];
  /** The node the whole output must match. */
  readonly root: number;
  /** Per node: whether it matches the empty string. */
  readonly nullable: readonly boolean[];
  /** Per node: the fewest bytes of any string it matches (Infinity: none is finite). */
  readonly minLen: readonly number[];
  /**
   * Per object node, per last written property `L` (-1: none yet, index `L + 1`): a trie of what
   * may come next, the separator and key of each property that may follow (action = its index)
   * and, when no required property is left, `}` (action {@link OBJECT_CLOSE}).
   */
  readonly objectTries: ReadonlyMap<number, ByteTrie[]>;
}

/** Builds the node list of a grammar. */
export class GrammarBuilder {
  readonly nodes: GrammarNode[] = [];

  add(node: GrammarNode): number {
    this.nodes.push(node);
    return this.nodes.length - 1;
  }

  /** A node to fill in later (a `$ref` target compiled after its first use). */
  reserve(): number {
    return this.add({ kind: 'anyOf', alts: [] });
  }

  set(index: number, node: GrammarNode): void {
    this.nodes[index] = node;
  }

  literal(values: readonly Uint8Array[]): number {
    const trie = new ByteTrie();
    for (const v of values) trie.add(v, 0);
    return this.add({ kind: 'literal', trie });
  }
}

/** Derives nullability, minimum lengths and object tries; the grammar is then immutable. */
export function finishGrammar(nodes: GrammarNode[], root: number): Grammar {
  for (const node of nodes) if (node.kind === 'literal') node.trie.finish(() => 0);
  const nullable = nodes.map((n) => n.kind === 'text');
  for (let changed = true; changed; ) {
    changed = false;
    nodes.forEach((n, i) => {
      if (nullable[i]) return;
      const v =
        (n.kind === 'anyOf' && n.alts.some((a) => nullable[a])) ||
        (n.kind === 'seq' && n.parts.every((p) => nullable[p])) ||
        (n.kind === 'repeat' && n.open.length === 0 && n.close.length === 0 && (n.min === 0 || nullable[n.item]));
      if (v) nullable[i] = changed = true;
    });
  }
  // Fewest bytes per node: a fixpoint from Infinity (cycles through $ref converge or stay infinite).
  const minLen = nodes.map(() => Infinity);
  const closeCosts = new Map<number, number[]>();
  for (let changed = true; changed; ) {
    changed = false;
    nodes.forEach((n, i) => {
      let v = Infinity;
      switch (n.kind) {
        case 'literal':
          v = n.trie.rest[0];
          break;
        case 'string':
          v = 2;
          break;
        case 'number':
          v = 1;
          break;
        case 'object': {
          const costs = objectCloseCosts(n.props, minLen);
          closeCosts.set(i, costs);
          v = 1 + costs[0];
          break;
        }
        case 'map':
          v = 2;
          break;
        case 'repeat':
          v = n.open.length + n.close.length + (n.min > 0 ? n.min * minLen[n.item] + (n.min - 1) * n.sep.length : 0);
          break;
        case 'anyOf':
          v = Math.min(Infinity, ...n.alts.map((a) => minLen[a]));
          break;
        case 'seq':
          v = n.parts.reduce((s, p) => s + minLen[p], 0);
          break;
        case 'text':
          v = 0;
          break;
      }
      if (v < minLen[i]) {
        minLen[i] = v;
        changed = true;
      }
    });
  }
  const objectTries = new Map<number, ByteTrie[]>();
  nodes.forEach((n, i) => {
    if (n.kind !== 'object') return;
    const costs = closeCosts.get(i) ?? objectCloseCosts(n.props, minLen);
    const tries: ByteTrie[] = [];
    for (let last = -1; last < n.props.length; last++) {
      const trie = new ByteTrie();
      for (const j of nextProperties(n.props, last)) trie.add(keyBytes(n.props[j].key, last >= 0), j);
      if (closable(n.props, last)) trie.add(utf8('}'), OBJECT_CLOSE);
      trie.finish((action) => (action === OBJECT_CLOSE ? 0 : minLen[n.props[action].value] + costs[action + 1]));
      tries.push(trie);
    }
    objectTries.set(i, tries);
  });
  return { nodes, root, nullable, minLen, objectTries };
}

/** The properties that may come after property `last` (-1: first): each one up to and including the next required one. */
export function nextProperties(props: readonly ObjectProperty[], last: number): number[] {
  const out: number[] = [];
  for (let j = last + 1; j < props.length; j++) {
    out.push(j);
    if (props[j].required) break;
  }
  return out;
}

/** Whether the object may close after property `last`: no required property follows. */
function closable(props: readonly ObjectProperty[], last: number): boolean {
  for (let j = last + 1; j < props.length; j++) if (props[j].required) return false;
  return true;
}

/** `, "key": ` (or `"key": ` for the first property written). */
function keyBytes(key: string, comma: boolean): Uint8Array {
  return utf8(`${comma ? ', ' : ''}${JSON.stringify(key)}: `);
}

/** Per `last` (-1 .. m-1, at index last + 1): the fewest bytes to close the object from there. */
function objectCloseCosts(props: readonly ObjectProperty[], minLen: readonly number[]): number[] {
  const costs = Array.from({ length: props.length + 1 }, () => Infinity);
  for (let last = props.length - 1; last >= -1; last--) {
    let best = closable(props, last) ? 1 : Infinity;
    for (const j of nextProperties(props, last)) best = Math.min(best, keyBytes(props[j].key, last >= 0).length + minLen[props[j].value] + costs[j + 1]);
    costs[last + 1] = best;
  }
  return costs;
}

export { ACTION_NONE };
