/**
 * A trie over byte strings whose ends carry an action (`ACTION_NONE` inside): the literal
 * alternatives of `enum`/`const`/`true`, an object's next keys. `rest[i]` is the fewest bytes from
 * node `i` to an end plus that end's cost, so a parser in the middle of a literal knows how soon it
 * can finish.
 */
export const ACTION_NONE = -2;

/** A byte trie built once and then read (node 0 is the root). */
export class ByteTrie {
  /** Per node: byte → child node. */
  readonly children: Array<Map<number, number>> = [new Map()];
  /** Per node: the action of a string ending here, or {@link ACTION_NONE}. */
  readonly action: number[] = [ACTION_NONE];
  /** Per node: fewest bytes to an end from here plus that end's cost (Infinity: none). */
  rest: Float64Array = new Float64Array(0);

  /** Adds `bytes` ending with `action`; an existing identical string keeps its first action. */
  add(bytes: Uint8Array, action: number): void {
    let node = 0;
    for (const b of bytes) {
      let next = this.children[node].get(b);
      if (next === undefined) {
        next = this.children.length;
        this.children.push(new Map());
        this.action.push(ACTION_NONE);
        this.children[node].set(b, next);
      }
      node = next;
    }
    if (this.action[node] === ACTION_NONE) this.action[node] = action;
  }

  /** Fills {@link rest} given each action's cost (bytes still needed after its string). */
  finish(costOf: (action: number) => number): void {
    const n = this.children.length;
    const rest = new Float64Array(n);
    // Children always have higher ids than their parent: one backward pass suffices.
    for (let i = n - 1; i >= 0; i--) {
      let best = this.action[i] === ACTION_NONE ? Infinity : costOf(this.action[i]);
      for (const child of this.children[i].values()) best = Math.min(best, 1 + rest[child]);
      rest[i] = best;
    }
    this.rest = rest;
  }
}
