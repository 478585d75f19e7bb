import type { NetworkStatus } from '../api/statusSchemas.ts';
import type { Network } from '../p2p/network.ts';

/** Flagged nodes listed at most (newest first). */
const MAX_FLAGGED = 200;

/**
 * The network part of the operator page (`GET /admin/node/network`): connected peers with their
 * gossipsub scores, message totals by topic and verdict, the nodes known from announcements, and
 * the nodes this node has flagged (receipt and batch equivocations, settlements above their
 * gossiped receipts).
 */
export function readNetworkStatus(network: Network | undefined): NetworkStatus {
  const time = Date.now();
  if (!network) return { object: 'node.network', time, enabled: false, peer_id: null, multiaddrs: [], peers: [], messages: {}, nodes: [], flagged: [] };
  const flagged = [
    ...network.store.equivocations().map((e) => ({ node: e.node, kind: 'equivocation', detail: `two receipts with seq ${e.seq}; proof ${e.status}${e.txHash ? ` in ${e.txHash}` : ''}`, at: e.foundAt })),
    ...network.store.batchEquivocations().map((e) => ({ node: e.node, kind: 'batch equivocation', detail: `two batches with batchSeq ${e.batchSeq}; proof ${e.status}${e.txHash ? ` in ${e.txHash}` : ''}`, at: e.foundAt })),
    ...network.store.settlementFlags().map((f) => ({ node: f.node ?? f.channelId, kind: 'settlement', detail: `settled ${f.claimed} on lane ${f.adapterId} of channel ${f.channelId}; gossiped receipts add up to ${f.gossiped} (tx ${f.txHash})`, at: f.flaggedAt })),
  ]
    .sort((a, b) => b.at - a.at)
    .slice(0, MAX_FLAGGED);
  return {
    object: 'node.network',
    time,
    enabled: true,
    peer_id: network.peerId,
    multiaddrs: network.multiaddrs(),
    peers: network.peers().map((peerId) => ({ peer_id: peerId, score: network.score(peerId) })),
    messages: network.counts(),
    nodes: network.routing.list().map((a) => ({ node: a.node, url: a.url, seen_at: Number(a.timestamp) })),
    flagged,
  };
}
