import { BaseError as ViemBaseError, ContractFunctionRevertedError, type Account, type Address, type Chain, type Hex, type PublicClient, type Transport, type WalletClient } from 'viem';
import { paymentChannelsAbi } from '../chain/generated/abis.ts';
import { waitForSuccess } from '../chain/waitForSuccess.ts';
import type { LaneStore, StoredVoucher } from '../ledger/lanes.ts';
import { createLogger } from '../log.ts';
import type { ChannelReader } from './channels.ts';

/**
 * A log-sized view of a chain error: viem's errors carry the whole ABI and call data in their
 * message and fields (tens of KB); a log line gets the short message and the revert's name.
 */
export function briefChainError(error: unknown): { message: string; revert?: string; args?: string } {
  const revert = error instanceof ViemBaseError ? (error.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null) : null;
  const message = ((error as { shortMessage?: string }).shortMessage ?? (error as Error)?.message ?? String(error)).split('\n')[0].slice(0, 300);
  return { message, ...(revert?.data ? { revert: revert.data.errorName, args: JSON.stringify(revert.data.args ?? [], (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)).slice(0, 300) } : {}) };
}

export interface SettlementOptions {
  /** Settle at least this often while anything is unsettled, ms. Default 10 min (protocol.md). */
  epochMs?: number;
  /** Settle at once when acknowledged but unsettled value reaches this, token base units. Default 10^18. */
  threshold?: bigint;
  /** How often the worker looks, ms. Default 5 s. */
  pollMs?: number;
  /** Blocks to wait for before a settlement counts. Default 1. */
  confirmations?: number;
  /** Lanes per `settle` transaction. Default 100. */
  maxLanesPerTx?: number;
}

export interface SettlementComponents {
  lanes: LaneStore;
  channels: ChannelReader;
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  paymentChannels: Address;
  /** Told what the chain paid per lane (the paid gate's `noteSettled`). */
  onSettled?: (channelId: Hex, adapterId: Hex, settled: bigint) => void;
  /** Local time (unix ms) of the next announced change of a lane's split terms, if any: lanes are settled before it. */
  termsChangeAt?: (adapterId: Hex) => number | undefined;
  /**
   * Runs before a settlement is sent (the P2P network commits the receipts still waiting for their
   * batch, so peers hold what they check the claim against, docs/p2p.md "Settlement flags"); a
   * failure is logged and the settlement goes on.
   */
  beforeSend?: () => Promise<void>;
}

/** Claims the node's vouchers on-chain. */
export interface SettlementWorker {
  start(): void;
  stop(): Promise<void>;
  /** Settles every unsettled lane now; resolves with what the chain paid in total. */
  settleNow(): Promise<bigint>;
  /** Acknowledged but unsettled value and the age of the oldest unsettled voucher (s). */
  backlog(): { amount: bigint; lanes: number; oldestSeconds: number };
  /** When it last settled (or started), and when it settles next at the latest: the epoch's end, now once the backlog reaches the threshold, null with nothing to settle. */
  schedule(): { lastAt: number; nextAt: number | null };
}

/**
 * Each epoch, or when acknowledged-but-unsettled value passes the threshold, sends one
 * `PaymentChannels.settle` with the largest voucher per lane, waits for confirmation and records
 * it. What the chain has paid per lane is always re-read from `laneClaimed`, so a crash, a repeated
 * transaction or a reorg never claims twice or loses a lane. RPC errors back off exponentially.
 */
