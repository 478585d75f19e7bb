/**
 * The routing table: the latest valid announcement of each node, and the ranking clients use to
 * pick one (`GET /v1/network/nodes?model=`).
 */
import type { Address, Hex } from 'viem';
import type { AnnouncedAdapter, Announcement, Residency } from './codec.ts';
import { ANNOUNCEMENT_TTL_MS } from './constants.ts';

/** A node as the discovery API lists it, best first. */
export interface RankedNode {
  node: Address;
  url: string;
  peerId: string;
  multiaddrs: string[];
  /** The adapter asked for on this node, when one was asked for. */
  adapter?: { id: Hex; name: string; resident: Residency; inputPer1k: string; outputPer1k: string };
  queueDepth: number;
  running: number;
  freeKvBlocks: number;
  totalKvBlocks: number;
  /** Estimated cost of sending a request there, lower is better (see `rankNodes`). */
  cost: number;
  /** Unix ms of the announcement. */
  announcedAt: number;
}

export interface RoutingTable {
  /** Stores a validated announcement (older ones of the same node are ignored). */
  update(a: Announcement): void;
  latestFrom(node: Address): bigint | undefined;
  get(node: Address): Announcement | undefined;
  /** Announcements younger than the TTL. */
  list(): Announcement[];
  /** Ranks live nodes for a model (adapter id or name; none = every node). */
  rank(parameters?: { model?: string; limit?: number }): RankedNode[];
}

/** Cost of an adapter's residency, in "queued requests": a GPU hit is free, a host load is cheap, a disk load is not. */
const RESIDENCY_COST: Record<Residency, number> = { gpu: 0, host: 2, disk: 8 };

function matches(adapter: AnnouncedAdapter, model: string): boolean {
  return adapter.id === model.toLowerCase() || adapter.name === model;
}

/**
 * Ranks by cost = residency cost + queue depth + 4 when the KV pool is over 90% used; ties by
 * price (input + output per 1k), then by free KV blocks.
 */
export function rankNodes(announcements: readonly Announcement[], p: { model?: string; limit?: number } = {}): RankedNode[] {
  const ranked: Array<RankedNode & { price: bigint }> = [];
  for (const a of announcements) {
    const adapter = p.model ? a.adapters.find((x) => matches(x, p.model as string)) : undefined;
    if (p.model && !adapter) continue;
    const kvFull = a.totalKvBlocks > 0 && a.freeKvBlocks < a.totalKvBlocks * 0.1 ? 4 : 0;
    ranked.push({
      node: a.node,
      url: a.url,
      peerId: a.peerId,
      multiaddrs: a.multiaddrs,
      adapter: adapter && { id: adapter.id, name: adapter.name, resident: adapter.resident, inputPer1k: adapter.inputPer1k.toString(), outputPer1k: adapter.outputPer1k.toString() },
      queueDepth: a.queueDepth,
      running: a.running,
      freeKvBlocks: a.freeKvBlocks,
      totalKvBlocks: a.totalKvBlocks,
      cost: (adapter ? RESIDENCY_COST[adapter.resident] : 0) + a.queueDepth + kvFull,
      announcedAt: Number(a.timestamp),
      price: adapter ? adapter.inputPer1k + adapter.outputPer1k : 0n,
    });
  }
  ranked.sort((x, y) => x.cost - y.cost || (x.price < y.price ? -1 : x.price > y.price ? 1 : 0) || y.freeKvBlocks - x.freeKvBlocks);
  return ranked.slice(0, p.limit ?? 50).map(({ price: _price, ...rest }) => rest);
}

/** Creates an empty routing table. */
export function createRoutingTable(p: { ttlMs?: number } = {}): RoutingTable {
  const ttl = p.ttlMs ?? ANNOUNCEMENT_TTL_MS;
  const nodes = new Map<Address, { a: Announcement; at: number }>();
  const live = () => {
    const cutoff = Date.now() - ttl;
    const out: Announcement[] = [];
    for (const [node, e] of nodes) {
      if (e.at < cutoff) nodes.delete(node);
      else out.push(e.a);
    }
    return out;
  };
  return {
    update(a) {
      const known = nodes.get(a.node);
      if (known && known.a.timestamp >= a.timestamp) return;
      nodes.set(a.node, { a, at: Date.now() });
    },
    latestFrom: (node) => nodes.get(node)?.a.timestamp,
    get: (node) => nodes.get(node)?.a,
    list: live,
    rank: (q = {}) => rankNodes(live(), q),
  };
}
