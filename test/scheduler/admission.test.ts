import { describe, expect, it } from 'vitest';
import { createAdmission, type StepRows } from '../../src/scheduler/admission.ts';
import { createReservation } from '../../src/scheduler/reserve.ts';
import type { Sequence } from '../../src/scheduler/sequence.ts';
import type { AdapterResidency } from '../../src/scheduler/types.ts';
import { hold, request, schedulerState } from '../fixtures/sequences.ts';

/** Admission over `blocks` KV blocks and `maxRunning` slots; `step(budget)` plans a step's rows. */
function setup(p: { blocks: number; maxRunning: number; policy?: 'vtc' | 'fifo'; adapters?: AdapterResidency }) {
  const s = schedulerState(p.blocks, { policy: p.policy });
  const failed: Sequence[] = [];
  const reservation = createReservation({ ...s, adapters: p.adapters });
  const admission = createAdmission({ ...s, reservation, adapters: p.adapters, maxRunning: p.maxRunning, fairSlots: true, fail: (seq) => failed.push(seq) });
  const step = (budget: number) => {
    const rows: [string, number][] = [];
    const plan: StepRows & { budget: number; scheduled: Set<Sequence> } = {
      budget,
      scheduled: new Set(),
      add(seq, count) {
        rows.push([seq.id, count]);
        plan.scheduled.add(seq);
        plan.budget -= count;
      },
    };
    return { plan, rows };
  };
  return { ...s, reservation, admission, step, failed };
}

