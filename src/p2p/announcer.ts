/**
 * Publishes this node's signed announcements (docs/p2p.md "Discovery"): where to reach it, the
 * adapters it serves and where they are resident, its load and prices. The interval stretches with
 * the network so that all nodes together send at most `NETWORK_ANNOUNCEMENTS_PER_S`.
 */
import type { LocalAccount } from 'viem';
import type { Logger } from '../log.ts';
import { announcementHash, encodeAnnouncement, type AnnouncedAdapter, type Announcement } from './codec.ts';
import { DEFAULT_ANNOUNCE_INTERVAL_MS, MAX_ANNOUNCED_ADAPTERS, MAX_ANNOUNCED_MULTIADDRS, NETWORK_ANNOUNCEMENTS_PER_S } from './constants.ts';
import type { NetworkMetrics } from './metrics.ts';
import type { RoutingTable } from './routing.ts';

/** What the node reports in its announcements. */
export interface NodeStatus {
  url: string;
  adapters: AnnouncedAdapter[];
  queueDepth: number;
  running: number;
  freeKvBlocks: number;
  totalKvBlocks: number;
}

export interface AnnouncerSettings {
  /** Shortest interval, ms. Default 5,000. */
  intervalMs?: number;
  /** Per-lane credit this node extends (announced). Default 0. */
  creditLimit?: bigint;
}

export interface AnnouncerComponents {
  account: LocalAccount;
  chainId: number;
  peerId: string;
  multiaddrs(): string[];
  status: () => NodeStatus;
  routing: RoutingTable;
  publish(data: Uint8Array): Promise<void>;
  /** Registered nodes (the interval grows with them). */
  networkSize(): number;
  log: Logger;
  metrics?: NetworkMetrics;
}

/** The interval that keeps the whole network under `NETWORK_ANNOUNCEMENTS_PER_S`, ms. */
export function announceInterval(minimumMs: number, nodes: number): number {
  return Math.max(minimumMs, Math.ceil((nodes / NETWORK_ANNOUNCEMENTS_PER_S) * 1000));
}

export function createAnnouncer(settings: AnnouncerSettings, c: AnnouncerComponents) {
  const minimum = settings.intervalMs ?? DEFAULT_ANNOUNCE_INTERVAL_MS;
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  async function announce(): Promise<void> {
    const s = c.status();
    const a: Announcement = {
      node: c.account.address,
      chainId: c.chainId,
      timestamp: BigInt(Date.now()),
      url: s.url,
      peerId: c.peerId,
      multiaddrs: c.multiaddrs().slice(0, MAX_ANNOUNCED_MULTIADDRS),
      adapters: s.adapters.slice(0, MAX_ANNOUNCED_ADAPTERS),
      queueDepth: s.queueDepth,
      running: s.running,
      freeKvBlocks: s.freeKvBlocks,
      totalKvBlocks: s.totalKvBlocks,
      creditLimit: settings.creditLimit ?? 0n,
    };
    const signature = await c.account.signMessage({ message: { raw: announcementHash(a) } });
    c.routing.update(a);
    await c.publish(encodeAnnouncement(a, signature));
    c.metrics?.published.inc({ topic: 'nodes' });
  }

  function schedule(): void {
    if (!running) return;
    timer = setTimeout(() => {
      announce()
        .catch((err: unknown) => c.log.warn({ err }, 'announcement failed'))
        .finally(schedule);
    }, announceInterval(minimum, c.networkSize()));
    timer.unref();
  }

  return {
    start() {
      running = true;
      schedule();
    },
    stop() {
      running = false;
      clearTimeout(timer);
    },
    announce,
  };
}
