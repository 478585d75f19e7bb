import type { Account, Chain, LocalAccount, PublicClient, Transport, WalletClient } from 'viem';
import { createChainClients } from '../chain/clients.ts';
import type { Deployment } from '../chain/deployment.ts';
import type { Config } from '../config/schema.ts';
import type { DatabaseSync } from 'node:sqlite';
import { createLaneStore, type LaneStore } from '../ledger/lanes.ts';
import type { ReceiptLedger } from '../ledger/receipts.ts';
import { createChannelReader } from '../payments/channels.ts';
import { createPaidGate, type PaidGate } from '../payments/paid.ts';
import { createSettlementWorker, type SettlementWorker } from '../payments/settlement.ts';
import type { Logger } from '../log.ts';
import type { NodeAdapters } from './adapters.ts';
import { NodeConfigError } from './errors.ts';
import { createTermsBook, withAnnouncedTerms, type TermsBook } from './terms.ts';

/** Paid mode's parts: the gate in front of requests, the split terms it serves at, and the worker that settles vouchers. */
export interface PaidMode {
  gate: PaidGate;
  terms: TermsBook;
  settlement: SettlementWorker;
  /** Lane state (the status endpoints read it). */
  lanes: LaneStore;
  /** Chain clients paid mode reads and settles with. */
  publicClient: PublicClient;
}

/** Builds paid mode from the config: channel reads over `chain.rpcUrl`, lane state in the ledger, settlement signed by the node key. */
export async function createPaidMode(p: {
  config: Config;
  account: LocalAccount;
  deployment?: Deployment;
  db: DatabaseSync;
  ledger: ReceiptLedger;
  adapters: NodeAdapters;
  /** Announced `max_tokens` defaults and caps (requirements). */
  limits: { defaultMaxTokens: number; maxTokensCap: number; contextLength: number };
  /** Chain clients to use instead of `chain.rpcUrl` (tests on an in-process chain). */
  chain?: { publicClient: PublicClient; walletClient?: WalletClient<Transport, Chain | undefined, Account> };
  log: Logger;
  /** Before each settlement is sent (the P2P network's flush of waiting receipts). */
  beforeSettle?: () => Promise<void>;
}): Promise<PaidMode> {
  const { config, deployment } = p;
  if (!deployment) {
    throw new NodeConfigError('chain.deployment', 'paid mode needs the contract deployment file', 'Pass --deployment FILE (written by `openlora chain deploy`), or run with --set payments.mode=open.');
  }
  // The chain id comes from the deployment, so the node starts (and serves within credit) while the RPC is down.
  const { publicClient, walletClient } = p.chain ?? (await createChainClients({ rpcUrl: config.chain.rpcUrl, account: p.account, chainId: deployment.chainId, timeoutMs: config.chain.rpcTimeoutMs }));
  if (!walletClient) throw new NodeConfigError('node.keyFile', 'paid mode needs a wallet client to settle', 'Give the node key (it signs settlement transactions).');
  const pay = config.payments;
  const channels = createChannelReader({ publicClient, paymentChannels: deployment.contracts.paymentChannels, maxEntries: pay.channelCacheSize, lookupsPerSecond: pay.channelLookupsPerSecond });
  const lanes = createLaneStore(p.db);
  const terms = createTermsBook({}, { publicClient, contracts: deployment.contracts, lanes: () => p.adapters.list().map((a) => a.laneId), log: p.log.child({ component: 'terms' }) });
  const paidGate = createPaidGate({
    node: p.account.address,
    chainId: deployment.chainId,
    paymentChannels: deployment.contracts.paymentChannels,
    token: deployment.contracts.token,
    channels,
    lanes,
    ledger: p.ledger,
    creditLimit: BigInt(pay.creditLimit),
    channelCreditLimit: BigInt(pay.channelCreditLimit),
    accountCacheSize: pay.accountCacheSize,
    limits: p.limits,
    priceOf: (id) => p.adapters.priceOf(id),
    servesLane: (id) => p.adapters.servesLane(id),
  });
  const settlement = createSettlementWorker(
    { epochMs: pay.settleEpochMs, threshold: BigInt(pay.settleThreshold), confirmations: pay.settleConfirmations },
    { lanes, channels, publicClient, walletClient, paymentChannels: deployment.contracts.paymentChannels, onSettled: (c, a, s) => paidGate.noteSettled(c, a, s), termsChangeAt: (adapterId) => terms.nextChangeAt(adapterId), beforeSend: p.beforeSettle },
  );
  return { gate: withAnnouncedTerms(paidGate, terms), terms, settlement, lanes, publicClient };
}
