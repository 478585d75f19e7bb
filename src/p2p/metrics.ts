import { Counter, Gauge, type Registry } from 'prom-client';

/** Prometheus metrics of the gossip layer, registered in the node's registry. */
export interface NetworkMetrics {
  readonly peers: Gauge;
  readonly meshPeers: Gauge<'topic'>;
  readonly messages: Counter<'topic' | 'result' | 'reason'>;
  readonly published: Counter<'topic'>;
  readonly receiptsStored: Gauge;
  readonly equivocations: Counter;
  readonly slashes: Counter<'result'>;
  readonly settlementFlags: Counter;
  readonly settlementChecksPending: Gauge;
  readonly batches: Counter<'result'>;
  readonly refused: Counter<'reason'>;
  readonly audits: Counter<'result'>;
}

export interface CreateNetworkMetricsParameters {
  registry: Registry;
  /** Refreshes the gauges on each scrape. */
  collect: (m: NetworkMetrics) => void;
}

/** Creates the gossip metrics (names `openlora_p2p_*`). */
export function createNetworkMetrics(p: CreateNetworkMetricsParameters): NetworkMetrics {
  const registers = [p.registry];
  let m: NetworkMetrics;
  const collect = () => p.collect(m);
  m = {
    peers: new Gauge({ name: 'openlora_p2p_peers', help: 'Connected libp2p peers.', registers, collect }),
    meshPeers: new Gauge({ name: 'openlora_p2p_mesh_peers', help: 'Gossipsub mesh size per topic kind (batches: summed over followed nodes).', labelNames: ['topic'], registers }),
    messages: new Counter({ name: 'openlora_p2p_messages_total', help: 'Gossip messages received, by topic kind (batches, nodes), validation result (accept, ignore, reject) and reason.', labelNames: ['topic', 'result', 'reason'], registers }),
    published: new Counter({ name: 'openlora_p2p_published_total', help: 'Gossip messages this node published, by topic.', labelNames: ['topic'], registers }),
    receiptsStored: new Gauge({ name: 'openlora_p2p_receipts_stored', help: "Other nodes' receipts kept by this node.", registers }),
    equivocations: new Counter({ name: 'openlora_p2p_equivocations_total', help: 'Equivocations found (two receipts with one seq, or two batches with one batchSeq, from one node).', registers }),
    slashes: new Counter({ name: 'openlora_p2p_slashes_total', help: 'Equivocation proofs submitted, by result.', labelNames: ['result'], registers }),
    batches: new Counter({ name: 'openlora_p2p_batches_total', help: "Followed nodes' batches fetched, by result (stored, invalid: did not match its header, unavailable: no peer served it).", labelNames: ['result'], registers }),
    refused: new Counter({ name: 'openlora_p2p_receipts_refused_total', help: 'Receipts in fetched batches that break a rule (kept as evidence, not counted in lane totals), by reason.', labelNames: ['reason'], registers }),
    audits: new Counter({ name: 'openlora_p2p_audits_total', help: 'Random audits of unfollowed nodes (sampled receipts with Merkle paths), by result.', labelNames: ['result'], registers }),
    settlementFlags: new Counter({ name: 'openlora_p2p_settlement_flags_total', help: 'Settlements above what the gossiped receipts of the lane add up to once their grace was up.', registers }),
    settlementChecksPending: new Gauge({ name: 'openlora_p2p_settlement_checks_pending', help: 'Settlements above the receipts held of their lane, waiting for more receipts (p2p.watcher.settlementGraceMs).', registers }),
  };
  return m;
}
