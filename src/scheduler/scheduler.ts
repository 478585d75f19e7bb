import { KV_BLOCK_SIZE, type Backend, type StepOutput, type StepSequence } from '../engine/backend.ts';
import { createLogger } from '../log.ts';
import { BlockAllocator, blocksFor } from './blocks.ts';
import { admissionOrder, createAdmission } from './admission.ts';
import { SchedulerQueueFullError, SchedulerRequestTooLargeError, SchedulerStoppedError } from './errors.ts';
import { createPayerLedger, FAIRNESS_DEFAULTS, type FairnessOptions, type PayerShare } from './fairness.ts';
import type { PagePool } from './memory.ts';
import { checkPrefetchOptions, prefetchAdapters, PREFETCH_DEFAULTS } from './prefetch.ts';
import { createReservation } from './reserve.ts';
import { finish, insertByOrder, newSequence, remove, sampleRow, type Group, type PlannedRows, type Sequence } from './sequence.ts';
import { queueVictim } from './queueBound.ts';
import { EventStream } from './stream.ts';
import type { AdapterResidency, GenerationEvent, GenerationRequest, SchedulerStats } from './types.ts';

export interface SchedulerOptions {
  /** Rows (tokens) one step may run: decode rows plus prefill chunks. Default 512. */
  maxBatchTokens?: number;
  /** Sequences running at once. Default 64. */
  maxRunning?: number;
  /** Sequences waiting at most; beyond it the payer with the most waiting loses its newest request (or the new one is refused), `SchedulerQueueFullError`. Default 1024. */
  maxWaiting?: number;
  /** Context length; default the model's `maxPositionEmbeddings`. */
  maxContext?: number;
  /** Queued requests whose adapters are prefetched ahead, in admission order (`prefetch.ts`). Default {@link PREFETCH_DEFAULTS}.depth; 0: none. */
  prefetchDepth?: number;
  /** Unified memory: the fraction of the budget prefetch leaves free (beyond the running sequences' next KV blocks). Default {@link PREFETCH_DEFAULTS}.headroom. */
  prefetchHeadroom?: number;
  /** Who is admitted first (per-payer virtual token counters by default). */
  fairness?: FairnessOptions;
}

export interface SchedulerComponents {
  backend: Backend;
  /** Needed only when requests name adapters. */
  adapters?: AdapterResidency;
  /** Told after each engine step (metrics): sequences and rows it ran, and how long it took. */
  onStep?: (step: { sequences: number; rows: number; seconds: number }) => void;
  /** Unified memory: KV blocks take pages of this budget, shared with the adapters (`memory.ts`). */
  pages?: PagePool;
  /** The clock requests' timings are read from, ms (default `performance.now`; a benchmark simulating the engine's time passes its own). */
  now?: () => number;
}

/** A request's events; leaving the loop early cancels the request. */
export interface GenerationStream extends AsyncIterable<GenerationEvent> {
  /** Ends one choice (its `done` event says `cancelled`), the others go on. */
  cancel(choice: number): void;
}

/** A continuous-batching scheduler over one backend. */
export interface Scheduler {
  /** Queues a request; its events arrive on the returned stream. Throws at once when it can never fit or the queue is full. */
  submit(request: GenerationRequest): GenerationStream;
  stats(): SchedulerStats;
  /** Each payer's counter and recent share of the engine. */
  payers(): PayerShare[];
  /** The fairness policy in force. */
  readonly fairness: 'vtc' | 'fifo';
  /** Whether a payer below its share of the running slots takes one (`fairSlots.ts`). */
  readonly fairSlots: boolean;
  /** Fails every request still queued or running with `SchedulerStoppedError` and waits for the step in flight. */
  stop(): Promise<void>;
}

/** Most choices one request may ask for (OpenAI `n`). */
export const MAX_CHOICES = 8;

/**
 * Continuous batching (Orca, vLLM): each step runs one decode row per running sequence plus
 * prefill chunks of others under a token budget; sequences join and leave between steps. KV blocks
 * come from a pool; when it runs dry the latest-arrived running sequence is preempted and later
 * recomputed (its generated tokens are kept and re-prefilled, and seeded sampling makes the rest
 * identical). Waiting requests are admitted by payer fairness (`fairness.ts`), arrival order within
 * a payer, among those whose adapter is resident; adapters of queued requests are prefetched
 * (LoRAX; with unified memory, into pages no running or admissible request needs, `prefetch.ts`),
 * so a cold adapter delays only its own requests; the adapter tier learns where each
 * queued adapter is first needed, so it evicts those needed furthest back. A request's choices share its prompt's
 * whole KV blocks (`sequence.ts`). Before each draw a constrained sequence's grammar gives the
 * token mask, and the logit bias and penalties are folded into one sparse list per row.
 */
