import type { Sequence } from './sequence.ts';

/**
 * Who gives way when the queue is full and `payer` adds `adding` sequences: the newest queued
 * request of the payer with the most waiting, if that is another payer who would still have more
 * waiting than `payer` and the request has not started (no sequence of it running, computed or
 * with a token generated: a paused or preempted request has streamed tokens already).
 * Undefined: the new request itself is refused. One payer flooding the queue so loses its own
 * newest requests rather than locking the others out.
 */
export function queueVictim(waiting: readonly Sequence[], payer: string, adding: number): Sequence | undefined {
  const per = new Map<string, number>();
  for (const s of waiting) per.set(s.group.payer, (per.get(s.group.payer) ?? 0) + 1);
  let heaviest: string | undefined;
  for (const [p, n] of per) if (heaviest === undefined || n > per.get(heaviest)!) heaviest = p;
  if (heaviest === undefined || heaviest === payer || (per.get(payer) ?? 0) + adding >= per.get(heaviest)!) return undefined;
  const unstarted = (s: Sequence) => [s.group.prefix, ...s.group.choices].every((x) => !x || (x.computed === 0 && x.generated === 0 && (x.state === 'waiting' || x.state === 'blocked')));
  return waiting.filter((s) => s.group.payer === heaviest && unstarted(s)).sort((a, b) => b.order - a.order)[0];
}
