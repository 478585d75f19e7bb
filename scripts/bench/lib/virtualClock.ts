/**
 * Simulated engine time for scheduler benchmarks: each engine step costs `stepMs(rows)` of virtual
 * time and returns its tokens at once, so latencies measure the scheduler's decisions alone, not
 * the other processes sharing the machine (on a loaded machine a real step's time is mostly theirs).
 * Timers (arrivals) wait on the same clock; while the scheduler has nothing to do, the clock jumps to
 * the next timer.
 */
import type { Backend, StepOutput } from '../../../src/engine/backend.ts';

export interface VirtualClock {
  /** Virtual ms since the start. */
  now(): number;
  /** Resolves when the clock reaches `at`. */
  at(at: number): Promise<void>;
  /** `backend` with its steps simulated on this clock (a token, id 1, for every sampled row). */
  engine(backend: Backend): Backend;
  /** Virtual ms the last step cost. */
  readonly lastStepMs: number;
  /** While `busy()` is false, jumps the clock to the next timer; returns how to stop. */
  idle(busy: () => boolean): () => void;
}

/** A clock on which a step of `rows` rows costs `stepMs(rows)` virtual ms. */
export function createVirtualClock(stepMs: (rows: number) => number): VirtualClock {
  let clock = 0;
  let last = 0;
  const timers: { at: number; resolve: () => void }[] = []; // sorted by `at`
  const advance = (to: number) => {
    clock = Math.max(clock, to);
    while (timers.length > 0 && timers[0].at <= clock) timers.shift()!.resolve();
  };
  return {
    now: () => clock,
    get lastStepMs() {
      return last;
    },
    at(at) {
      if (at <= clock) return Promise.resolve();
      return new Promise((resolve) => {
        const i = timers.findIndex((t) => t.at > at);
        timers.splice(i < 0 ? timers.length : i, 0, { at, resolve });
      });
    },
    engine(backend) {
      return Object.create(backend, {
        step: {
          value: async (sequences: readonly { tokens: readonly number[]; sample?: unknown }[]): Promise<StepOutput[]> => {
            last = stepMs(sequences.reduce((n, s) => n + s.tokens.length, 0));
            advance(clock + last);
            return sequences.map((s) => (s.sample ? { token: 1, logprob: 0 } : {}));
          },
        },
      }) as Backend;
    },
    idle(busy) {
      let stopped = false;
      const tick = () => {
        if (stopped) return;
        if (!busy() && timers.length > 0) advance(timers[0].at);
        setImmediate(tick);
      };
      setImmediate(tick);
      return () => (stopped = true);
    },
  };
}
