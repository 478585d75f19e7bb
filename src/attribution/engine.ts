/**
 * The engine an attribution run scores with: a backend (CPU reference or WebGPU), the adapter made
 * resident in a slot before any request is queued (so batch composition, and with it every
 * floating-point sum, does not depend on load timing), and a scheduler sized so that a base and an
 * adapter request of the longest sequence fit in one step.
 */
import type { BackendChoice } from '../engine/chooseBackend.ts';
import { dirname, resolve } from 'node:path';
import type { Backend } from '../engine/backend.ts';
import { createHostCache } from '../lora/hostCache.ts';
import { createSlotManager, type SlotManager } from '../lora/slots.ts';
import { createAdapterStore } from '../lora/store.ts';
import type { LoadedModel } from '../model/load.ts';
import { createBackend } from '../node/backend.ts';
import { createScheduler, type Scheduler } from '../scheduler/scheduler.ts';

/** Parameters of {@link createScoringEngine}. */
export interface CreateScoringEngineParameters {
  model: LoadedModel;
  /** Adapter directory (PEFT layout). */
  adapter: string;
  /** Default `cpu` (the WebGPU engine takes adapters once its LoRA kernels land). */
  backend?: BackendChoice;
  /** Longest sequence that will be scored. */
  maxSequenceTokens: number;
  /** Rows per engine step; default `2 * maxSequenceTokens` (one base + one adapter sequence). */
  maxBatchTokens?: number;
  /** Sequences running at once; default 8. */
  maxRunning?: number;
  /** Existing backend to use instead of creating one (not destroyed by `close`). */
  existingBackend?: Backend;
  signal?: AbortSignal;
}

/** A ready scoring engine. */
export interface ScoringEngine {
  backend: Backend;
  scheduler: Scheduler;
  slots: SlotManager;
  /** Content id of the resident adapter. */
  adapterId: `0x${string}`;
  adapterRank: number;
  /** Stops the scheduler and frees the backend. */
  close(): Promise<void>;
}

/** Builds backend, adapter tiers and scheduler, and loads the adapter into a slot. */
export async function createScoringEngine(p: CreateScoringEngineParameters): Promise<ScoringEngine> {
  const config = p.model.config;
  const store = createAdapterStore({ dir: dirname(resolve(p.adapter)), config });
  const entry = await store.register({ path: resolve(p.adapter), signal: p.signal }); // validates shapes against the base model
  const maxRunning = p.maxRunning ?? 8;
  const blocksPerSeq = Math.ceil(p.maxSequenceTokens / 16);
  const own = !p.existingBackend;
  const backend = p.existingBackend ?? (await createBackend({ model: p.model, kind: p.backend ?? 'cpu', numKvBlocks: blocksPerSeq * (maxRunning + 1) + maxRunning, loraSlots: 2, maxLoraRank: Math.max(8, entry.rank), signal: p.signal })).backend;
  const hostCache = createHostCache({ load: (id, signal) => store.load(id, signal) });
  const slots = createSlotManager({ pool: backend.lora, store, hostCache });
  try {
    await slots.load(entry.id, p.signal);
  } catch (error) {
    slots.stop();
    if (own) backend.destroy();
    throw error;
  }
  const scheduler = createScheduler(
    { maxBatchTokens: p.maxBatchTokens ?? 2 * p.maxSequenceTokens, maxRunning, maxWaiting: Number.MAX_SAFE_INTEGER, maxContext: p.maxSequenceTokens },
    { backend, adapters: slots },
  );
  return {
    backend,
    scheduler,
    slots,
    adapterId: entry.id,
    adapterRank: entry.rank,
    async close() {
      await scheduler.stop();
      slots.stop();
      if (own) backend.destroy();
    },
  };
}
