/** The P2P network's settings, collaborators and interface (the wiring is in network.ts). */
import type { Registry } from 'prom-client';
import type { Account, Address, Chain, Hex, LocalAccount, PublicClient, Transport, WalletClient } from 'viem';
import type { Deployment } from '../chain/deployment.ts';
import type { UsageReceipt, Voucher } from '../chain/eip712.ts';
import type { AdapterUsage, PeerReceipt, PeerReceiptStore } from '../ledger/peerReceipts.ts';
import type { SignedReceipt } from '../ledger/receipts.ts';
import type { Logger } from '../log.ts';
import type { NodeStatus } from './announcer.ts';
import type { AuditResult, ReceivedBatch } from './auditor.ts';
import type { ChainView } from './chainView.ts';
import type { ReceiptEvidence } from './evidence.ts';
import type { Host } from './host.ts';
import type { RoutingTable } from './routing.ts';
import type { TopicKind } from './topics.ts';
import type { Verdict } from './validate.ts';
import type { Watcher } from './watcher.ts';

/** Network settings (config `p2p.*`); every field but the key file has a default (src/p2p/constants.ts). */
export interface NetworkOptions {
  /** Listen multiaddrs. Default ['/ip4/127.0.0.1/tcp/0']. */
  listen?: readonly string[];
  /** Multiaddrs announced instead of the listen ones (behind NAT, for example). */
  announce?: readonly string[];
  /** Peers dialled at start and redialled when disconnected (with /p2p/<peer id>). */
  bootstrap?: readonly string[];
  /** Most connections. Default 50. */
  maxPeers?: number;
  /** Persistent libp2p key file. */
  peerKeyFile: string;
  /** Submit equivocation proofs automatically. Default true. */
  slash?: boolean;
  /** How long a settlement above the receipts held of its lane waits for more before it is flagged, ms (0: at once). Default `DEFAULT_SETTLEMENT_GRACE_MS`. */
  settlementGraceMs?: number;
  announceIntervalMs?: number;
  redialIntervalMs?: number;
  chainPollMs?: number;
  /** Largest block range per `eth_getLogs` (RPC providers cap it). Default 5,000. */
  chainMaxRange?: bigint;
  heartbeatMs?: number;
  seenTtlMs?: number;
  /** How long a dial, or an inbound connection's encryption and muxer negotiation, may take, ms. Default libp2p's (10,000). */
  connectTimeoutMs?: number;
  /** Per-lane credit this node extends (announced). Default 0. */
  creditLimit?: bigint;
  /** Credit limit assumed for a node that has not announced one. Default 10^18. */
  assumedCreditLimit?: bigint;
  /** Dial the multiaddrs ring neighbours registered in NodeRegistry. Default true. */
  dialRegistered?: boolean;
  /** A batch is committed when its oldest receipt is this old, ms. Default 250. */
  batchIntervalMs?: number;
  /** Ring successors followed. Default 4. */
  follow?: number;
  /** Nodes followed besides the ring successors (the nodes this operator pays, for example). */
  followNodes?: readonly Address[];
  /** Random audits of unfollowed nodes, ms between them (0 = none). Default 10,000. */
  sampleIntervalMs?: number;
  sampleReceipts?: number;
  /** Gossip messages validated per second per peer. Default 200. */
  peerMessagesPerS?: number;
  /** Batch-protocol requests served per second per peer. Default 20. */
  peerRequestsPerS?: number;
  /** Chain look-ups started per second. Default 20. */
  chainLookupsPerS?: number;
  /** Receipts kept per followed node and in all, and for how long, ms. */
  peerReceiptsPerNode?: number;
  peerReceiptsTotal?: number;
  retentionMs?: number;
}

export interface CreateNetworkParameters {
  options: NetworkOptions;
  /** The node key: signs batches and announcements. */
  account: LocalAccount;
  deployment: Deployment;
  publicClient: PublicClient;
  /** Sends slashes (the prover reward goes to its account). */
  walletClient?: WalletClient<Transport, Chain | undefined, Account>;
  /** The P2P store's database file (batches, followed nodes' receipts, equivocations, flags), e.g. `<dataDir>/p2p.db`. */
  storeFile: string;
  /** Metrics registry of the node. */
  registry?: Registry;
  /** Current status for announcements; none = no announcements. */
  status?: () => NodeStatus;
  log?: Logger;
}

/** A receipt of another node from a checked batch, as listeners see it. */
export interface ReceivedReceipt {
  node: Address;
  digest: Hex;
  seq: bigint;
  receipt: UsageReceipt;
  /** Unix ms it was stored. */
  receivedAt: number;
}

export interface Network {
  readonly peerId: string;
  /** The announcements topic, and this node's batches topic. */
  readonly topics: { nodes: string; batches: string };
  readonly routing: RoutingTable;
  readonly store: PeerReceiptStore;
  readonly watcher: Watcher;
  readonly chainView: ChainView;
  readonly host: Host;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Commits one of this node's receipts to the next batch, with the voucher its request carried (none in open mode). */
  publishReceipt(signed: Pick<SignedReceipt, 'receipt' | 'signature'> & { digest?: Hex }, voucher?: { voucher: Voucher; signature: Hex }): Promise<void>;
  /** Commits the pending batch now. */
  flush(): Promise<void>;
  /** Publishes an announcement now. */
  announce(): Promise<void>;
  /** The multiaddrs others can dial, with /p2p/<peer id>. */
  multiaddrs(): string[];
  dial(address: string, signal?: AbortSignal): Promise<void>;
  peers(): string[];
  meshPeers(topic: string): string[];
  score(peerId: string): number;
  /** The nodes whose every batch this node fetches. */
  following(): Address[];
  /** The batches topic of `node`. */
  topicOf(node: Address): string;
  /** Calls `listener` for each receipt of a checked batch of another node; returns an unsubscribe function. */
  onReceipt(listener: (r: ReceivedReceipt) => void): () => void;
  onBatch(listener: (b: ReceivedBatch) => void): () => void;
  /** What the receipts held of `node` say it served, per adapter lane (anyone may audit any node). */
  usage(node: Address): AdapterUsage[];
  /** The receipts held of (node, seq), each with the proof that the node committed to it. */
  receiptsOf(node: Address, seq: bigint): Array<{ receipt: PeerReceipt; evidence?: ReceiptEvidence }>;
  /** Checks a receipt `node` signed on its own against its batches held here; proves a contradiction. */
  checkSigned(node: Address, receipt: UsageReceipt, signature: Hex): Promise<boolean>;
  /** Audits one random unfollowed node now (none: no node to audit). */
  sample(): Promise<AuditResult | undefined>;
  /** Resolves when no batch fetch is queued or running. */
  idle(): Promise<void>;
  /** Messages received by topic kind and result. */
  counts(): Record<TopicKind, Record<Verdict, number>>;
}
