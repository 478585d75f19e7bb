import { KV_BLOCK_SIZE, type Backend, type StepOutput, type StepSequence } from '../engine/backend.ts';
import { createLogger } from '../log.ts';
import { BlockAllocator, blocksFor } from './blocks.ts';
import { SchedulerAdapterUnavailableError, SchedulerQueueFullError, SchedulerRequestTooLargeError, SchedulerStoppedError } from './errors.ts';
import { finish, type PlannedRows, type Sequence } from './sequence.ts';
import { EventStream } from './stream.ts';
import type { AdapterResidency, GenerationEvent, GenerationRequest, SchedulerStats } from './types.ts';

export interface SchedulerOptions {
  /** Rows (tokens) one step may run: decode rows plus prefill chunks. Default 512. */
  maxBatchTokens?: number;
  /** Sequences running at once. Default 64. */
  maxRunning?: number;
  /** Requests waiting at most; more are refused with `SchedulerQueueFullError`. Default 1024. */
  maxWaiting?: number;
  /** Context length; default the model's `maxPositionEmbeddings`. */
  maxContext?: number;
  /** Queued requests whose adapters are prefetched ahead. Default 8. */
  prefetchDepth?: number;
}

export interface SchedulerComponents {
  backend: Backend;
  /** Needed only when requests name adapters. */
  adapters?: AdapterResidency;
  /** Told after each engine step (metrics): sequences and rows it ran, and how long it took. */
  onStep?: (step: { sequences: number; rows: number; seconds: number }) => void;
}

/** A continuous-batching scheduler over one backend. */
export interface Scheduler {
  /** Queues a request; its events arrive on the returned stream. Throws at once when it can never fit or the queue is full. */
  submit(request: GenerationRequest): AsyncIterable<GenerationEvent>;
  stats(): SchedulerStats;
  /** Fails every request still queued or running with `SchedulerStoppedError` and waits for the step in flight. */
  stop(): Promise<void>;
}

/**
 * Continuous batching (Orca, vLLM): each step runs one decode row per running sequence plus
 * prefill chunks of others under a token budget; sequences join and leave between steps. KV blocks
 * come from a pool; when it runs dry the latest-arrived running sequence is preempted and later
 * recomputed (its generated tokens are kept and re-prefilled, and seeded sampling makes the rest
 * identical). Waiting requests are admitted first come, first served among those whose adapter is
 * resident; adapters of queued requests are prefetched (LoRAX), so a cold adapter delays only its
 * own requests.
 */
