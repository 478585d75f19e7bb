import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The node's Prometheus metrics (prom-client), one registry per node. */
export interface NodeMetrics {
  readonly registry: Registry;
  /** Brings the gauges and mirrored counters up to date (before a scrape or a status read). */
  refresh(): void;
  /** Records one engine step (the scheduler's `onStep`). */
  observeStep(step: { sequences: number; seconds: number }): void;
  readonly tokens: Counter<'kind' | 'adapter'>;
  readonly requests: Counter<'route' | 'status'>;
  readonly receipts: Counter;
  readonly requestSeconds: Histogram<'route'>;
  readonly firstTokenSeconds: Histogram;
  readonly queueDepth: Gauge;
  readonly running: Gauge;
  readonly kvBlocksUsed: Gauge;
  readonly kvBlocksTotal: Gauge;
  readonly adapterCache: Counter<'tier' | 'result'>;
  readonly settlementLagSeconds: Gauge;
  /** Engine steps: `_count` steps, `_sum` seconds (time per step = sum / count). */
  readonly stepSeconds: Histogram;
  readonly batchSize: Gauge;
  readonly adapterRequests: Counter<'adapter'>;
  readonly adapterLoads: Counter<'tier'>;
  readonly adapterEvictions: Counter<'tier'>;
  readonly adaptersResident: Gauge<'tier'>;
  /** Recent share of the engine per payer (the largest {@link PAYER_SHARE_SERIES}; the rest summed as `other`). */
  readonly payerShare: Gauge<'payer'>;
}

/** Payers given their own series in `openlora_scheduler_payer_share` (bounded label cardinality). */
export const PAYER_SHARE_SERIES = 16;

export interface CreateNodeMetricsParameters {
  /** Called by `refresh()` (each scrape, each status read) to set gauges and mirrored counters from the node's parts. */
  collect?: (metrics: NodeMetrics) => void;
}

/**
 * Raises a counter to `total`, a running total kept elsewhere (the slot manager's and host cache's
 * counters): the counter then reads the same number. Totals never go down.
 */
export function syncCounter<T extends string>(counter: Counter<T>, labels: Partial<Record<T, string>>, total: number): void {
  const key = JSON.stringify(labels);
  const seen = synced.get(counter) ?? new Map<string, number>();
  synced.set(counter, seen);
  const delta = total - (seen.get(key) ?? 0);
  if (delta > 0) counter.inc(labels, delta);
  seen.set(key, Math.max(total, seen.get(key) ?? 0));
}
const synced = new WeakMap<Counter<string>, Map<string, number>>();

/** Creates the metrics of one node. */
export function createNodeMetrics(p: CreateNodeMetricsParameters = {}): NodeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'openlora_' }); // openlora_process_cpu_seconds_total, openlora_nodejs_*
  let metrics: NodeMetrics;
  metrics = {
    registry,
    refresh: () => p.collect?.(metrics),
    observeStep(step) {
      metrics.stepSeconds.observe(step.seconds);
      metrics.batchSize.set(step.sequences);
    },
    tokens: new Counter({ name: 'openlora_tokens_total', help: 'Tokens processed, by kind (prompt, completion) and adapter lane id (as in receipts; zero bytes32 for the base model).', labelNames: ['kind', 'adapter'], registers: [registry] }),
    requests: new Counter({ name: 'openlora_requests_total', help: 'API requests by route and status.', labelNames: ['route', 'status'], registers: [registry] }),
    receipts: new Counter({ name: 'openlora_receipts_written_total', help: 'Usage receipts signed and stored.', registers: [registry] }),
    requestSeconds: new Histogram({ name: 'openlora_request_seconds', help: 'Request duration.', labelNames: ['route'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [registry] }),
    firstTokenSeconds: new Histogram({ name: 'openlora_time_to_first_token_seconds', help: 'Time to first token.', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    queueDepth: new Gauge({ name: 'openlora_queue_depth', help: 'Requests waiting for the scheduler.', registers: [registry] }),
    running: new Gauge({ name: 'openlora_running_sequences', help: 'Sequences in the running batch.', registers: [registry] }),
    kvBlocksUsed: new Gauge({ name: 'openlora_kv_blocks_used', help: 'KV-cache blocks in use.', registers: [registry] }),
    kvBlocksTotal: new Gauge({ name: 'openlora_kv_blocks_total', help: 'KV-cache blocks in the pool.', registers: [registry] }),
    adapterCache: new Counter({ name: 'openlora_adapter_cache_total', help: 'Adapter cache look-ups by tier (gpu, host) and result (hit, miss).', labelNames: ['tier', 'result'], registers: [registry] }),
    settlementLagSeconds: new Gauge({ name: 'openlora_settlement_lag_seconds', help: 'Age of the oldest acknowledged but unsettled voucher (0 in open mode).', registers: [registry] }),
    stepSeconds: new Histogram({ name: 'openlora_engine_step_seconds', help: 'Duration of one engine step (all running sequences\' rows).', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
    batchSize: new Gauge({ name: 'openlora_engine_batch_sequences', help: 'Sequences in the last engine step.', registers: [registry] }),
    adapterRequests: new Counter({ name: 'openlora_adapter_requests_total', help: 'Metered requests by adapter (same label as openlora_tokens_total).', labelNames: ['adapter'], registers: [registry] }),
    adapterLoads: new Counter({ name: 'openlora_adapter_loads_total', help: 'Adapters loaded into a tier (gpu: into a slot; host: parsed from disk).', labelNames: ['tier'], registers: [registry] }),
    adapterEvictions: new Counter({ name: 'openlora_adapter_evictions_total', help: 'Adapters evicted from a tier (gpu slot, host cache) to make room.', labelNames: ['tier'], registers: [registry] }),
    adaptersResident: new Gauge({ name: 'openlora_adapters_resident', help: 'Registered adapters by the fastest tier holding them (gpu, host, disk).', labelNames: ['tier'], registers: [registry] }),
    payerShare: new Gauge({ name: 'openlora_scheduler_payer_share', help: 'Recent fraction of the engine\'s weighted tokens per payer (fair scheduling); the largest payers by name, the rest as "other".', labelNames: ['payer'], registers: [registry] }),
  };
  return metrics;
}
