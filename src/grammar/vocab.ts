/**
 * A model's vocabulary as constrained decoding sees it: a trie over every token's bytes, stored in
 * preorder (node `i`'s subtree is `i .. end[i] - 1`), so a mask is one pass over typed arrays that
 * skips a whole subtree as soon as the grammar rejects its prefix. Tokens without bytes (special
 * tokens, padding ids) are listed apart; the end-of-sequence ids are the model's.
 */

/** Parameters of {@link createVocabIndex}. */
export interface CreateVocabIndexParameters {
  /** Per id below the model's vocabulary size: its bytes, or null (`ModelTokenizer.tokenBytes`). */
  tokenBytes: ReadonlyArray<Uint8Array | null>;
  /** Ids that end generation. */
  eosTokenIds: readonly number[];
}

/** The trie and token lists of one vocabulary. */
export interface VocabIndex {
  /** Vocabulary size (logit rows). */
  readonly size: number;
  /** Words of a mask: `ceil(size / 32)`. */
  readonly words: number;
  /** Trie nodes in preorder: the byte into the node, its depth (1 = a token's first byte), the end of its subtree. */
  readonly byte: Uint8Array;
  readonly depth: Uint16Array;
  readonly end: Int32Array;
  /** Tokens ending at node `i`: `tokens[tokenStart[i] .. tokenStart[i] + tokenCount[i] - 1]`. */
  readonly tokenStart: Int32Array;
  readonly tokenCount: Uint16Array;
  readonly tokens: Uint32Array;
  /** Ids without bytes, end-of-sequence ids excluded. */
  readonly nonByte: Uint32Array;
  readonly eos: Uint32Array;
  /** Bytes of a token (null: none). */
  bytesOf(token: number): Uint8Array | null;
  /** Whether every byte is a token of its own (byte-level and byte-fallback vocabularies): forced closing then always fits. */
  readonly allBytes: boolean;
}

/** Builds the index; ~1 s for a 128k vocabulary on one core. */
export function createVocabIndex(p: CreateVocabIndexParameters): VocabIndex {
  const size = p.tokenBytes.length;
  const eos = new Set(p.eosTokenIds.filter((t) => t >= 0 && t < size));
  const withBytes: number[] = [];
  const nonByte: number[] = [];
  const single = new Set<number>();
  p.tokenBytes.forEach((b, id) => {
    if (eos.has(id)) return;
    if (b === null || b.length === 0) nonByte.push(id);
    else {
      withBytes.push(id);
      if (b.length === 1) single.add(b[0]);
    }
  });
  const bytes = (id: number) => p.tokenBytes[id]!;
  withBytes.sort((x, y) => {
    const a = bytes(x);
    const b = bytes(y);
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length || x - y;
  });
  const byte: number[] = [0];
  const depth: number[] = [0];
  const end: number[] = [0];
  const tokenStart: number[] = [0];
  const tokenCount: number[] = [0];
  const path: number[] = [0]; // node at each depth of the current token
  let prev: Uint8Array = new Uint8Array(0);
  withBytes.forEach((id, order) => {
    const b = bytes(id);
    let common = 0;
    while (common < prev.length && common < b.length && prev[common] === b[common]) common++;
    for (let d = path.length - 1; d > common; d--) end[path[d]] = byte.length; // close nodes that end here
    path.length = common + 1;
    for (let d = common; d < b.length; d++) {
      const node = byte.length;
      byte.push(b[d]);
      depth.push(d + 1);
      end.push(0);
      tokenStart.push(0);
      tokenCount.push(0);
      path.push(node);
    }
    const last = path[b.length];
    if (tokenCount[last] === 0) tokenStart[last] = order;
    tokenCount[last]++;
    prev = b;
  });
  for (let d = path.length - 1; d >= 0; d--) end[path[d]] = byte.length;
  return {
    size,
    words: Math.ceil(size / 32),
    byte: Uint8Array.from(byte),
    depth: Uint16Array.from(depth),
    end: Int32Array.from(end),
    tokenStart: Int32Array.from(tokenStart),
    tokenCount: Uint16Array.from(tokenCount),
    tokens: Uint32Array.from(withBytes),
    nonByte: Uint32Array.from(nonByte),
    eos: Uint32Array.from(eos),
    bytesOf: (token) => p.tokenBytes[token] ?? null,
    allBytes: single.size === 256,
  };
}
