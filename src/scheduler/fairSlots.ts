/**
 * Fair shares of the running slots. Virtual token counters decide who is admitted next, but only
 * when a slot frees: a light payer arriving while a heavy payer holds every slot waits for one of
 * its requests to end, a whole request's time on a slow device (issue 18's goal is the light
 * payers' p99 latency within 2x of an unloaded node's). So while every slot is taken, the fairest
 * waiting request takes a slot from a payer that runs at least two sequences more than its own
 * payer and has been served no less (a payer arriving is lifted to the smallest active counter, so
 * a newcomer is level with a payer alone on the node): that payer's latest arrived running
 * sequence is paused. Of several such payers the one served most (its counter) gives the slot, not
 * the one running most: a light payer whose requests come in a burst holds more slots for a moment
 * than the heavy payer, and pausing it would add the pause to light requests' latency while the
 * heavy payer, served more, gives its slot as readily. A paused sequence waits again keeping its
 * KV blocks and adapter pin and resumes where it stopped, computing nothing twice (a recompute
 * would cost a CPU-bound node as much as the light payer's request: measured, it collapsed
 * throughput); when memory runs short, paused sequences give their blocks back first. Each swap
 * narrows the gap between the two payers' slots by two, so no pair of payers trades slots back
 * and forth. Only under `vtc`: `fifo` keeps arrival order.
 */
import type { Sequence } from './sequence.ts';

/** What the choice needs from the scheduler. */
export interface FairSlotsInput {
  running: readonly Sequence[];
  /** In admission order (fairest first). */
  waiting: readonly Sequence[];
  maxRunning: number;
  /** Whether payer `a` has been served more than payer `b` (the ledger's counters). */
  servedMore(a: string, b: string): boolean;
  /** Whether `seq` would be admitted now if it had a slot (its adapter resident); preempting for one that waits for a load frees a slot it cannot use. */
  ready(seq: Sequence): boolean;
}

/** The running sequences to pause so that waiting payers below their share of the slots get one now. */
export function fairSlotVictims(p: FairSlotsInput): Sequence[] {
  let free = p.maxRunning - p.running.length;
  const held = new Map<string, Sequence[]>();
  for (const s of p.running) {
    const list = held.get(s.group.payer);
    if (list) list.push(s);
    else held.set(s.group.payer, [s]);
  }
  const count = (payer: string) => held.get(payer)?.length ?? 0;
  const admitted = new Map<string, number>(); // slots waiting requests take in this plan, per payer
  const victims: Sequence[] = [];
  for (const w of p.waiting) {
    if (w.state !== 'waiting') continue;
    const payer = w.group.payer;
    const mine = count(payer) + (admitted.get(payer) ?? 0);
    if (free > 0) {
      free--;
      admitted.set(payer, (admitted.get(payer) ?? 0) + 1);
      continue;
    }
    // Whose slot: of the payers running at least two more than `payer` and not served less, the one served most (then the one running more).
    let top: string | undefined;
    for (const [q, list] of held) {
      if (q === payer || list.length < mine + 2 || p.servedMore(payer, q)) continue;
      if (top === undefined || p.servedMore(q, top) || (!p.servedMore(top, q) && list.length > count(top))) top = q;
    }
    if (top === undefined || !p.ready(w)) continue;
    const list = held.get(top)!;
    let victim = list[0];
    for (const s of list) if (s.order > victim.order || (s.order === victim.order && s.choice > victim.choice)) victim = s;
    list.splice(list.indexOf(victim), 1);
    victims.push(victim);
    admitted.set(payer, (admitted.get(payer) ?? 0) + 1);
  }
  return victims;
}
