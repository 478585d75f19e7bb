/**
 * What the operator page shows, read from the node's parts without changing them: build, engine,
 * live totals (the very numbers of `/metrics`, read back from its registry), adapters by tier.
 * Money and network views live in `statusMoney.ts` and `statusNetwork.ts`.
 */
import { PAYER_SHARE_SERIES, syncCounter, type NodeMetrics } from '../api/metrics.ts';
import type { NodeStatusReader } from '../api/context.ts';
import type { NodeStatus } from '../api/statusSchemas.ts';
import type { Network } from '../p2p/network.ts';
import { KV_BLOCK_SIZE, type Backend } from '../engine/backend.ts';
import type { WebGpuBackend } from '../engine/webgpu/backend.ts';
import type { HostCache } from '../lora/hostCache.ts';
import type { SlotManager } from '../lora/slots.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import { versionInfo } from '../version.ts';
import type { NodeAdapters } from './adapters.ts';
import { readMoneyStatus, type MoneyParts } from './statusMoney.ts';
import { readNetworkStatus } from './statusNetwork.ts';

/** Adapters listed in one status reading at most (the rest are counted in `adapters_total`). */
export const STATUS_MAX_ADAPTERS = 1000;

export interface NodeStatusParts {
  node: `0x${string}`;
  model: string;
  contextLength: number;
  paymentMode: 'open' | 'paid';
  p2p: boolean;
  startedAt: number;
  backend: Backend;
  scheduler: Scheduler;
  adapters: NodeAdapters;
  slots: SlotManager;
  hostCache: HostCache;
  metrics: NodeMetrics;
}

/** The public status reading and the metrics refresh behind it. */
export interface NodeStatusSource {
  /** Sets the gauges and mirrored counters of `/metrics` from the scheduler and the adapter tiers. */
  refresh(): void;
  /** `GET /v1/node/status`. */
  read(): Promise<NodeStatus>;
}

const sum = (values: ReadonlyArray<{ value: number }>) => values.reduce((s, v) => s + v.value, 0);

