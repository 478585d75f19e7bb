/**
 * Settlement checks (docs/p2p.md "Settlement flags"): a `LaneSettled` on a lane of a followed node
 * whose `claimed` exceeds what the voucher-backed receipts held of the lane say was served. Gossip
 * lags the chain (a node may settle right after serving, before its followers have fetched the
 * batch), so such a settlement is first *pending*: re-checked whenever receipts of its lane are
 * stored, passed as soon as they cover it, and flagged only when they still do not once its grace is
 * up. Pending checks live in memory, bounded; they are dropped at stop and redone at the next start,
 * when the chain follower reads every settlement again.
 */
import { isAddressEqual, type Address, type Hex } from 'viem';
import type { PeerReceiptStore } from '../ledger/peerReceipts.ts';
import type { Logger } from '../log.ts';
import type { LaneSettlement } from './chainEvents.ts';
import type { ChainView } from './chainView.ts';
import { MAX_PENDING_SETTLEMENT_CHECKS } from './constants.ts';
import type { NetworkMetrics } from './metrics.ts';

export interface SettlementCheckSettings {
  /** How long a settlement above the receipts held waits for more, ms (config `p2p.watcher.settlementGraceMs`; 0: flagged at once). */
  graceMs: number;
  /** Settlements waiting at most; past it the oldest is decided at once. Default `MAX_PENDING_SETTLEMENT_CHECKS`. */
  maxPending?: number;
}

export interface SettlementCheckComponents {
  store: Pick<PeerReceiptStore, 'laneTotals' | 'recordSettlementFlag' | 'hasSettlementFlag'>;
  chainView: Pick<ChainView, 'channel'>;
  /** This node's address: its own lanes are not checked. */
  self: Address;
  /** Whether this node follows `node` (holds all its batches): only those lanes are checked. */
  follows(node: Address): boolean;
  /** Resolves once `follows` answers for the chain head (the registry index is read): checks wait for it. */
  ringKnown?: Promise<void>;
  log: Logger;
  metrics?: NetworkMetrics;
}

/** A settlement above the receipts held of its lane, waiting for more of them. */
export interface PendingSettlement {
  txHash: Hex;
  channelId: Hex;
  adapterId: Hex;
  node: Address;
  claimed: bigint;
  /** What the receipts held said was served when last checked. */
  served: bigint;
  /** Unix ms it was seen, and when it is decided. */
  seenAt: number;
  deadline: number;
}

export interface SettlementChecks {
  /** Checks one settlement; resolves once it passed, was flagged or waits for its receipts. */
  check(s: LaneSettlement): Promise<void>;
  /** Receipts of these lanes were stored: pending settlements they now cover pass. */
  onReceipts(lanes: Iterable<{ channelId: Hex; adapterId: Hex }>): void;
  /** The settlements waiting for their receipts, oldest first. */
  pending(): PendingSettlement[];
  /** Drops every pending check and its timer; later settlements are ignored. */
  stop(): void;
}

const laneKey = (channelId: Hex, adapterId: Hex) => `${channelId}:${adapterId}`.toLowerCase();