export function createScheduler(options: SchedulerOptions, components: SchedulerComponents): Scheduler {
  const { backend, adapters } = components;
  const log = createLogger({ name: 'scheduler' });
  const maxBatchTokens = options.maxBatchTokens ?? 512;
  const maxRunning = options.maxRunning ?? 64;
  const maxWaiting = options.maxWaiting ?? 1024;
  const maxContext = Math.min(options.maxContext ?? backend.config.maxPositionEmbeddings, backend.config.maxPositionEmbeddings);
  const prefetchDepth = options.prefetchDepth ?? 8;
  const blocks = new BlockAllocator(backend.numKvBlocks);
  const waiting: Sequence[] = [];
  const running: Sequence[] = [];
  const counters = { steps: 0, tokensGenerated: 0, tokensPrefilled: 0, preemptions: 0 };
  let nextOrder = 0;
  let stopped = false;
  let wake: (() => void) | undefined;
  let inFlight = new Set<Sequence>();
  let loop: Promise<void> | undefined;

  adapters?.onLoaded(() => kick());

  function kick(): void {
    const w = wake;
    wake = undefined;
    w?.();
    loop ??= run().finally(() => (loop = undefined));
  }

  function release(seq: Sequence): void {
    blocks.free(seq.blockTable);
    seq.blockTable = [];
    seq.computed = 0;
    if (seq.pinned && seq.request.adapterId) adapters?.release(seq.request.adapterId);
    seq.pinned = false;
    seq.slot = -1;
  }

  function end(seq: Sequence, reason: 'stop' | 'length' | 'cancelled'): void {
    remove(waiting, seq);
    remove(running, seq);
    release(seq);
    finish(seq, reason, performance.now());
  }

  function fail(seq: Sequence, error: unknown): void {
    remove(waiting, seq);
    remove(running, seq);
    release(seq);
    seq.state = 'finished';
    seq.stream.fail(error);
  }

  function cancel(seq: Sequence): void {
    if (seq.state === 'finished') return;
    if (inFlight.has(seq)) {
      seq.cancelRequested = true; // the device is using its blocks; freed when the step returns
      return;
    }
    end(seq, 'cancelled');
    kick();
  }

  function preempt(seq: Sequence): void {
    remove(running, seq);
    release(seq);
    seq.state = 'waiting';
    seq.preemptions++;
    counters.preemptions++;
    insertByOrder(waiting, seq);
    log.debug({ id: seq.id, generated: seq.generated }, 'preempted (recompute)');
  }

  /** Ensures `seq` has blocks for `positions` positions, preempting later sequences if needed. */
  function reserve(seq: Sequence, positions: number, scheduled: Set<Sequence>): boolean {
    const need = blocksFor(positions, KV_BLOCK_SIZE) - seq.blockTable.length;
    if (need <= 0) return true;
    for (;;) {
      const got = blocks.allocate(need);
      if (got) {
        seq.blockTable.push(...got);
        return true;
      }
      const victim = [...running].reverse().find((s) => s !== seq && !scheduled.has(s) && s.order > seq.order);
      if (!victim) return false;
      preempt(victim);
    }
  }

  function admit(seq: Sequence): boolean {
    const adapterId = seq.request.adapterId;
    if (adapterId) {
      if (!adapters) {
        fail(seq, new SchedulerAdapterUnavailableError(adapterId, new Error('this scheduler has no adapter residency manager')));
        return false;
      }
      const state = adapters.acquire(adapterId);
      if ('error' in state) {
        fail(seq, new SchedulerAdapterUnavailableError(adapterId, state.error));
        return false;
      }
      if ('pending' in state) return false;
      seq.slot = state.slot;
      seq.pinned = true;
    }
    remove(waiting, seq);
    running.push(seq);
    running.sort((a, b) => a.order - b.order);
    seq.state = 'running';
    seq.startedAt ??= performance.now();
    return true;
  }

  function plan(): PlannedRows[] {
    const planned: PlannedRows[] = [];
    const scheduled = new Set<Sequence>();
    let budget = maxBatchTokens;
    const add = (seq: Sequence, count: number) => {
      const last = seq.computed + count === seq.tokens.length;
      const step: StepSequence = {
        tokens: seq.tokens.slice(seq.computed, seq.computed + count),
        startPos: seq.computed,
        blockTable: seq.blockTable.slice(),
        adapterSlot: seq.slot,
      };
      if (seq.kind === 'generate' && last) step.sample = { ...seq.request.sampling, step: seq.generated };
      if (seq.kind === 'score') {
        step.targets = Array.from({ length: count }, (_, i) => seq.tokens[seq.computed + i + 1] ?? 0);
      }
      planned.push({ seq, count, step });
      scheduled.add(seq);
      budget -= count;
    };
    // 1. Decode rows of running sequences (oldest first), then continuing prefills.
    for (const seq of running.slice()) { // slice: preemption edits `running`
      if (seq.state !== 'running' || budget <= 0) continue;
      const remaining = seq.tokens.length - seq.computed;
      const count = Math.min(remaining, budget);
      if (!reserve(seq, seq.computed + count, scheduled)) {
        if (scheduled.size === 0 && running.length === 1) {
          // Cannot happen for admitted requests (submit checks the pool), but never spin.
          fail(seq, new SchedulerRequestTooLargeError({ promptTokens: seq.promptLength, maxTokens: seq.request.maxTokens, limit: blocks.capacity * KV_BLOCK_SIZE, what: 'KV cache' }));
        } else {
          preempt(seq);
        }
        continue;
      }
      add(seq, count);
    }
    // 2. Admit waiting requests first come, first served, while budget, slots and blocks last.
    for (const seq of waiting.slice()) { // slice: admission edits `waiting`
      if (budget <= 0 || running.length >= maxRunning) break;
      const count = Math.min(seq.tokens.length - seq.computed, budget);
      // Keep one free block per running sequence so decodes do not preempt what we admit now.
      const need = blocksFor(count, KV_BLOCK_SIZE);
      if (blocks.numFree - need < running.length) break;
      if (!admit(seq)) continue;
      if (!reserve(seq, count, scheduled)) {
        preempt(seq);
        break;
      }
      add(seq, count);
    }
    // 3. Prefetch the adapters of the next queued requests.
    if (adapters) {
      for (const seq of waiting.slice(0, prefetchDepth)) if (seq.request.adapterId) adapters.prefetch(seq.request.adapterId);
    }
    return planned;
  }

  function apply(rows: PlannedRows, output: StepOutput): void {
    const { seq, count } = rows;
    seq.computed += count;
    counters.tokensPrefilled += count > 1 || seq.computed <= seq.promptLength ? count : 0;
    if (seq.kind === 'score') {
      if (output.targetLogprobs) {
        seq.scores ??= new Float32Array(Math.max(0, seq.promptLength - 1));
        const from = seq.computed - count;
        for (let i = 0; i < count; i++) if (from + i < seq.scores.length) seq.scores[from + i] = output.targetLogprobs[i];
      }
      if (seq.computed === seq.tokens.length) end(seq, 'stop');
      return;
    }
    if (output.token === undefined) return; // a non-final prefill chunk
    const now = performance.now();
    seq.firstTokenAt ??= now;
    seq.tokens.push(output.token);
    seq.generated++;
    counters.tokensGenerated++;
    if (seq.request.stopTokenIds?.includes(output.token)) return end(seq, 'stop');
    seq.stream.push({ type: 'token', token: output.token, logprob: output.logprob ?? Number.NaN, index: seq.generated - 1 });
    if (seq.generated >= seq.request.maxTokens || seq.tokens.length >= maxContext) end(seq, 'length');
  }

  async function run(): Promise<void> {
    while (!stopped) {
      const planned = plan();
      if (planned.length === 0) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      inFlight = new Set(planned.map((p) => p.seq));
      let outputs: StepOutput[];
      const stepStarted = performance.now();
      try {
        outputs = await backend.step(planned.map((p) => p.step));
      } catch (error) {
        log.error({ err: error, sequences: planned.length }, 'engine step failed; failing its requests');
        inFlight = new Set();
        for (const p of planned) fail(p.seq, error);
        continue;
      }
      inFlight = new Set();
      counters.steps++;
      components.onStep?.({ sequences: planned.length, rows: planned.reduce((n, p) => n + p.step.tokens.length, 0), seconds: (performance.now() - stepStarted) / 1000 });
      for (let i = 0; i < planned.length; i++) {
        const { seq } = planned[i];
        if (seq.state !== 'running') continue;
        if (seq.cancelRequested) {
          end(seq, 'cancelled');
          continue;
        }
        apply(planned[i], outputs[i]);
      }
      // Let I/O (new requests, disconnects, stream consumers) run between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  return {
    submit(request) {
      if (stopped) throw new SchedulerStoppedError();
      const kind = request.kind ?? 'generate';
      const total = request.promptIds.length + (kind === 'generate' ? request.maxTokens : 0);
      if (total > maxContext) throw new SchedulerRequestTooLargeError({ promptTokens: request.promptIds.length, maxTokens: request.maxTokens, limit: maxContext, what: 'context length' });
      if (blocksFor(total, KV_BLOCK_SIZE) > blocks.capacity) {
        throw new SchedulerRequestTooLargeError({ promptTokens: request.promptIds.length, maxTokens: request.maxTokens, limit: blocks.capacity * KV_BLOCK_SIZE, what: 'KV cache' });
      }
      if (waiting.length >= maxWaiting) throw new SchedulerQueueFullError({ queued: waiting.length, limit: maxWaiting, retryAfterMs: 1000 });
      const order = nextOrder++;
      let seq: Sequence;
      const stream = new EventStream<GenerationEvent>(() => cancel(seq));
      seq = {
        id: request.id ?? `req-${order}`,
        request,
        kind,
        order,
        stream,
        promptLength: request.promptIds.length,
        tokens: Array.from(request.promptIds),
        computed: 0,
        blockTable: [],
        slot: -1,
        pinned: false,
        generated: 0,
        state: 'waiting',
        cancelRequested: false,
        preemptions: 0,
        arrivedAt: performance.now(),
        startedAt: null,
        firstTokenAt: null,
      };
      if (request.signal?.aborted) {
        finish(seq, 'cancelled', performance.now());
        return stream;
      }
      request.signal?.addEventListener('abort', () => cancel(seq), { once: true });
      if (kind === 'generate' && request.maxTokens <= 0) {
        finish(seq, 'length', performance.now());
        return stream;
      }
      waiting.push(seq);
      kick();
      return stream;
    },
    stats() {
      return { waiting: waiting.length, running: running.length, kvBlocksTotal: blocks.capacity, kvBlocksFree: blocks.numFree, ...counters };
    },
    async stop() {
      stopped = true;
      const w = wake;
      wake = undefined;
      w?.();
      await loop;
      for (const seq of [...waiting, ...running]) fail(seq, new SchedulerStoppedError());
    },
  };
}

function remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

function insertByOrder(list: Sequence[], seq: Sequence): void {
  const i = list.findIndex((s) => s.order > seq.order);
  if (i < 0) list.push(seq);
  else list.splice(i, 0, seq);
}