describe('admission planning', () => {
  it('orders the queue as the policy admits: the payer served least first (vtc), then arrival, then choice', () => {
    const vtc = setup({ blocks: 8, maxRunning: 4 });
    const heavy = request('heavy', 0);
    const light = request('light', 1, { choices: 2 });
    for (const seq of [...heavy, ...light]) vtc.payers.enter(seq.group.payer);
    vtc.payers.charge('heavy', 100, 0);
    vtc.queues.waiting.push(light[1], ...heavy, light[0]);
    vtc.admission.order();
    expect(vtc.queues.waiting.map((q) => q.id)).toEqual(['light-1/0', 'light-1/1', 'heavy-0']);
    const fifo = setup({ blocks: 8, maxRunning: 4, policy: 'fifo' });
    fifo.queues.waiting.push(light[1], ...heavy, light[0]);
    fifo.admission.order();
    expect(fifo.queues.waiting.map((q) => q.id)).toEqual(['heavy-0', 'light-1/0', 'light-1/1']);
  });

  it('admits in order while the budget and the slots last, keeping one free block per running sequence; the first that does not fit stops admission', () => {
    const a = setup({ blocks: 6, maxRunning: 3 });
    const seqs = [request('p', 0, { promptLength: 32 })[0], request('p', 1, { promptLength: 16 })[0], request('p', 2, { promptLength: 16 })[0]];
    a.queues.waiting.push(...seqs);
    const { plan, rows } = a.step(40);
    a.admission.admitWaiting(plan, new Set());
    // p-0's 32 tokens (2 blocks); p-1's first 8 tokens (the budget left, 1 block); p-2 gets no budget.
    expect(rows).toEqual([['p-0', 32], ['p-1', 8]]);
    expect(a.queues.running.map((q) => q.id)).toEqual(['p-0', 'p-1']);
    expect(seqs[0].startedAt).not.toBeNull();

    const tight = setup({ blocks: 4, maxRunning: 3 });
    const big = request('p', 0, { promptLength: 48 })[0];
    const small = request('p', 1, { promptLength: 16 })[0];
    tight.queues.running.push(hold(tight.blocks, request('q', -1)[0], 1, 'running'));
    tight.queues.waiting.push(big, small);
    const t = tight.step(512);
    tight.admission.admitWaiting(t.plan, new Set());
    // big needs 3 blocks of the 3 free, leaving none for the running sequence: nothing is admitted, small does not overtake it.
    expect(t.rows).toEqual([]);
    expect(tight.queues.waiting).toEqual([big, small]);
  });

  it('while every slot is taken, a payer below its share takes the slot of the heavy payer latest arrived sequence, which keeps its blocks and is not readmitted in this step', () => {
    const a = setup({ blocks: 16, maxRunning: 3 });
    const heavy = [0, 1, 2].map((i) => hold(a.blocks, request('heavy', i)[0], 1, 'running'));
    const [light] = request('light', 3);
    for (const seq of [...heavy, light]) a.payers.enter(seq.group.payer);
    a.payers.charge('heavy', 300, 0);
    a.queues.running.push(...heavy);
    a.queues.waiting.push(light);
    a.admission.order();
    const heldBack = a.admission.pauseForFairSlots();
    expect([...heldBack]).toEqual([heavy[2]]);
    expect(heavy[2]).toMatchObject({ state: 'waiting', pauses: 1, computed: 16 });
    expect(heavy[2].blockTable).toHaveLength(1);
    expect(a.counters.pauses).toBe(1);
    const { plan, rows } = a.step(512);
    a.admission.admitWaiting(plan, heldBack);
    expect(rows).toEqual([['light-3', 16]]);
    expect(a.queues.waiting).toEqual([heavy[2]]);
  });

  it('a request whose adapter is loading is passed over, and what it needs is left to it', () => {
    const adapters: AdapterResidency = {
      acquire: (id) => (id === 'cold' ? { pending: true } : { slot: 0 }),
      prefetch: () => undefined,
      release: () => undefined,
      onLoaded: () => undefined,
    };
    const a = setup({ blocks: 3, maxRunning: 4, adapters });
    const cold = request('p', 0, { adapterId: 'cold', promptLength: 32 })[0];
    const warm = request('p', 1, { adapterId: 'warm', promptLength: 16 })[0];
    const after = request('p', 2, { adapterId: 'warm', promptLength: 16 })[0];
    a.queues.waiting.push(cold, warm, after);
    const { plan, rows } = a.step(512);
    a.admission.admitWaiting(plan, new Set());
    // cold keeps its 2 blocks promised: warm takes the third; after finds none left (one kept for warm).
    expect(rows).toEqual([['p-1', 16]]);
    expect(warm).toMatchObject({ state: 'running', pinned: true, slot: 0 });
    expect(a.queues.waiting).toEqual([cold, after]);
  });
  it('counts the whole remaining prompt of every sequence in prefill: a second long prompt waits rather than crowd the first into a preemption', () => {
    const a = setup({ blocks: 8, maxRunning: 4 });
    // first: a 96-token prompt (6 blocks) admitted earlier, 32 tokens computed (2 blocks held), 4 blocks still to come.
    const first = hold(a.blocks, request('p', 0, { promptLength: 96 })[0], 2, 'running');
    const second = request('p', 1, { promptLength: 96 })[0];
    a.queues.running.push(first);
    a.queues.waiting.push(second);
    const { plan, rows } = a.step(64);
    a.admission.admitWaiting(plan, new Set());
    // 6 free blocks: second's first chunk (4) would fit, its whole prompt (6) beside first's 4 still owed does not.
    expect(rows).toEqual([]);
    expect(second).toMatchObject({ state: 'waiting', blockTable: [] });
    // first's next chunk finds its blocks: nobody is preempted.
    expect(a.reservation.reserve(first, 96, new Set())).toBe(true);
    expect(a.counters.preemptions).toBe(0);
    expect(first.blockTable).toHaveLength(6);
  });

  it('a short request still goes in beside a long prompt in prefill when it fits; a long one behind it waits', () => {
    const a = setup({ blocks: 8, maxRunning: 4 });
    const long = hold(a.blocks, request('p', 0, { promptLength: 96 })[0], 2, 'running'); // 4 blocks still to come
    const short = request('p', 1, { promptLength: 16 })[0];
    const afterShort = request('p', 2, { promptLength: 96 })[0];
    a.queues.running.push(long);
    a.queues.waiting.push(short, afterShort);
    const { plan, rows } = a.step(64);
    a.admission.admitWaiting(plan, new Set());
    // short's 1 block fits beside long's 4 owed (6 free); afterShort's 6 do not beside 4 + 1 owed.
    expect(rows).toEqual([['p-1', 16]]);
    expect(a.queues.running).toEqual([long, short]);
    expect(a.queues.waiting).toEqual([afterShort]);
  });
});