export function createSettlementChecks(settings: SettlementCheckSettings, c: SettlementCheckComponents): SettlementChecks {
  const maxPending = Math.max(1, settings.maxPending ?? MAX_PENDING_SETTLEMENT_CHECKS);
  /** Keyed by (tx, lane); insertion order is age order. */
  const waiting = new Map<string, { p: PendingSettlement; timer: NodeJS.Timeout }>();
  let stopped = false;
  const { promise: stopping, resolve: stop } = Promise.withResolvers<void>();

  /** What the receipts held of a lane say was served: their sum from the lane's start, else the largest `laneCharged` (the node's own running total, backed by the payer's voucher). */
  function served(channelId: Hex, adapterId: Hex): { amount: bigint; receipts: number } {
    const t = c.store.laneTotals(channelId, adapterId);
    return { amount: t.fromStart ? t.amount : t.maxLaneCharged, receipts: t.count };
  }

  function flag(p: PendingSettlement, held: { amount: bigint; receipts: number }): void {
    const now = Date.now();
    c.store.recordSettlementFlag({ txHash: p.txHash, channelId: p.channelId, adapterId: p.adapterId, node: p.node, claimed: p.claimed, gossiped: held.amount, flaggedAt: now });
    c.metrics?.settlementFlags.inc();
    c.log.warn(
      { node: p.node, channelId: p.channelId, adapterId: p.adapterId, claimed: p.claimed.toString(), served: held.amount.toString(), receipts: held.receipts, tx: p.txHash, waitedMs: now - p.seenAt },
      'settlement above the receipts of its lane',
    );
  }

  function remove(key: string): PendingSettlement | undefined {
    const w = waiting.get(key);
    if (!w) return undefined;
    clearTimeout(w.timer);
    waiting.delete(key);
    return w.p;
  }

  function passed(p: PendingSettlement, held: { amount: bigint; receipts: number }): void {
    c.log.info({ node: p.node, channelId: p.channelId, adapterId: p.adapterId, claimed: p.claimed.toString(), served: held.amount.toString(), tx: p.txHash, waitedMs: Date.now() - p.seenAt }, 'settlement covered by receipts that arrived after it');
  }

  /** Decides a pending check now (its grace is up, or the cap needs its room): passed or flagged. */
  function decide(key: string): void {
    const p = remove(key);
    if (!p) return;
    if (!c.follows(p.node)) {
      c.log.debug({ node: p.node, channelId: p.channelId, tx: p.txHash }, 'settled node no longer followed; its settlement is not checked');
      return;
    }
    const held = served(p.channelId, p.adapterId);
    if (p.claimed <= held.amount) passed(p, held);
    else flag(p, held);
  }

  return {
    async check(s) {
      if (stopped || s.claimed <= served(s.channelId, s.adapterId).amount) return;
      const key = `${s.transactionHash}:${laneKey(s.channelId, s.adapterId)}`;
      // A restart reads every settlement again: one flagged before is not flagged (nor counted) twice.
      if (waiting.has(key) || c.store.hasSettlementFlag(s.transactionHash, s.channelId, s.adapterId)) return;
      let node: Address | undefined;
      try {
        node = (await c.chainView.channel(s.channelId))?.node;
      } catch (err) {
        c.log.debug({ err, channelId: s.channelId }, 'cannot read the settled channel; not checked');
        return;
      }
      if (c.ringKnown) await Promise.race([c.ringKnown, stopping]);
      if (stopped || waiting.has(key) || node === undefined || isAddressEqual(node, c.self) || !c.follows(node)) return;
      const held = served(s.channelId, s.adapterId);
      if (s.claimed <= held.amount) return;
      const now = Date.now();
      const p: PendingSettlement = { txHash: s.transactionHash, channelId: s.channelId, adapterId: s.adapterId, node, claimed: s.claimed, served: held.amount, seenAt: now, deadline: now + settings.graceMs };
      if (settings.graceMs <= 0) return flag(p, held);
      waiting.set(key, { p, timer: setTimeout(() => decide(key), settings.graceMs).unref() });
      c.log.info({ node, channelId: s.channelId, adapterId: s.adapterId, claimed: s.claimed.toString(), served: held.amount.toString(), tx: s.transactionHash, graceMs: settings.graceMs }, 'settlement above the receipts held of its lane; waiting for its receipts');
      if (waiting.size > maxPending) {
        const oldest = waiting.keys().next().value!;
        c.log.warn({ pending: waiting.size, max: maxPending, tx: waiting.get(oldest)!.p.txHash }, 'too many settlements wait for their receipts; the oldest is decided now');
        decide(oldest);
      }
    },
    onReceipts(lanes) {
      if (waiting.size === 0) return;
      const stored = new Set<string>();
      for (const l of lanes) stored.add(laneKey(l.channelId, l.adapterId));
      const totals = new Map<string, { amount: bigint; receipts: number }>();
      for (const [key, { p }] of waiting) {
        const lane = laneKey(p.channelId, p.adapterId);
        if (!stored.has(lane)) continue;
        let held = totals.get(lane);
        if (!held) totals.set(lane, (held = served(p.channelId, p.adapterId)));
        p.served = held.amount;
        if (p.claimed > held.amount) continue;
        remove(key);
        passed(p, held);
      }
    },
    pending: () => [...waiting.values()].map((w) => ({ ...w.p })),
    stop() {
      stopped = true;
      stop();
      if (waiting.size > 0) c.log.debug({ pending: waiting.size }, 'pending settlement checks dropped at stop; the next start reads the settlements again');
      for (const key of waiting.keys()) remove(key);
    },
  };
}
