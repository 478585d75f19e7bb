/**
 * The watcher (protocol.md "Slashing"): turns equivocations found in gossip into `slash` calls
 * (the prover's reward is credited to the account that sends them: this node's operator), and
 * flags settlements above what the gossiped receipts of their lane add up to.
 */
import { BaseError as ViemBaseError, ContractFunctionRevertedError, type Account, type Address, type Chain, type Hex, type PublicClient, type Transport, type WalletClient } from 'viem';
import { nodeRegistryAbi } from '../chain/contracts.ts';
import type { Deployment } from '../chain/deployment.ts';
import type { PeerReceipt, PeerReceiptStore } from '../ledger/peerReceipts.ts';
import type { Logger } from '../log.ts';
import type { LaneSettlement } from './chainEvents.ts';
import type { ChainView } from './chainView.ts';
import { decodeReceiptMessage } from './codec.ts';
import { SlashSubmitError } from './errors.ts';
import type { NetworkMetrics } from './metrics.ts';

export interface CreateWatcherParameters {
  store: PeerReceiptStore;
  chainView: ChainView;
  deployment: Pick<Deployment, 'contracts'>;
  publicClient: PublicClient;
  /** Sends `slash`; without it equivocations are only recorded. */
  walletClient?: WalletClient<Transport, Chain | undefined, Account>;
  /** Submit proofs automatically (config `p2p.watcher.slash`). */
  slash: boolean;
  /** This node's address: its own lanes are not checked against gossip. */
  self?: Address;
  log: Logger;
  metrics?: NetworkMetrics;
}

export interface Watcher {
  /** Records an equivocation and, when enabled, submits the proof; resolves when done. */
  onEquivocation(a: PeerReceipt, b: PeerReceipt): Promise<void>;
  /** Checks one settlement against the gossiped receipts of its lane. */
  onSettled(s: LaneSettlement): Promise<void>;
  /** Waits for slashes in flight. */
  idle(): Promise<void>;
}

function revertName(error: unknown): string | undefined {
  const reverted = error instanceof ViemBaseError ? (error.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null) : null;
  return reverted?.data?.errorName;
}

/** Creates the watcher. */
export function createWatcher(p: CreateWatcherParameters): Watcher {
  const inFlight = new Map<string, Promise<void>>();

  async function submit(node: Address, seq: bigint, a: PeerReceipt, b: PeerReceipt): Promise<void> {
    const ma = decodeReceiptMessage(a.message);
    const mb = decodeReceiptMessage(b.message);
    if (!ma.ok || !mb.ok || !p.walletClient) return;
    const args = [ma.value.receipt, ma.value.signature, mb.value.receipt, mb.value.signature] as const;
    try {
      const { request } = await p.publicClient.simulateContract({ address: p.deployment.contracts.nodeRegistry, abi: nodeRegistryAbi, functionName: 'slash', args, account: p.walletClient.account });
      const hash = await p.walletClient.writeContract(request);
      p.store.updateEquivocation(node, seq, 'submitted', hash);
      const receipt = await p.publicClient.waitForTransactionReceipt({ hash });
      if (receipt.status !== 'success') throw new Error(`slash transaction ${hash} reverted`);
      p.store.updateEquivocation(node, seq, 'slashed', hash);
      p.metrics?.slashes.inc({ result: 'slashed' });
      p.chainView.forget(node);
      p.log.warn({ node, seq: seq.toString(), tx: hash }, 'equivocating node slashed');
    } catch (error) {
      // Another watcher may have won the race (our simulation passed, our transaction reverted): ask the chain why.
      let why = revertName(error);
      if (why === undefined) {
        why = await p.publicClient
          .simulateContract({ address: p.deployment.contracts.nodeRegistry, abi: nodeRegistryAbi, functionName: 'slash', args, account: p.walletClient.account })
          .then(() => undefined, revertName);
      }
      if (why === 'NodeRegistryAlreadySlashed') {
        p.store.updateEquivocation(node, seq, 'slashed');
        p.metrics?.slashes.inc({ result: 'already_slashed' });
        p.log.info({ node, seq: seq.toString() }, 'equivocation already slashed by another watcher');
        return;
      }
      p.store.updateEquivocation(node, seq, 'failed');
      p.metrics?.slashes.inc({ result: 'failed' });
      p.log.error({ err: new SlashSubmitError(node, seq, error) }, 'slash failed');
    }
  }

  return {
    onEquivocation(a, b) {
      const node = a.node;
      const seq = a.receipt.seq;
      const key = `${node}:${seq}`;
      const running = inFlight.get(key);
      if (running) return running;
      const enabled = p.slash && p.walletClient !== undefined;
      p.store.recordEquivocation({ node, seq, digestA: a.digest, digestB: b.digest, foundAt: Date.now(), status: enabled ? 'pending' : 'disabled' });
      p.metrics?.equivocations.inc();
      p.log.warn({ node, seq: seq.toString(), digestA: a.digest, digestB: b.digest, slash: enabled }, 'equivocation found');
      if (!enabled) return Promise.resolve();
      const job = submit(node, seq, a, b).finally(() => inFlight.delete(key));
      inFlight.set(key, job);
      return job;
    },
    async onSettled(s) {
      let node: Address | undefined;
      try {
        node = (await p.chainView.channel(s.channelId))?.node;
      } catch (err) {
        p.log.warn({ err, channelId: s.channelId }, 'cannot read the settled channel; checking without its node');
      }
      if (node !== undefined && node === p.self) return;
      const totals = p.store.laneTotals(s.channelId, s.adapterId);
      if (s.claimed <= totals.amount) return;
      p.store.recordSettlementFlag({ txHash: s.transactionHash, channelId: s.channelId, adapterId: s.adapterId, node, claimed: s.claimed, gossiped: totals.amount, flaggedAt: Date.now() });
      p.metrics?.settlementFlags.inc();
      p.log.warn(
        { node, channelId: s.channelId, adapterId: s.adapterId, claimed: s.claimed.toString(), gossiped: totals.amount.toString(), receipts: totals.count, tx: s.transactionHash as Hex },
        'settlement above the gossiped receipts of its lane',
      );
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled(inFlight.values());
    },
  };
}
