/**
 * The watcher (docs/p2p.md "Slashing"): turns equivocations found among the batches it holds into
 * `NodeRegistry` slashes with no human step (the prover's reward is credited to the account that
 * sends them: this node's operator), and flags settlements above what a followed node's
 * voucher-backed receipts say it served, once those receipts had their grace to arrive
 * (settlementChecks.ts).
 */
import { BaseError as ViemBaseError, ContractFunctionRevertedError, zeroHash, type Account, type Address, type Chain, type Hex, type PublicClient, type Transport, type WalletClient } from 'viem';
import { nodeRegistryAbi } from '../chain/contracts.ts';
import type { Deployment } from '../chain/deployment.ts';
import type { ReceiptBatch } from '../chain/receiptBatch.ts';
import { waitForSuccess } from '../chain/waitForSuccess.ts';
import type { UsageReceipt } from '../chain/eip712.ts';
import type { PeerReceipt, PeerReceiptStore, StoredHeader } from '../ledger/peerReceipts.ts';
import { decodeBatchHeader } from './batchCodec.ts';
import { batchEvidence, type ReceiptEvidence } from './evidence.ts';
import type { LaneSettlement } from './chainEvents.ts';
import type { ChainView } from './chainView.ts';
import { SlashSubmitError } from './errors.ts';
import { createSettlementChecks, type PendingSettlement, type SettlementCheckComponents, type SettlementCheckSettings } from './settlementChecks.ts';

export interface WatcherComponents extends SettlementCheckComponents {
  store: PeerReceiptStore;
  chainView: ChainView;
  deployment: Pick<Deployment, 'contracts'>;
  publicClient: PublicClient;
  /** Sends slashes; without it equivocations are only recorded. */
  walletClient?: WalletClient<Transport, Chain | undefined, Account>;
}

export interface WatcherSettings {
  /** Submit proofs automatically (config `p2p.watcher.slash`). */
  slash: boolean;
  /** Settlements above the receipts held: how long they wait for more (`p2p.watcher.settlementGraceMs`), how many at most. */
  settlements: SettlementCheckSettings;
}

const NO_BATCH: ReceiptBatch = { batchSeq: 0n, root: zeroHash, count: 0, timestamp: 0n };

export interface Watcher {
  /** Records two headers of one (node, batchSeq) and, when enabled, submits the proof. */
  onBatchEquivocation(a: StoredHeader, b: StoredHeader): Promise<void>;
  /** Records two receipts of one (node, seq) from batches and, when enabled, submits the proof. */
  onEquivocation(a: PeerReceipt, b: PeerReceipt): Promise<void>;
  /**
   * Checks a receipt the node signed on its own (a client's copy) against the batches held of the
   * node; a batched receipt with the same seq and another digest is proven. Answers whether it did.
   */
  checkSigned(node: Address, receipt: UsageReceipt, signature: Hex, digest: Hex): Promise<boolean>;
  /**
   * Checks one settlement against the receipts of its lane; one above them waits for its receipts
   * (flagged when its grace is up without them). Resolves once it passed, was flagged or waits.
   */
  onSettled(s: LaneSettlement): Promise<void>;
  /** Receipts of these lanes were stored (a batch was fetched): pending settlements they cover pass. */
  onReceipts(lanes: Iterable<{ channelId: Hex; adapterId: Hex }>): void;
  /** Settlements waiting for their receipts, oldest first. */
  pendingSettlements(): PendingSettlement[];
  /** Waits for slashes and settlement look-ups in flight (not for pending settlements' grace). */
  idle(): Promise<void>;
  /** Drops pending settlement checks and their timers (the next start reads the settlements again). */
  stop(): void;
}

function revertName(error: unknown): string | undefined {
  const reverted = error instanceof ViemBaseError ? (error.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null) : null;
  return reverted?.data?.errorName;
}

