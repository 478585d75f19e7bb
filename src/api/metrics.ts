import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The node's Prometheus metrics (prom-client), one registry per node. */
export interface NodeMetrics {
  readonly registry: Registry;
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
}

export interface CreateNodeMetricsParameters {
  /** Called on each scrape to refresh gauges (queue depth, KV use). */
  collect?: (metrics: NodeMetrics) => void;
}

/** Creates the metrics of one node. */
export function createNodeMetrics(p: CreateNodeMetricsParameters = {}): NodeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'openlora_' }); // openlora_process_cpu_seconds_total, openlora_nodejs_*
  let metrics: NodeMetrics;
  const collect = () => p.collect?.(metrics);
  metrics = {
    registry,
    tokens: new Counter({ name: 'openlora_tokens_total', help: 'Tokens processed, by kind (prompt, completion) and adapter lane id (as in receipts; zero bytes32 for the base model).', labelNames: ['kind', 'adapter'], registers: [registry] }),
    requests: new Counter({ name: 'openlora_requests_total', help: 'API requests by route and status.', labelNames: ['route', 'status'], registers: [registry] }),
    receipts: new Counter({ name: 'openlora_receipts_written_total', help: 'Usage receipts signed and stored.', registers: [registry] }),
    requestSeconds: new Histogram({ name: 'openlora_request_seconds', help: 'Request duration.', labelNames: ['route'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [registry] }),
    firstTokenSeconds: new Histogram({ name: 'openlora_time_to_first_token_seconds', help: 'Time to first token.', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    queueDepth: new Gauge({ name: 'openlora_queue_depth', help: 'Requests waiting for the scheduler.', registers: [registry], collect }),
    running: new Gauge({ name: 'openlora_running_sequences', help: 'Sequences in the running batch.', registers: [registry] }),
    kvBlocksUsed: new Gauge({ name: 'openlora_kv_blocks_used', help: 'KV-cache blocks in use.', registers: [registry] }),
    kvBlocksTotal: new Gauge({ name: 'openlora_kv_blocks_total', help: 'KV-cache blocks in the pool.', registers: [registry] }),
    adapterCache: new Counter({ name: 'openlora_adapter_cache_total', help: 'Adapter cache look-ups by tier (gpu, host) and result (hit, miss).', labelNames: ['tier', 'result'], registers: [registry] }),
    settlementLagSeconds: new Gauge({ name: 'openlora_settlement_lag_seconds', help: 'Age of the oldest acknowledged but unsettled voucher (0 in open mode).', registers: [registry] }),
  };
  return metrics;
}