export function createScheduler(options: SchedulerOptions, components: SchedulerComponents): Scheduler {
  const { backend, adapters } = components;
  const now = components.now ?? (() => performance.now());
  const log = createLogger({ name: 'scheduler' });
  const maxBatchTokens = options.maxBatchTokens ?? 512;
  const maxRunning = options.maxRunning ?? 64;
  const maxWaiting = options.maxWaiting ?? 1024;
  const maxContext = Math.min(options.maxContext ?? backend.config.maxPositionEmbeddings, backend.config.maxPositionEmbeddings);
  const prefetch = { depth: options.prefetchDepth ?? PREFETCH_DEFAULTS.depth, headroom: options.prefetchHeadroom ?? PREFETCH_DEFAULTS.headroom };
  checkPrefetchOptions(prefetch);
  const blocks = new BlockAllocator(backend.numKvBlocks, components.pages);
  const payers = createPayerLedger(options.fairness);
  const fairPreempt = payers.policy === 'vtc' && (options.fairness?.preempt ?? FAIRNESS_DEFAULTS.preempt);
  const waiting: Sequence[] = [];
  const running: Sequence[] = [];
  const counters = { steps: 0, tokensGenerated: 0, tokensPrefilled: 0, preemptions: 0, pauses: 0, tokensShared: 0, stalledSeconds: 0 };
  const promptCharged = new WeakMap<Sequence, number>();
  let nextOrder = 0;
  let stopped = false;
  let wake: (() => void) | undefined;
  let inFlight = new Set<Sequence>();
  let loop: Promise<void> | undefined;

  const queues = { waiting, running };
  const reservation = createReservation({ queues, blocks, adapters, admitsBefore: admissionOrder(payers), counters, now, log });
  const admission = createAdmission({ queues, blocks, payers, reservation, adapters, pages: components.pages, maxRunning, fairSlots: fairPreempt, counters, fail, now, log });

  adapters?.onLoaded(() => kick());
  components.pages?.onFreed(() => kick());

  function kick(): void {
    const w = wake;
    wake = undefined;
    w?.();
    loop ??= run().finally(() => (loop = undefined));
  }

  function leave(seq: Sequence): void {
    remove(waiting, seq);
    remove(running, seq);
    reservation.release(seq);
    payers.leave(seq.group.payer);
  }

  function end(seq: Sequence, reason: 'stop' | 'length' | 'cancelled'): void {
    if (seq.state === 'finished') return;
    leave(seq);
    finish(seq, reason, now());
  }

  /** Fails the whole request: every sequence of its group leaves, the stream errors. */
  function fail(seq: Sequence, error: unknown): void {
    const { group } = seq;
    for (const s of [group.prefix, ...group.choices]) {
      if (!s || s.state === 'finished') continue;
      leave(s);
      s.state = 'finished';
    }
    group.prefix = undefined;
    group.stream.fail(error);
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

  function cancelGroup(group: Group): void {
    if (group.prefix) cancel(group.prefix);
    for (const s of group.choices) cancel(s);
  }

  function plan(): PlannedRows[] {
    const planned: PlannedRows[] = [];
    admission.order();
    // 0. Every slot taken: payers below their share of the slots take one from the payer running the most (`fairSlots.ts`).
    const heldBack = admission.pauseForFairSlots(); // not readmitted in this step: the slots are the waiting payers'
    const queued = waiting.length;
    const scheduled = new Set<Sequence>();
    const step = {
      budget: maxBatchTokens,
      scheduled,
      add(seq: Sequence, count: number) {
        const last = seq.computed + count === seq.tokens.length;
        const rows: StepSequence = {
          tokens: seq.tokens.slice(seq.computed, seq.computed + count),
          startPos: seq.computed,
          blockTable: seq.blockTable.slice(),
          adapterSlot: seq.slot,
        };
        if (seq.kind === 'generate' && last) {
          try {
            rows.sample = sampleRow(seq);
          } catch (error) {
            log.error({ err: error, id: seq.id }, 'the constraint failed; failing its request');
            fail(seq, error);
            return;
          }
        }
        if (seq.kind === 'score') rows.targets = Array.from({ length: count }, (_, i) => seq.tokens[seq.computed + i + 1] ?? 0);
        planned.push({ seq, count, step: rows });
        scheduled.add(seq);
        step.budget -= count;
      },
    };
    // 1. Decode rows of running sequences (oldest first), then continuing prefills.
    for (const seq of running.slice()) { // slice: preemption edits `running`
      if (seq.state !== 'running' || step.budget <= 0) continue;
      const remaining = seq.tokens.length - seq.computed;
      const count = Math.min(remaining, step.budget);
      if (!reservation.reserve(seq, seq.computed + count, scheduled)) {
        if (scheduled.size === 0 && running.length === 1) {
          // Cannot happen for admitted requests (submit checks the pool), but never spin.
          fail(seq, new SchedulerRequestTooLargeError({ promptTokens: seq.promptLength, maxTokens: seq.group.request.maxTokens, limit: blocks.capacity * KV_BLOCK_SIZE, what: 'KV cache' }));
        } else {
          reservation.preempt(seq);
        }
        continue;
      }
      step.add(seq, count);
    }
    // 2. Admit waiting requests, fairest first, while budget, slots and memory last (`admission.ts`).
    if (waiting.length !== queued) admission.order(); // decodes preempted some
    admission.admitWaiting(step, heldBack);
    // 3. Prefetch the adapters of the next queued requests, in admission order (`prefetch.ts`;
    // unified memory: into pages no running or admissible request needs).
    if (adapters && prefetch.depth > 0 && waiting.length > 0) {
      admission.order(); // where each queued adapter is now first needed, after this step's admissions
      prefetchAdapters({ queues, adapters, pages: components.pages, ...prefetch });
    }
    // Rows of one adapter next to each other: one LoRA segment per adapter in the step (SGMV).
    return planned.sort((a, b) => a.step.adapterSlot - b.step.adapterSlot);
  }

  /** A group's prefix computed the shared blocks: its choices start from them. */
  function fork(prefix: Sequence): void {
    const { group } = prefix;
    group.prefix = undefined;
    for (const choice of group.choices) {
      if (choice.state !== 'blocked') continue;
      choice.blockTable = prefix.blockTable.slice();
      blocks.retain(choice.blockTable);
      choice.computed = prefix.computed;
      promptCharged.set(choice, prefix.computed);
      choice.state = 'waiting';
      insertByOrder(waiting, choice);
      counters.tokensShared += prefix.computed;
    }
    counters.tokensShared -= prefix.computed; // one of them would have computed it anyway
    end(prefix, 'stop');
  }

  function apply(rows: PlannedRows, output: StepOutput): void {
    const { seq, count } = rows;
    const before = seq.computed;
    seq.computed += count;
    counters.tokensPrefilled += count > 1 || seq.computed <= seq.promptLength ? count : 0;
    // The payer is charged each prompt token once: recomputing after a preemption is the node's doing.
    const charged = promptCharged.get(seq) ?? 0;
    const newPrompt = Math.max(0, Math.min(seq.computed, seq.promptLength) - Math.max(before, charged));
    if (newPrompt > 0) {
      promptCharged.set(seq, Math.min(seq.computed, seq.promptLength));
      payers.charge(seq.group.payer, newPrompt, 0);
    }
    if (seq.kind === 'prefix') {
      if (seq.computed === seq.tokens.length) fork(seq);
      return;
    }
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
    const token = output.token;
    seq.firstTokenAt ??= now();
    seq.tokens.push(token);
    seq.generated++;
    seq.counts.set(token, (seq.counts.get(token) ?? 0) + 1);
    counters.tokensGenerated++;
    payers.charge(seq.group.payer, 0, 1);
    if (seq.group.request.stopTokenIds?.includes(token)) return end(seq, 'stop');
    try {
      seq.constraint?.accept(token);
    } catch (error) {
      log.error({ err: error, id: seq.id, token }, 'the constraint rejected a drawn token; failing its request');
      return fail(seq, error);
    }
    seq.group.stream.push({ type: 'token', choice: seq.choice, token, logprob: output.logprob ?? Number.NaN, index: seq.generated - 1, ...(output.top ? { top: output.top } : {}) });
    if (seq.generated >= seq.group.request.maxTokens || seq.tokens.length >= maxContext) end(seq, 'length');
  }

  async function run(): Promise<void> {
    while (!stopped) {
      const planned = plan();
      if (planned.length === 0) {
        const stalled = waiting.length > 0 ? performance.now() : undefined; // requests queued, none can run
        await new Promise<void>((resolve) => (wake = resolve));
        if (stalled !== undefined) counters.stalledSeconds += (performance.now() - stalled) / 1000;
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
        for (const p of planned) if (p.seq.state !== 'finished') fail(p.seq, error);
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

  /** Room for `adding` more waiting sequences: when full, the payer with the most waiting gives up its newest request. */
  function makeRoom(payer: string, adding: number): void {
    if (waiting.length + adding <= maxWaiting) return;
    const full = () => new SchedulerQueueFullError({ queued: waiting.length, limit: maxWaiting, retryAfterMs: 1000 });
    const newest = queueVictim(waiting, payer, adding);
    if (!newest) throw full();
    log.debug({ payer: newest.group.payer, id: newest.id }, 'queue full: dropped the newest request of the payer with the most waiting');
    fail(newest, full());
    if (waiting.length + adding > maxWaiting) makeRoom(payer, adding);
  }

  return {
    submit(request) {
      if (stopped) throw new SchedulerStoppedError();
      const kind = request.kind ?? 'generate';
      const n = kind === 'generate' ? (request.n ?? 1) : 1;
      if (!Number.isInteger(n) || n < 1 || n > MAX_CHOICES) throw new RangeError(`n ${n} must be an integer in [1, ${MAX_CHOICES}]`);
      const total = request.promptIds.length + (kind === 'generate' ? request.maxTokens : 0);
      if (total > maxContext) throw new SchedulerRequestTooLargeError({ promptTokens: request.promptIds.length, maxTokens: request.maxTokens, limit: maxContext, what: 'context length' });
      // Unified memory: its KV blocks and its adapter's pages must fit in the budget together.
      const adapterPages = components.pages && request.adapterId ? (adapters?.footprint?.(request.adapterId)?.pages ?? 0) : 0;
      const kvLimit = components.pages ? Math.min(blocks.capacity, components.pages.totalPages - adapterPages) : blocks.capacity;
      if (blocksFor(total, KV_BLOCK_SIZE) > kvLimit) {
        throw new SchedulerRequestTooLargeError({ promptTokens: request.promptIds.length, maxTokens: request.maxTokens, limit: Math.max(0, kvLimit) * KV_BLOCK_SIZE, what: adapterPages > 0 ? `memory budget left beside its adapter (${adapterPages} pages)` : 'KV cache' });
      }
      const payer = request.payer ?? 'anonymous';
      // Whole blocks of the prompt shared by the choices; each computes at least the prompt's last token itself.
      const shared = n > 1 ? Math.floor((request.promptIds.length - 1) / KV_BLOCK_SIZE) * KV_BLOCK_SIZE : 0;
      makeRoom(payer, n);
      const order = nextOrder++;
      const arrivedAt = now();
      const group: Group = { request, stream: new EventStream<GenerationEvent>(() => cancelGroup(group)), payer, choices: [], prefix: undefined, open: n };
      const id = request.id ?? `req-${order}`;
      const sequence = (choice: number, seqKind: Sequence['kind'], tokens: readonly number[]) =>
        newSequence({ group, id: seqKind === 'prefix' ? `${id}/prefix` : n > 1 ? `${id}/${choice}` : id, kind: seqKind, choice, order, tokens, arrivedAt });
      for (let c = 0; c < n; c++) group.choices.push(sequence(c, kind, request.promptIds));
      const handle: GenerationStream = {
        [Symbol.asyncIterator]: () => group.stream[Symbol.asyncIterator](),
        cancel: (choice) => {
          const s = group.choices[choice];
          if (s) cancel(s);
          if (group.prefix && group.choices.every((c) => c.state === 'finished')) cancel(group.prefix);
        },
      };
      if (request.signal?.aborted) {
        for (const s of group.choices) finish(s, 'cancelled', now());
        return handle;
      }
      request.signal?.addEventListener('abort', () => cancelGroup(group), { once: true });
      if (kind === 'generate' && request.maxTokens <= 0) {
        for (const s of group.choices) finish(s, 'length', now());
        return handle;
      }
      if (shared > 0) {
        group.prefix = sequence(0, 'prefix', request.promptIds.slice(0, shared));
        for (const s of group.choices) s.state = 'blocked';
        waiting.push(group.prefix);
        payers.enter(payer);
      } else waiting.push(...group.choices);
      for (let c = 0; c < n; c++) payers.enter(payer);
      kick();
      return handle;
    },
    stats() {
      const pages = components.pages;
      const memory = pages && { pageBytes: pages.pageBytes, totalPages: pages.totalPages, kvPages: pages.used('kv'), adapterPages: pages.used('adapter'), freePages: pages.free, wantedPages: pages.wanted };
      return { waiting: waiting.length, running: running.length, kvBlocksTotal: blocks.capacity, kvBlocksFree: blocks.numFree, ...counters, ...(memory ? { memory } : {}) };
    },
    fairness: payers.policy,
    fairSlots: fairPreempt,
    payers() {
      const live = new Map<string, { waiting: number; running: number }>();
      const count = (s: Sequence, key: 'waiting' | 'running') => {
        const entry = live.get(s.group.payer) ?? { waiting: 0, running: 0 };
        entry[key]++;
        live.set(s.group.payer, entry);
      };
      for (const s of waiting) count(s, 'waiting');
      for (const s of running) count(s, 'running');
      return payers.shares((payer) => live.get(payer) ?? { waiting: 0, running: 0 });
    },
    async stop() {
      stopped = true;
      const w = wake;
      wake = undefined;
      w?.();
      await loop;
      for (const seq of [...waiting, ...running]) if (seq.state !== 'finished') fail(seq, new SchedulerStoppedError());
    },
  };
}

