import { describe, expect, it } from 'vitest';
import { queueVictim } from '../../src/scheduler/queueBound.ts';
import type { Sequence } from '../../src/scheduler/sequence.ts';

/** A one-choice request's sequence as queueVictim sees it. */
function seq(payer: string, order: number, o: { computed?: number; generated?: number; state?: Sequence['state'] } = {}): Sequence {
  const group = { payer, prefix: undefined, choices: [] as Sequence[] };
  const s = { id: `${payer}-${order}`, order, computed: o.computed ?? 0, generated: o.generated ?? 0, state: o.state ?? 'waiting', group } as unknown as Sequence;
  group.choices.push(s);
  return s;
}

describe('who gives way when the queue is full', () => {
  it('the newest request of the payer with the most waiting that has not started', () => {
    const waiting = [seq('heavy', 1), seq('heavy', 2), seq('heavy', 3), seq('light', 4)];
    expect(queueVictim(waiting, 'light', 1)?.id).toBe('heavy-3');
    expect(queueVictim(waiting, 'heavy', 1)).toBeUndefined(); // the flooding payer's own new request is refused
  });

  it('never a request that streamed tokens: paused (KV kept) or preempted (recomputed, KV gone), nor one with a choice finished', () => {
    const paused = seq('heavy', 3, { computed: 40, generated: 8 });
    const preempted = seq('heavy', 2, { computed: 0, generated: 5 });
    expect(queueVictim([seq('heavy', 1), preempted, paused, seq('light', 4)], 'light', 1)?.id).toBe('heavy-1');
    // A two-choice request whose first choice ended (a stop string) while the second waits.
    const ended = seq('heavy', 5, { state: 'finished', generated: 3 });
    const second = { ...seq('heavy', 5), id: 'heavy-5/1', group: ended.group } as Sequence;
    ended.group.choices.push(second);
    expect(queueVictim([preempted, paused, second, seq('light', 4)], 'light', 1)).toBeUndefined();
  });
});
