/**
 * The device tier's eviction order: which idle adapter gives its slot (and, with unified memory, its
 * pages) back. Pinned adapters (running requests') never go; those no queued request needs go first
 * (least recently used first), then the one whose first queued request is furthest back; a taker at
 * queue position `after` never evicts an adapter needed at or before it (-1, a running sequence:
 * any idle one), so requests do not trade each other's adapters back and forth. A prefetched
 * adapter is an idle one like any other: needed by the queued request it was fetched for, evicted
 * before any pinned adapter or running sequence's KV block.
 */

/** What the order reads of a slot. */
export interface EvictionCandidate<K extends string = string> {
  id: K | null;
  state: 'free' | 'reserved' | 'resident';
  /** Running requests pinning it. */
  pins: number;
  /** A tick of its last use: the smaller, the longer ago. */
  lastUse: number;
}

/** Whether a taker at queue position `after` may evict `s`: resident, idle, and needed by no queued request up to `after` (`nextUse`: the position of its first queued request, Infinity when none). */
export function mayEvict<K extends string>(s: EvictionCandidate<K>, nextUse: (id: K) => number, after: number): boolean {
  if (s.state !== 'resident' || s.pins > 0) return false;
  const next = nextUse(s.id!);
  return next === Number.POSITIVE_INFINITY || next > after;
}

/** The index of the slot a taker at `after` evicts first (see the file comment), or undefined when none may go. */
export function evictionVictim<K extends string>(slots: readonly EvictionCandidate<K>[], nextUse: (id: K) => number, after: number): number | undefined {
  let best: number | undefined;
  for (let i = 0; i < slots.length; i++) {
    if (!mayEvict(slots[i], nextUse, after)) continue;
    if (best === undefined) {
      best = i;
      continue;
    }
    const next = nextUse(slots[i].id!);
    const bestNext = nextUse(slots[best].id!);
    if (next > bestNext || (next === bestNext && slots[i].lastUse < slots[best].lastUse)) best = i;
  }
  return best;
}