export function createWatcher(settings: WatcherSettings, c: WatcherComponents): Watcher {
  const inFlight = new Map<string, Promise<void>>();
  const enabled = settings.slash && c.walletClient !== undefined;
  const settlements = createSettlementChecks(settings.settlements, c);

  /** Simulates, sends and waits for one slash; a lost race with another watcher counts as done. */
  async function submit(what: { node: Address; seq: bigint; set: (status: 'submitted' | 'slashed' | 'failed', tx?: Hex) => void }, call: { functionName: 'slashBatch' | 'slashReceipts'; args: readonly unknown[] }): Promise<void> {
    const wallet = c.walletClient;
    if (!wallet) return;
    const request = { address: c.deployment.contracts.nodeRegistry, abi: nodeRegistryAbi, functionName: call.functionName, args: call.args, account: wallet.account } as Parameters<PublicClient['simulateContract']>[0];
    try {
      const simulated = await c.publicClient.simulateContract(request);
      const hash = await wallet.writeContract(simulated.request as Parameters<typeof wallet.writeContract>[0]);
      what.set('submitted', hash);
      await waitForSuccess(c.publicClient, hash, `${call.functionName} against ${what.node}`);
      what.set('slashed', hash);
      c.metrics?.slashes.inc({ result: 'slashed' });
      c.chainView.forget(what.node);
      c.log.warn({ node: what.node, seq: what.seq.toString(), tx: hash, proof: call.functionName }, 'equivocating node slashed');
    } catch (error) {
      let why = revertName(error);
      why ??= await c.publicClient.simulateContract(request).then(() => undefined, revertName);
      if (why === 'NodeRegistryAlreadySlashed' || why === 'NodeRegistryBatchAlreadySlashed') {
        what.set('slashed');
        c.metrics?.slashes.inc({ result: 'already_slashed' });
        c.log.info({ node: what.node, seq: what.seq.toString() }, 'equivocation already slashed by another watcher');
        return;
      }
      what.set('failed');
      c.metrics?.slashes.inc({ result: 'failed' });
      c.log.error({ err: new SlashSubmitError(what.node, what.seq, error) }, 'slash failed');
    }
  }

  function once(key: string, job: () => Promise<void>): Promise<void> {
    const running = inFlight.get(key);
    if (running) return running;
    const p = job().finally(() => inFlight.delete(key));
    inFlight.set(key, p);
    return p;
  }

  const batched = (r: PeerReceipt) => batchEvidence(c.store, r);

  function receiptProof(node: Address, seq: bigint, digestA: Hex, digestB: Hex, a: ReceiptEvidence | undefined, b: ReceiptEvidence | undefined): Promise<void> {
    return once(`receipt:${node}:${seq}`, async () => {
      c.store.recordEquivocation({ node, seq, digestA, digestB, foundAt: Date.now(), status: enabled ? 'pending' : 'disabled' });
      c.metrics?.equivocations.inc();
      c.log.warn({ node, seq: seq.toString(), digestA, digestB, slash: enabled }, 'equivocation found');
      if (!enabled || !a || !b) return;
      await submit({ node, seq, set: (status, tx) => c.store.updateEquivocation(node, seq, status, tx) }, { functionName: 'slashReceipts', args: [a, b] });
    });
  }

  return {
    onBatchEquivocation(a, b) {
      const node = a.node;
      const batchSeq = a.batch.batchSeq;
      return once(`batch:${node}:${batchSeq}`, async () => {
        c.store.recordBatchEquivocation({ node, batchSeq, rootA: a.batch.root, rootB: b.batch.root, foundAt: Date.now(), status: enabled ? 'pending' : 'disabled' });
        c.metrics?.equivocations.inc();
        c.log.warn({ node, batchSeq: batchSeq.toString(), rootA: a.batch.root, rootB: b.batch.root, slash: enabled }, 'batch equivocation found');
        const ha = decodeBatchHeader(a.message);
        const hb = decodeBatchHeader(b.message);
        if (!enabled || !ha.ok || !hb.ok) return;
        await submit(
          { node, seq: batchSeq, set: (status, tx) => c.store.updateBatchEquivocation(node, batchSeq, status, tx) },
          { functionName: 'slashBatch', args: [a.batch, ha.value.signature, b.batch, hb.value.signature] },
        );
      });
    },
    onEquivocation(a, b) {
      return receiptProof(a.node, a.receipt.seq, a.digest, b.digest, batched(a), batched(b));
    },
    async checkSigned(node, receipt, signature, digest) {
      const other = c.store.get(node, receipt.seq).find((r) => r.digest !== digest);
      if (!other) return false;
      await receiptProof(node, receipt.seq, digest, other.digest, { receipt, signature, batch: NO_BATCH, proof: [] }, batched(other));
      return true;
    },
    onSettled(s) {
      return once(`settled:${s.transactionHash}:${s.channelId}:${s.adapterId}`, () => settlements.check(s));
    },
    onReceipts: (lanes) => settlements.onReceipts(lanes),
    pendingSettlements: () => settlements.pending(),
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled(inFlight.values());
    },
    stop: () => settlements.stop(),
  };
}