/** Creates the status source of a node. */
export function createNodeStatus(p: NodeStatusParts): NodeStatusSource {
  const { metrics: m } = p;

  function refresh(): void {
    const s = p.scheduler.stats();
    m.queueDepth.set(s.waiting);
    m.running.set(s.running);
    m.kvBlocksTotal.set(s.kvBlocksTotal);
    m.kvBlocksUsed.set(s.kvBlocksTotal - s.kvBlocksFree);
    const tiers = p.slots.stats();
    syncCounter(m.adapterLoads, { tier: 'gpu' }, tiers.loads);
    syncCounter(m.adapterEvictions, { tier: 'gpu' }, tiers.evictions);
    syncCounter(m.adapterLoads, { tier: 'host' }, tiers.host.misses - tiers.host.failures);
    syncCounter(m.adapterEvictions, { tier: 'host' }, tiers.host.evictions);
    syncCounter(m.adapterCache, { tier: 'gpu', result: 'hit' }, tiers.hits);
    syncCounter(m.adapterCache, { tier: 'gpu', result: 'miss' }, tiers.misses);
    syncCounter(m.adapterCache, { tier: 'host', result: 'hit' }, tiers.host.hits);
    syncCounter(m.adapterCache, { tier: 'host', result: 'miss' }, tiers.host.misses);
    const resident = { gpu: 0, host: 0, disk: 0 };
    for (const a of p.adapters.list()) resident[a.resident]++;
    for (const [tier, n] of Object.entries(resident)) m.adaptersResident.set({ tier }, n);
    const shares = p.scheduler.payers();
    m.payerShare.reset();
    for (const x of shares.slice(0, PAYER_SHARE_SERIES)) m.payerShare.set({ payer: x.payer }, x.share);
    if (shares.length > PAYER_SHARE_SERIES) m.payerShare.set({ payer: 'other' }, shares.slice(PAYER_SHARE_SERIES).reduce((t, x) => t + x.share, 0));
  }

  function engine(): NodeStatus['engine'] {
    const b = p.backend;
    const gpu = b.kind === 'webgpu' ? (b as WebGpuBackend) : undefined;
    const info = gpu?.gpu.summary;
    const unified = p.scheduler.stats().memory;
    return {
      backend: b.kind,
      dtype: b.dtype,
      adapter: info ? { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, software: info.software } : null,
      context_length: p.contextLength,
      kv_blocks: b.numKvBlocks,
      kv_block_tokens: KV_BLOCK_SIZE,
      lora_slots: b.lora.slots,
      lora_max_rank: b.lora.maxRank,
      lora_dtype: b.lora.dtype,
      memory: {
        mode: unified ? 'unified' : 'split',
        page_bytes: unified?.pageBytes ?? null,
        budget_pages: unified?.totalPages ?? null,
        weights_bytes: gpu?.weightBytes ?? null,
        kv_cache_bytes: b.kvBytes ?? null,
        lora_slots_bytes: b.kvBytes !== undefined ? b.lora.bytesPerSlot * b.lora.slots : null,
        adapters_in_pages: b.lora.inPages ?? false,
        host_cache_budget_bytes: p.hostCache.stats().budgetBytes,
      },
    };
  }

  async function read(): Promise<NodeStatus> {
    refresh();
    const [tokens, requests, receipts, steps, adapterRequests, queue, running, batch, kvUsed, kvTotal] = await Promise.all([
      m.tokens.get(),
      m.requests.get(),
      m.receipts.get(),
      m.stepSeconds.get(),
      m.adapterRequests.get(),
      m.queueDepth.get(),
      m.running.get(),
      m.batchSize.get(),
      m.kvBlocksUsed.get(),
      m.kvBlocksTotal.get(),
    ]);
    const tokensOf = new Map<string, number>();
    for (const v of tokens.values) tokensOf.set(String(v.labels.adapter), (tokensOf.get(String(v.labels.adapter)) ?? 0) + v.value);
    const requestsOf = new Map(adapterRequests.values.map((v) => [String(v.labels.adapter), v.value]));
    const stepSum = steps.values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
    const stepCount = steps.values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    const tiers = p.slots.stats();
    const counts = p.slots.adapterCounts();
    const listed = p.adapters.list();
    const byLabel = (a: { id: string; laneId: string }, of: Map<string, number>) => of.get(a.laneId) ?? of.get(a.id) ?? 0;
    return {
      object: 'node.status',
      time: Date.now(),
      version: (({ version, commit, shaderHash, build }) => ({ version, commit, shader_hash: shaderHash, build }))(versionInfo()),
      node: p.node,
      model: p.model,
      payment_mode: p.paymentMode,
      uptime_s: Math.round((Date.now() - p.startedAt) / 1000),
      p2p: p.p2p,
      engine: engine(),
      live: {
        tokens_prompt_total: sum(tokens.values.filter((v) => v.labels.kind === 'prompt')),
        tokens_completion_total: sum(tokens.values.filter((v) => v.labels.kind === 'completion')),
        requests_total: sum(requests.values),
        receipts_total: sum(receipts.values),
        steps_total: stepCount,
        step_seconds_total: stepSum,
        queue_depth: sum(queue.values),
        running: sum(running.values),
        batch_sequences: sum(batch.values),
        kv_blocks_used: sum(kvUsed.values),
        kv_blocks_total: sum(kvTotal.values),
        memory_pages: memoryPages(p.scheduler),
      },
      tiers: {
        gpu: { slots: tiers.slots, resident: tiers.resident, loading: tiers.loading, loads: tiers.loads, evictions: tiers.evictions, hits: tiers.hits, misses: tiers.misses, prefetches: tiers.prefetches, prefetches_unused: tiers.prefetchesUnused, avg_load_ms: tiers.load.count ? tiers.load.totalMs / tiers.load.count : 0 },
        host: { entries: tiers.host.entries, bytes: tiers.host.bytes, budget_bytes: tiers.host.budgetBytes, loads: tiers.host.misses - tiers.host.failures, evictions: tiers.host.evictions, hits: tiers.host.hits, misses: tiers.host.misses },
        disk: { adapters: listed.length },
      },
      adapters: listed.slice(0, STATUS_MAX_ADAPTERS).map((a) => ({
        id: a.id,
        lane_id: a.laneId,
        name: a.name,
        rank: a.rank,
        tier: a.resident,
        requests_total: byLabel(a, requestsOf),
        tokens_total: byLabel(a, tokensOf),
        loads: counts.get(a.id)?.loads ?? 0,
        evictions: counts.get(a.id)?.evictions ?? 0,
      })),
      adapters_total: listed.length,
    };
  }

  return { refresh, read };
}

/** Everything the status endpoints read: the public status, and paid mode's money and the network when present. */
export function createStatusReader(p: NodeStatusParts & { money?: MoneyParts; network?: Network }): NodeStatusReader {
  const source = createNodeStatus(p);
  return { ...source, money: () => readMoneyStatus(p.money), network: () => readNetworkStatus(p.network) };
}

/** Unified memory's pages by holder, null in split mode. */
function memoryPages(scheduler: Scheduler): NodeStatus['live']['memory_pages'] {
  const m = scheduler.stats().memory;
  return m ? { kv: m.kvPages, adapters: m.adapterPages, free: m.freePages, wanted: m.wantedPages } : null;
}
