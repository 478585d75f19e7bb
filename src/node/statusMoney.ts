import type { Address, Hex, PublicClient } from 'viem';
import type { MoneyStatus } from '../api/statusSchemas.ts';
import type { Deployment } from '../chain/deployment.ts';
import { nodeRegistryAbi, paymentChannelsAbi } from '../chain/generated/abis.ts';
import type { LaneStore } from '../ledger/lanes.ts';
import type { SettlementWorker } from '../payments/settlement.ts';

/** Lanes listed in one reading at most (largest charged first). */
export const MONEY_MAX_LANES = 500;

/** How long the node's credits and stake read from the chain are reused, ms. */
export const CHAIN_READ_TTL_MS = 5_000;

/** One payment lane as the ledger and the chain know it. */
export interface LaneMoney {
  channelId: Hex;
  adapterId: Hex;
  /** What the node charged (its receipts' `laneCharged`). */
  charged: bigint;
  /** The largest voucher held. */
  acknowledged: bigint;
  /** What the chain paid out (`PaymentChannels.laneClaimed`, as the settlement worker last read it). */
  settled: bigint;
}

/** Paid mode's read-only accessors behind the money view. */
export interface MoneyParts {
  token: Address;
  lanes(): LaneMoney[];
  channelCreditLimit: bigint;
  settlement: {
    epochMs: number;
    threshold: bigint;
    /** The worker's schedule: when it last settled (or started) and when it settles next at the latest (null: nothing to settle). */
    schedule(): { lastAt: number; nextAt: number | null };
    /** Age of the oldest acknowledged but unsettled voucher, s. */
    backlog(): { oldestSeconds: number };
    recent(): Array<{ id: number; txHash: Hex | null; status: string; lanes: number; amount: bigint; block: bigint | null; error: string | null }>;
  };
  /** The node's credits and stake on-chain (cached by the caller). */
  chain(): Promise<MoneyStatus['chain']>;
  /** Name of the adapter served on a lane, if any. */
  nameOf(laneId: Hex): string | null;
}

const s = (v: bigint) => v.toString();

/**
 * The money part of the operator page (`GET /admin/node/money`): per lane charged, acknowledged,
 * settled and pending settlement; per channel the credit in use (charged, not yet acknowledged:
 * what `payments.channelCreditLimit` bounds); the settlement schedule and recent transactions; the
 * node's credits and stake on-chain.
 */
export async function readMoneyStatus(parts: MoneyParts | undefined): Promise<MoneyStatus> {
  const time = Date.now();
  const zero = { charged: '0', acknowledged: '0', settled: '0', pending_settlement: '0' };
  if (!parts) return { object: 'node.money', time, payment_mode: 'open', token: null, lanes: [], channels: [], totals: zero, settlement: null, chain: null };
  const all = parts.lanes();
  const totals = { charged: 0n, acknowledged: 0n, settled: 0n };
  const channels = new Map<Hex, { lanes: number; inUse: bigint }>();
  let backlog = 0n;
  let backlogLanes = 0;
  for (const l of all) {
    totals.charged += l.charged;
    totals.acknowledged += l.acknowledged;
    totals.settled += l.settled;
    const c = channels.get(l.channelId) ?? { lanes: 0, inUse: 0n };
    c.lanes++;
    c.inUse += l.charged > l.acknowledged ? l.charged - l.acknowledged : 0n;
    channels.set(l.channelId, c);
    if (l.acknowledged > l.settled) {
      backlog += l.acknowledged - l.settled;
      backlogLanes++;
    }
  }
  const lanes = [...all].sort((a, b) => (b.charged > a.charged ? 1 : b.charged < a.charged ? -1 : 0)).slice(0, MONEY_MAX_LANES);
  const schedule = parts.settlement.schedule();
  return {
    object: 'node.money',
    time,
    payment_mode: 'paid',
    token: parts.token,
    lanes: lanes.map((l) => ({
      channel_id: l.channelId,
      adapter_id: l.adapterId,
      name: parts.nameOf(l.adapterId),
      charged: s(l.charged),
      acknowledged: s(l.acknowledged),
      settled: s(l.settled),
      pending_settlement: s(l.acknowledged > l.settled ? l.acknowledged - l.settled : 0n),
      unacknowledged: s(l.charged > l.acknowledged ? l.charged - l.acknowledged : 0n),
    })),
    channels: [...channels].map(([channelId, c]) => ({ channel_id: channelId, lanes: c.lanes, credit_in_use: s(c.inUse), credit_limit: s(parts.channelCreditLimit) })),
    totals: { charged: s(totals.charged), acknowledged: s(totals.acknowledged), settled: s(totals.settled), pending_settlement: s(backlog) },
    settlement: {
      epoch_ms: parts.settlement.epochMs,
      threshold: s(parts.settlement.threshold),
      last_at: schedule.lastAt,
      next_at: schedule.nextAt,
      backlog: { amount: s(backlog), lanes: backlogLanes, oldest_s: parts.settlement.backlog().oldestSeconds },
      recent: parts.settlement.recent().map((r) => ({ id: r.id, tx_hash: r.txHash, status: r.status, lanes: r.lanes, amount: s(r.amount), block: r.block === null ? null : s(r.block), error: r.error })),
    },
    chain: await parts.chain(),
  };
}