export function createSettlementWorker(options: SettlementOptions, c: SettlementComponents): SettlementWorker {
  const log = createLogger({ name: 'settlement' });
  const epochMs = options.epochMs ?? 10 * 60_000;
  const threshold = options.threshold ?? 10n ** 18n;
  const pollMs = options.pollMs ?? 5_000;
  const confirmations = options.confirmations ?? 1;
  const maxLanes = options.maxLanesPerTx ?? 100;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<bigint> | undefined;
  let lastSettle = Date.now();
  let backoffMs = 0;
  let nextTryAt = 0;
  /** When each adapter's upcoming terms change was last logged (once per epoch, not per poll); one entry per adapter. */
  const warnedChanges = new Map<Hex, number>();

  async function refresh(lanes: StoredVoucher[]): Promise<StoredVoucher[]> {
    const claimed = await Promise.all(lanes.map((l) => c.publicClient.readContract({ address: c.paymentChannels, abi: paymentChannelsAbi, functionName: 'laneClaimed', args: [l.channelId, l.adapterId] })));
    return lanes.map((l, i) => {
      const settled = claimed[i];
      if (settled !== l.settled) {
        c.lanes.markSettled(l.channelId, l.adapterId, settled);
        c.onSettled?.(l.channelId, l.adapterId, settled);
      }
      return { ...l, settled };
    });
  }

  async function send(batch: StoredVoucher[]): Promise<bigint> {
    const owed = batch.reduce((s, l) => s + (l.amount - l.settled), 0n);
    const id = c.lanes.beginSettlement(batch.length, owed);
    const args = [batch.map((l) => ({ voucher: { channelId: l.channelId, adapterId: l.adapterId, cumulativeAmount: l.amount }, signature: l.signature }))] as const;
    try {
      const { request } = await c.publicClient.simulateContract({ address: c.paymentChannels, abi: paymentChannelsAbi, functionName: 'settle', args, account: c.walletClient.account });
      const hash = await c.walletClient.writeContract(request);
      c.lanes.updateSettlement(id, { txHash: hash, status: 'sent' });
      const receipt = await waitForSuccess(c.publicClient, hash, 'settle', confirmations);
      const after = await refresh(batch);
      const paid = after.reduce((s, l, i) => s + (l.settled - batch[i].settled), 0n);
      c.lanes.updateSettlement(id, { status: 'confirmed', block: receipt.blockNumber });
      log.info({ tx: hash, lanes: batch.length, paid: paid.toString(), block: receipt.blockNumber.toString() }, 'settled');
      return paid;
    } catch (error) {
      const brief = briefChainError(error);
      c.lanes.updateSettlement(id, { status: 'failed', error: brief.revert ? `${brief.revert}${brief.args}` : brief.message });
      throw error;
    }
  }

  async function settleNow(): Promise<bigint> {
    const pending = c.lanes.unsettled();
    if (pending.length === 0) return 0n;
    const lanes = (await refresh(pending)).filter((l) => l.amount > l.settled);
    if (lanes.length > 0) await c.beforeSend?.().catch((err: unknown) => log.warn({ err }, 'committing waiting receipts before settling failed; settling anyway'));
    let paid = 0n;
    for (let i = 0; i < lanes.length; i += maxLanes) {
      const batch = lanes.slice(i, i + maxLanes);
      try {
        paid += await send(batch);
      } catch (error) {
        if (batch.length === 1) throw error;
        // One bad lane (e.g. an adapter not registered on-chain) must not block the others: settle one by one.
        log.warn({ err: briefChainError(error), lanes: batch.length }, 'batch settle failed; settling lanes one by one');
        for (const lane of batch) {
          try {
            paid += await send([lane]);
          } catch (single) {
            log.error({ err: briefChainError(single), channelId: lane.channelId, adapterId: lane.adapterId }, 'lane cannot be settled');
          }
        }
      }
    }
    lastSettle = Date.now();
    return paid;
  }

  function backlog() {
    const lanes = c.lanes.unsettled();
    const amount = lanes.reduce((s, l) => s + (l.amount - l.settled), 0n);
    const oldest = lanes.reduce((m, l) => Math.min(m, l.receivedAt), Date.now());
    return { amount, lanes: lanes.length, oldestSeconds: lanes.length ? (Date.now() - oldest) / 1000 : 0 };
  }

  async function tick(): Promise<void> {
    if (running || Date.now() < nextTryAt) return;
    const b = backlog();
    if (b.lanes === 0) return;
    let urgent = false;
    for (const adapterId of new Set(c.lanes.unsettled().map((l) => l.adapterId))) {
      const changeAt = c.termsChangeAt?.(adapterId);
      // Work done at the terms in force settles at them: settle within two epochs of a change.
      if (changeAt !== undefined && changeAt - Date.now() < 2 * epochMs) {
        urgent = true;
        if (Date.now() - (warnedChanges.get(adapterId) ?? 0) >= epochMs) {
          warnedChanges.set(adapterId, Date.now());
          log.warn({ adapterId, termsChangeAt: new Date(changeAt).toISOString() }, 'split terms change soon while vouchers are unsettled; settling before');
        }
      }
    }
    for (const channelId of new Set(c.lanes.unsettled().map((l) => l.channelId))) {
      const channel = await c.channels.get(channelId).catch(() => undefined);
      if (channel && channel.withdrawReadyAt !== 0n) {
        urgent = true;
        log.warn({ channelId, withdrawReadyAt: channel.withdrawReadyAt.toString() }, 'payer asked to withdraw while vouchers are unsettled; settling now');
      }
    }
    if (!urgent && b.amount < threshold && Date.now() - lastSettle < epochMs) return;
    running = settleNow();
    try {
      await running;
      backoffMs = 0;
    } catch (error) {
      backoffMs = Math.min(Math.max(backoffMs * 2, 1_000), 60_000);
      nextTryAt = Date.now() + backoffMs;
      log.warn({ err: briefChainError(error), retryInMs: backoffMs }, 'settlement failed; will retry');
    } finally {
      running = undefined;
    }
  }

  return {
    start() {
      timer ??= setInterval(() => void tick(), pollMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running?.catch(() => undefined);
    },
    settleNow: () => (running ??= settleNow().finally(() => (running = undefined))),
    backlog,
    schedule() {
      const b = backlog();
      return { lastAt: lastSettle, nextAt: b.lanes === 0 ? null : b.amount >= threshold ? Math.max(Date.now(), nextTryAt) : Math.max(lastSettle + epochMs, nextTryAt) };
    },
  };
}
