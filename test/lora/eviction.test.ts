import { describe, expect, it } from 'vitest';
import { evictionVictim, mayEvict, type EvictionCandidate } from '../../src/lora/eviction.ts';

const slot = (id: string | null, p: Partial<EvictionCandidate> = {}): EvictionCandidate => ({ id, state: id ? 'resident' : 'free', pins: 0, lastUse: 0, ...p });

describe('eviction order', () => {
  // Queued requests need c first (position 0), then d (position 3); nobody needs a or b.
  const queued = new Map([['c', 0], ['d', 3]]);
  const nextUse = (id: string) => queued.get(id) ?? Number.POSITIVE_INFINITY;

  it('never a pinned, loading or free slot; never one needed at or before the taker', () => {
    expect(mayEvict(slot('a', { pins: 1 }), nextUse, -1)).toBe(false);
    expect(mayEvict(slot('a', { state: 'reserved' }), nextUse, -1)).toBe(false);
    expect(mayEvict(slot(null), nextUse, -1)).toBe(false);
    expect(mayEvict(slot('d'), nextUse, 3)).toBe(false);
    expect(mayEvict(slot('d'), nextUse, 2)).toBe(true);
    expect(mayEvict(slot('a'), nextUse, Number.POSITIVE_INFINITY)).toBe(true); // needed by nobody: any taker
  });

  it('those nobody needs first, least recently used first; then the one needed furthest back', () => {
    const slots = [slot('c', { lastUse: 1 }), slot('d', { lastUse: 2 }), slot('a', { lastUse: 5 }), slot('b', { lastUse: 4, pins: 1 }), slot('e', { lastUse: 3 })];
    expect(evictionVictim(slots, nextUse, -1)).toBe(4); // e: unneeded and used before a
    slots[4] = slot(null);
    expect(evictionVictim(slots, nextUse, -1)).toBe(2); // a
    slots[2] = slot(null);
    expect(evictionVictim(slots, nextUse, -1)).toBe(1); // d (position 3) before c (0)
    expect(evictionVictim(slots, nextUse, 3)).toBeUndefined(); // a taker at 3 may have neither
    expect(evictionVictim(slots, nextUse, 0)).toBe(1);
  });
});