/** Parameters of {@link createMoneyParts}. */
export interface CreateMoneyPartsParameters {
  node: Address;
  deployment: Deployment;
  publicClient: PublicClient;
  lanes: LaneStore;
  settlement: SettlementWorker;
  settings: { epochMs: number; threshold: bigint; channelCreditLimit: bigint };
  nameOf(laneId: Hex): string | null;
}

/** Paid mode's money accessors over the lane store, the settlement worker and the chain (credits and stake, cached {@link CHAIN_READ_TTL_MS}). */
export function createMoneyParts(p: CreateMoneyPartsParameters): MoneyParts {
  let last: { at: number; value: NonNullable<MoneyStatus['chain']> } | undefined;
  let reading: Promise<NonNullable<MoneyStatus['chain']>> | undefined;
  const read = async (): Promise<NonNullable<MoneyStatus['chain']>> => {
    const { nodeRegistry, paymentChannels } = p.deployment.contracts;
    try {
      const [pc, nr, node] = await Promise.all([
        p.publicClient.readContract({ address: paymentChannels, abi: paymentChannelsAbi, functionName: 'creditOf', args: [p.node] }),
        p.publicClient.readContract({ address: nodeRegistry, abi: nodeRegistryAbi, functionName: 'creditOf', args: [p.node] }),
        p.publicClient.readContract({ address: nodeRegistry, abi: nodeRegistryAbi, functionName: 'nodeOf', args: [p.node] }),
      ]);
      return { credits: { payment_channels: pc.toString(), node_registry: nr.toString() }, stake: node.stake.toString(), registered: node.registered, read_at: Date.now(), error: null };
    } catch (error) {
      const message = ((error as { shortMessage?: string }).shortMessage ?? (error as Error).message).split('\n')[0];
      return { ...(last?.value ?? { credits: { payment_channels: '0', node_registry: '0' }, stake: '0', registered: false, read_at: 0 }), error: message };
    }
  };
  return {
    token: p.deployment.contracts.token,
    lanes: () => p.lanes.list(),
    channelCreditLimit: p.settings.channelCreditLimit,
    settlement: {
      epochMs: p.settings.epochMs,
      threshold: p.settings.threshold,
      schedule: () => p.settlement.schedule(),
      backlog: () => p.settlement.backlog(),
      recent: () => p.lanes.settlements(10),
    },
    async chain() {
      if (last && Date.now() - last.at < CHAIN_READ_TTL_MS) return last.value;
      reading ??= read().finally(() => (reading = undefined));
      const value = await reading;
      if (!value.error) last = { at: Date.now(), value };
      return value;
    },
    nameOf: p.nameOf,
  };
}
