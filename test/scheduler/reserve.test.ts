import { describe, expect, it } from 'vitest';
import { createReservation, runningVictim } from '../../src/scheduler/reserve.ts';
import { hold, request, schedulerState } from '../fixtures/sequences.ts';

describe('KV blocks under memory pressure', () => {
  it('the running sequence a taker may preempt: the latest arrived after it with no rows in the step', () => {
    const [a] = request('p', 0);
    const [b] = request('p', 1);
    const [c] = request('p', 2);
    expect(runningVictim([a, b, c], a, new Set())).toBe(c);
    expect(runningVictim([a, b, c], a, new Set([c]))).toBe(b);
    expect(runningVictim([a, b, c], c, new Set())).toBeUndefined(); // nothing arrived after it
  });

  it('takes free blocks first, then a waiting sequence gives its blocks back, then the latest arrived running sequence is preempted; false when nothing is left', () => {
    const s = schedulerState(6);
    const reservation = createReservation(s);
    const [first] = request('p', 0);
    const [second] = request('p', 1);
    const [paused] = request('p', 2);
    const [third] = request('p', 3);
    s.queues.running.push(hold(s.blocks, first, 1, 'running'), hold(s.blocks, second, 1, 'running'), hold(s.blocks, third, 1, 'running'));
    s.queues.waiting.push(hold(s.blocks, paused, 2, 'waiting'));
    expect(reservation.reserve(first, 32, new Set())).toBe(true); // the one free block
    expect(s.counters.preemptions).toBe(0);
    expect(reservation.reserve(first, 48, new Set())).toBe(true); // the paused sequence's
    expect(paused).toMatchObject({ blockTable: [], computed: 0, preemptions: 1, state: 'waiting' });
    expect(s.counters.preemptions).toBe(1);
    expect(reservation.reserve(first, 80, new Set([second]))).toBe(true); // third's (second has rows in the step)
    expect(third).toMatchObject({ blockTable: [], computed: 0, preemptions: 1, state: 'waiting' });
    expect(s.queues.running).toEqual([first, second]);
    expect(s.queues.waiting).toEqual([paused, third]);
    expect(first.blockTable).toHaveLength(5);
    expect(reservation.reserve(second, 48, new Set())).toBe(false); // only first, which arrived before it, holds any
    expect(second.blockTable).toHaveLength(1);
    expect(s.blocks.numFree).toBe(0);
  });
});
