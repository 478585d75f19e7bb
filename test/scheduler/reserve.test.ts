import { describe, expect, it } from 'vitest';
import { createReservation, runningVictim, waitingVictims } from '../../src/scheduler/reserve.ts';
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

  it('waiting sequences give their blocks back in reverse of the admission order: under vtc the payer served most first, not the latest arrived', () => {
    for (const policy of ['vtc', 'fifo'] as const) {
      const s = schedulerState(5, { policy });
      const [heavy] = request('heavy', 0); // paused, arrived first
      const [light] = request('light', 5); // arrived last
      const [taker] = request('light', 1);
      for (const seq of [heavy, light, taker]) s.payers.enter(seq.group.payer);
      s.payers.charge('heavy', 500, 0);
      s.queues.waiting.push(hold(s.blocks, heavy, 2, 'waiting'), hold(s.blocks, light, 2, 'waiting'));
      s.queues.running.push(hold(s.blocks, taker, 1, 'running'));
      expect(createReservation(s).reserve(taker, 32, new Set())).toBe(true);
      // vtc admits light-5 before heavy-0, so heavy-0 gives its blocks back; fifo admits by arrival.
      const [gave, kept] = policy === 'vtc' ? [heavy, light] : [light, heavy];
      expect(gave).toMatchObject({ blockTable: [], computed: 0, preemptions: 1 });
      expect(kept.blockTable).toHaveLength(2);
      expect(kept.preemptions).toBe(0);
      expect(s.counters.preemptions).toBe(1);
    }
  });

  it("a choice holding its request's shared prompt blocks gives back only what returns to the pool: passed over while a running choice holds them, released with its waiting siblings when together they free them", () => {
    const s = schedulerState(8);
    const reservation = createReservation(s);
    const [other] = request('p', 0); // admitted before the request with choices
    const [running, onlyShared, withOwn] = request('p', 1, { choices: 3 });
    const [taker] = request('p', 2);
    s.queues.running.push(hold(s.blocks, running, 1, 'running'), hold(s.blocks, taker, 1, 'running'));
    const prompt = running.blockTable.slice(0, 1); // the shared prompt block (3 holders)
    s.queues.waiting.push(hold(s.blocks, other, 2, 'waiting'), hold(s.blocks, onlyShared, 0, 'waiting', prompt), hold(s.blocks, withOwn, 1, 'waiting', prompt));
    expect(s.blocks.numFree).toBe(3);
    expect(s.blocks.holders(prompt[0])).toBe(3);
    expect(reservation.reserve(taker, 16 * 5, new Set())).toBe(true); // 4 more: 3 free, then withOwn's own block (onlyShared, arrived as early, would free nothing)
    expect(withOwn).toMatchObject({ blockTable: [], preemptions: 1 });
    expect(onlyShared.preemptions).toBe(0);
    expect(reservation.reserve(taker, 16 * 7, new Set())).toBe(true); // 2 more: onlyShared would free nothing, so other's
    expect(onlyShared).toMatchObject({ blockTable: prompt, preemptions: 0 });
    expect(other).toMatchObject({ blockTable: [], preemptions: 1 });
    expect(s.counters.preemptions).toBe(2);
    expect(waitingVictims(s.queues.waiting, taker, s.admitsBefore, (b) => s.blocks.holders(b))).toBeUndefined();
    // Once the running choice lets go, the waiting choice holding only the prompt block frees it.
    reservation.release(running);
    expect(waitingVictims(s.queues.waiting, taker, s.admitsBefore, (b) => s.blocks.holders(b))).toEqual({ victims: [onlyShared], freed: 1 });
    // Two waiting choices holding only their prompt block free it together, and only together.
    const t = schedulerState(4);
    const pair = request('p', 0, { choices: 2 });
    const [block] = t.blocks.allocate(1)!;
    for (const choice of pair) hold(t.blocks, choice, 0, 'waiting', [block]);
    t.blocks.free([block]); // the prefix that computed it handed it over
    const [runner] = request('p', 1);
    expect(waitingVictims(pair, runner, t.admitsBefore, (b) => t.blocks.holders(b))).toEqual({ victims: [pair[1], pair[0]], freed: 1 });
    expect(waitingVictims(pair, pair[0], t.admitsBefore, (b) => t.blocks.holders(b))).toBeUndefined(); // the taker holds it too
  });
});
