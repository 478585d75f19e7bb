/**
 * Per-payer fairness: the Virtual Token Counter of "Fairness in Serving Large Language Models"
 * (Sheng et al., OSDI 2024). Each payer has a counter of the service it received, weighted tokens
 * (`promptWeight` per prompt token computed, `completionWeight` per token generated); the scheduler
 * admits the waiting request of the payer with the smallest counter. A payer that becomes active
 * (nothing queued or running) is lifted to the smallest counter among active payers, so idling
 * earns no credit. Under overload each backlogged payer then gets an equal share of weighted
 * tokens, however many requests it sends; a payer below its share is served as it asks.
 *
 * `fifo` keeps arrival order (the old behaviour). Payers are whatever the API verified (a channel,
 * an API key, else a client address); requests without one share the payer `anonymous`.
 */

/** Fairness settings (config `engine.fairness`). */
export interface FairnessOptions {
  /** `vtc` (default) or `fifo`. */
  policy?: 'vtc' | 'fifo';
  /** Counter units per prompt token computed; default {@link FAIRNESS_DEFAULTS}.promptWeight. */
  promptWeight?: number;
  /** Counter units per generated token; default {@link FAIRNESS_DEFAULTS}.completionWeight. */
  completionWeight?: number;
  /** vtc: while every slot is taken, a payer running at least two sequences fewer than another takes one of its slots (`fairSlots.ts`); default {@link FAIRNESS_DEFAULTS}.preempt. */
  preempt?: boolean;
}

/** The paper's weights (a generated token costs about twice a prompt token to serve). */
export const FAIRNESS_DEFAULTS = { policy: 'vtc', promptWeight: 1, completionWeight: 2, preempt: true } as const;

/** Idle payers whose counters are remembered (LRU); beyond it the oldest idle one is forgotten. */
const IDLE_PAYERS_KEPT = 10_000;

/** Seconds over which a payer's recent rate is averaged (exponential decay). */
const RATE_SECONDS = 30;

/** One payer as the operator sees it. */
export interface PayerShare {
  payer: string;
  /** Virtual counter (weighted tokens, lifted on arrival). */
  counter: number;
  /** Sequences waiting and running now. */
  waiting: number;
  running: number;
  promptTokens: number;
  completionTokens: number;
  /** Recent weighted tokens per second, and its fraction of every payer's. */
  rate: number;
  share: number;
}

/** Counters of every payer. */
export interface PayerLedger {
  readonly policy: 'vtc' | 'fifo';
  /** A sequence of `payer` enters the scheduler (lifts an idle payer). */
  enter(payer: string): void;
  /** A sequence of `payer` leaves the scheduler. */
  leave(payer: string): void;
  /** Counts served tokens. */
  charge(payer: string, promptTokens: number, completionTokens: number): void;
  /** Orders two waiting requests: negative when `a`'s payer goes first. */
  compare(a: { payer: string; order: number }, b: { payer: string; order: number }): number;
  /** Every payer with requests in the scheduler or served recently, largest share first. */
  shares(live: (payer: string) => { waiting: number; running: number }): PayerShare[];
}

interface Payer {
  counter: number;
  active: number;
  promptTokens: number;
  completionTokens: number;
  rate: number;
  rateAt: number;
}

/** Creates the payer ledger. */
export function createPayerLedger(options: FairnessOptions = {}): PayerLedger {
  const policy = options.policy ?? FAIRNESS_DEFAULTS.policy;
  const wp = options.promptWeight ?? FAIRNESS_DEFAULTS.promptWeight;
  const wq = options.completionWeight ?? FAIRNESS_DEFAULTS.completionWeight;
  const payers = new Map<string, Payer>(); // idle ones in least recently active order first
  const decayed = (p: Payer, now: number) => p.rate * Math.exp(-(now - p.rateAt) / (RATE_SECONDS * 1000));
  const get = (id: string): Payer => {
    let p = payers.get(id);
    if (!p) payers.set(id, (p = { counter: 0, active: 0, promptTokens: 0, completionTokens: 0, rate: 0, rateAt: performance.now() }));
    return p;
  };
  return {
    policy,
    enter(id) {
      const p = get(id);
      if (p.active === 0) {
        let floor = Infinity;
        for (const q of payers.values()) if (q !== p && q.active > 0) floor = Math.min(floor, q.counter);
        if (floor !== Infinity) p.counter = Math.max(p.counter, floor);
      }
      p.active++;
    },
    leave(id) {
      const p = payers.get(id);
      if (!p) return;
      p.active--;
      if (p.active === 0) {
        payers.delete(id); // re-inserted last: the map's order is idleness
        payers.set(id, p);
        if (payers.size > IDLE_PAYERS_KEPT) {
          for (const [key, q] of payers) {
            if (q.active === 0) {
              payers.delete(key);
              break;
            }
          }
        }
      }
    },
    charge(id, promptTokens, completionTokens) {
      const p = get(id);
      const units = wp * promptTokens + wq * completionTokens;
      p.counter += units;
      p.promptTokens += promptTokens;
      p.completionTokens += completionTokens;
      const now = performance.now();
      p.rate = decayed(p, now) + units / RATE_SECONDS;
      p.rateAt = now;
    },
    compare(a, b) {
      if (policy === 'vtc' && a.payer !== b.payer) {
        const d = (payers.get(a.payer)?.counter ?? 0) - (payers.get(b.payer)?.counter ?? 0);
        if (d !== 0) return d;
      }
      return a.order - b.order;
    },
    shares(live) {
      const now = performance.now();
      const list = [...payers].map(([payer, p]) => ({ payer, counter: p.counter, ...live(payer), promptTokens: p.promptTokens, completionTokens: p.completionTokens, rate: decayed(p, now), share: 0 }));
      const total = list.reduce((s, x) => s + x.rate, 0);
      for (const x of list) x.share = total > 0 ? x.rate / total : 0;
      return list.sort((a, b) => b.share - a.share || a.payer.localeCompare(b.payer));
    },
  };
}
