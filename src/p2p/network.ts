/**
 * The node's P2P network (docs/p2p.md): commits this node's receipts in signed batches and
 * publishes their headers, follows its ring neighbours (fetches and checks every batch of theirs),
 * samples random others, runs the watcher, announces itself, and keeps the connections all of
 * that needs. Parts are created here from settings and collaborators, started in order and
 * stopped in reverse.
 */
import type { PeerId } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import type { Registry } from 'prom-client';
import { isAddressEqual, type Account, type Address, type Chain, type Hex, type LocalAccount, type PublicClient, type Transport, type WalletClient } from 'viem';
import type { Deployment } from '../chain/deployment.ts';
import { usageReceiptDigest, type UsageReceipt, type Voucher } from '../chain/eip712.ts';
import { openPeerDatabase } from '../ledger/peerDatabase.ts';
import { createPeerReceiptStore, type AdapterUsage, type PeerReceipt, type PeerReceiptStore } from '../ledger/peerReceipts.ts';
import type { SignedReceipt } from '../ledger/receipts.ts';
import { createLogger, type Logger } from '../log.ts';
import { createAnnouncer, type NodeStatus } from './announcer.ts';
import { createAuditor, type AuditResult, type ReceivedBatch } from './auditor.ts';
import { decodeBatchEntry, encodeBatchHeader } from './batchCodec.ts';
import { createBatcher } from './batcher.ts';
import { createBatchServer } from './batchProtocol.ts';
import { createChainFollower } from './chainEvents.ts';
import { createChainView, type ChainView } from './chainView.ts';
import { domainSeparator, receiptDigestOf } from './codec.ts';
import * as K from './constants.ts';
import { createDialer } from './dialer.ts';
import { batchEvidence, type ReceiptEvidence } from './evidence.ts';
import { P2PConfigError, P2PDecodeError, P2PNotRunningError } from './errors.ts';
import { createHost, routerOf, type Host } from './host.ts';
import { createPeerLimits, createPeerPenalties } from './limits.ts';
import { createNetworkMetrics, type NetworkMetrics } from './metrics.ts';
import { loadOrCreatePeerKey } from './peerKey.ts';
import { ringNeighbours } from './ring.ts';
import { createRoutingTable, type RoutingTable } from './routing.ts';
import { SCORE_THRESHOLDS } from './scoring.ts';
import { createSignatureVerifier } from './signatures.ts';
import { createTopics, defineTopic, type TopicKind, type TopicSpec } from './topics.ts';
import { createAnnouncementValidator, createHeaderValidator, type Verdict } from './validate.ts';
import { createBatchVerifier } from './verifyBatch.ts';
import { createWatcher, type Watcher } from './watcher.ts';

export type { NodeStatus } from './announcer.ts';

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
  announceIntervalMs?: number;
  redialIntervalMs?: number;
  chainPollMs?: number;
  heartbeatMs?: number;
  seenTtlMs?: number;
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

/** Creates the network (call `start()`). */
export async function createNetwork(p: CreateNetworkParameters): Promise<Network> {
  const o = p.options;
  const log = p.log ?? createLogger({ name: 'p2p' });
  const chainId = p.deployment.chainId;
  const self = p.account.address;
  for (const [key, list] of [['listen', o.listen], ['announce', o.announce], ['bootstrap', o.bootstrap]] as const) {
    for (const a of list ?? []) {
      try {
        multiaddr(a);
      } catch (cause) {
        throw new P2PConfigError(key, `has an invalid multiaddr ${JSON.stringify(a)}`, { cause });
      }
    }
  }
  const maxPeers = o.maxPeers ?? 50;
  const penalties = createPeerPenalties();
  const host = await createHost(
    { listen: o.listen ?? ['/ip4/127.0.0.1/tcp/0'], announce: o.announce, maxPeers, heartbeatMs: o.heartbeatMs, seenTtlMs: o.seenTtlMs },
    { privateKey: await loadOrCreatePeerKey(o.peerKeyFile), appScore: (peer) => penalties.score(peer) },
  );
  const router = routerOf(host);
  const selfPeer = host.peerId.toString();
  const graylisted = (peer: string) => router.getScore(peer) < SCORE_THRESHOLDS.graylistThreshold;
  const db = openPeerDatabase(p.storeFile, (movedTo, cause) => log.warn({ err: cause, movedTo }, 'the P2P store was unreadable; moved aside and started anew'));
  const store = createPeerReceiptStore(
    db,
    (entry) => {
      const d = decodeBatchEntry(entry);
      if (!d.ok) throw new P2PDecodeError('stored batch entry', `does not decode: ${d.reason}`);
      return d.value.receipt;
    },
    { perNode: o.peerReceiptsPerNode ?? K.DEFAULT_PEER_RECEIPTS_PER_NODE, total: o.peerReceiptsTotal ?? K.DEFAULT_PEER_RECEIPTS_TOTAL, retentionMs: o.retentionMs ?? K.DEFAULT_RETENTION_MS },
  );

  // The registry index: every registered node and its registered multiaddrs, from NodeRegistry's events.
  const registered = new Map<Address, string[]>();
  let synced = false;
  const chainView = createChainView({
    publicClient: p.publicClient,
    deployment: p.deployment,
    lookupsPerS: o.chainLookupsPerS,
    isRegistered: (node) => (synced ? registered.has(node) : undefined),
  });
  const verifier = createSignatureVerifier();
  const routing = createRoutingTable();
  const topics = createTopics({
    host,
    limits: createPeerLimits({ ratePerS: o.peerMessagesPerS ?? K.DEFAULT_PEER_MESSAGES_PER_S, concurrency: K.DEFAULT_PEER_CONCURRENCY }),
    penalties,
    get metrics() {
      return metrics;
    },
    log,
  });
  let metrics: NetworkMetrics | undefined;
  if (p.registry) {
    metrics = createNetworkMetrics({
      registry: p.registry,
      collect: (m) => {
        m.peers.set(host.getConnections().length === 0 ? 0 : host.getPeers().length);
        const batchTopics = topics.names().filter((t) => t !== nodesTopic);
        m.meshPeers.set({ topic: 'nodes' }, router.getMeshPeers(nodesTopic).length);
        m.meshPeers.set({ topic: 'batches' }, batchTopics.reduce((n, t) => n + router.getMeshPeers(t).length, 0));
        m.receiptsStored.set(store.count());
      },
    });
  }

  let followed = new Set<Address>();
  const follows = (node: Address) => followed.has(node);
  const watcher = createWatcher({ slash: o.slash ?? true }, { store, chainView, deployment: p.deployment, publicClient: p.publicClient, walletClient: p.walletClient, self, follows, log, metrics });
  const assumedCredit = o.assumedCreditLimit ?? 10n ** 18n;
  const verifyBatch = createBatchVerifier({ deployment: p.deployment, chainView, verifier, creditLimitOf: (node) => routing.get(node)?.creditLimit ?? assumedCredit });
  const validateHeader = createHeaderValidator({ deployment: p.deployment, chainView, verifier, store });
  const validateAnnouncement = createAnnouncementValidator({ chainId, chainView, verifier, latestFrom: (node) => routing.latestFrom(node), isRegistered: (node) => (synced ? registered.has(node) : undefined) });
  const receiptListeners = new Set<(r: ReceivedReceipt) => void>();
  const batchListeners = new Set<(b: ReceivedBatch) => void>();

  const peerOf = (node: Address): string | undefined => {
    const announced = routing.get(node)?.peerId;
    if (announced) return announced;
    for (const a of registered.get(node) ?? []) {
      try {
        const peer = multiaddr(a).getComponents().find((c) => c.name === 'p2p')?.value;
        if (peer) return peer;
      } catch {
        // not a multiaddr: skipped
      }
    }
    return undefined;
  };
  const protocol = K.batchProtocol(chainId);
  const auditor = createAuditor(
    { sampleIntervalMs: o.sampleIntervalMs, sampleReceipts: o.sampleReceipts },
    {
      host,
      protocol,
      deployment: p.deployment,
      store,
      verifyBatch,
      verifier,
      watcher,
      penalties,
      peerOf,
      holdersOf: (node) => host.services.pubsub.getSubscribers(K.batchesTopic(chainId, node)).map((x) => x.toString()),
      sampleCandidates: () => routing.list().map((a) => a.node).filter((n) => !isAddressEqual(n, self) && !followed.has(n)),
      onBatch: (b) => {
        for (const l of batchListeners) l(b);
        for (const r of b.receipts) for (const l of receiptListeners) l({ node: b.node, digest: r.digest, seq: r.receipt.seq, receipt: r.receipt, receivedAt: b.receivedAt });
      },
      log,
      metrics,
    },
  );

  /** The row of the topic table for `node`'s batch headers. */
  const batchTopic = (node: Address): TopicSpec =>
    defineTopic({
    kind: 'batches',
    name: K.batchesTopic(chainId, node),
    maxBytes: K.MAX_HEADER_MESSAGE_BYTES,
    validate: (data) => validateHeader(data, node),
    onAccept(v, from: PeerId) {
      const h = v.header;
      if (!h || isAddressEqual(node, self)) return;
      const added = store.addHeader(node, h.batch, encodeBatchHeader(h), Date.now());
      const conflicting = added.others.find((x) => x.batch.root !== h.batch.root);
      if (conflicting) void watcher.onBatchEquivocation(conflicting, store.headers(node, h.batch.batchSeq).find((x) => x.batch.root === h.batch.root)!);
      if (followed.has(node)) auditor.fetch(node, h.batch, from);
    },
    });
  const nodesTopic = K.nodesTopic(chainId);
  /** The topic table: announcements and this node's batches; followed nodes' batch topics join and leave as the ring changes. */
  const table: TopicSpec[] = [
    defineTopic({
      kind: 'nodes',
      name: nodesTopic,
      maxBytes: K.MAX_ANNOUNCEMENT_MESSAGE_BYTES,
      validate: validateAnnouncement,
      onAccept: (v) => v.announcement && routing.update(v.announcement),
    }),
    batchTopic(self),
  ];

  const followCount = o.follow ?? K.DEFAULT_FOLLOW;
  let neighbours: Address[] = [];
  // The ring is recomputed only when the registry index changed (an O(N log N) sort of N hashes).
  let indexVersion = 0;
  let followedVersion = -1;
  function refollow(): void {
    if (followedVersion === indexVersion) return;
    followedVersion = indexVersion;
    const ring = ringNeighbours(self, registered.keys(), followCount);
    neighbours = [...ring.followees, ...ring.followers];
    const next = new Set<Address>([...ring.followees, ...(o.followNodes ?? [])].filter((n) => !isAddressEqual(n, self)));
    for (const n of followed) if (!next.has(n)) topics.remove(K.batchesTopic(chainId, n));
    for (const n of next) topics.add(batchTopic(n));
    followed = next;
  }

  const follower = createChainFollower({
    publicClient: p.publicClient,
    deployment: p.deployment,
    log,
    pollMs: o.chainPollMs ?? K.DEFAULT_CHAIN_POLL_MS,
    onEndpoints: (node, _url, addrs) => {
      if (!registered.has(node)) indexVersion += 1;
      registered.set(node, [...addrs]);
    },
    onSettled: (s) => void watcher.onSettled(s),
    onSynced: () => {
      synced = true;
      if (running) refollow();
    },
  });
  const dialer = createDialer(
    { bootstrap: o.bootstrap, redialIntervalMs: o.redialIntervalMs, maxPeers },
    {
      host,
      targets: () => neighbours.flatMap((n) => [...((o.dialRegistered ?? true) ? (registered.get(n) ?? []) : []), ...(routing.get(n)?.multiaddrs ?? [])]),
      log,
    },
  );
  const multiaddrs = () => host.getMultiaddrs().map((m) => m.toString());
  const announcer = p.status
    ? createAnnouncer(
        { intervalMs: o.announceIntervalMs, creditLimit: o.creditLimit },
        {
          account: p.account,
          chainId,
          peerId: selfPeer,
          multiaddrs,
          status: p.status,
          routing,
          publish: async (data) => void (await host.services.pubsub.publish(nodesTopic, data)),
          networkSize: () => registered.size,
          log,
          metrics,
        },
      )
    : undefined;
  const batcher = createBatcher(
    { intervalMs: o.batchIntervalMs },
    {
      account: p.account,
      deployment: p.deployment,
      store,
      publish: async (header) => {
        await host.services.pubsub.publish(K.batchesTopic(chainId, self), header);
        metrics?.published.inc({ topic: 'batches' });
      },
      log,
    },
  );
  const receiptDomain = domainSeparator(chainId, p.deployment.contracts.nodeRegistry);
  const server = createBatchServer({
    host,
    protocol,
    store,
    leafOf: (entry) => receiptDigestOf(receiptDomain, entry.subarray(0, 352)),
    limits: createPeerLimits({ ratePerS: o.peerRequestsPerS ?? K.DEFAULT_PEER_REQUESTS_PER_S, concurrency: K.MAX_PEER_STREAMS }),
    graylisted,
    log,
  });
  let pruneTimer: NodeJS.Timeout | undefined;
  const prune = () => {
    try {
      const removed = store.prune();
      if (removed > 0) log.info({ removed }, 'pruned peer receipts past their quota or retention');
    } catch (err) {
      log.warn({ err }, 'pruning peer receipts failed');
    }
  };

  let running = false;
  return {
    peerId: selfPeer,
    topics: { nodes: nodesTopic, batches: K.batchesTopic(chainId, self) },
    routing,
    store,
    watcher,
    chainView,
    host,
    async start() {
      if (running) return;
      await host.start();
      await server.start();
      for (const spec of table) topics.add(spec);
      running = true;
      await follower.poll();
      refollow();
      follower.start();
      dialer.start();
      batcher.start();
      announcer?.start();
      auditor.start();
      prune();
      pruneTimer = setInterval(prune, 60_000).unref();
      log.info({ peerId: selfPeer, addrs: multiaddrs(), following: [...followed] }, 'p2p network started');
    },
    async stop() {
      if (!running) return;
      running = false;
      clearInterval(pruneTimer);
      auditor.stop();
      announcer?.stop();
      await batcher.stop();
      dialer.stop();
      follower.stop();
      await watcher.idle();
      await server.stop();
      await host.stop();
      db.close();
    },
    async publishReceipt(signed, voucher) {
      if (!running) throw new P2PNotRunningError('publish a receipt');
      batcher.add({ receipt: signed.receipt, voucher: voucher?.voucher, voucherSignature: voucher?.signature }, signed.digest);
    },
    flush: () => batcher.flush(),
    async announce() {
      if (!running) throw new P2PNotRunningError('announce');
      await announcer?.announce();
    },
    multiaddrs,
    dial: (address, signal) => dialer.dial(address, signal),
    peers: () => host.getPeers().map((x) => x.toString()),
    meshPeers: (topic) => router.getMeshPeers(topic),
    score: (peerId) => router.getScore(peerId),
    following: () => [...followed],
    topicOf: (node) => K.batchesTopic(chainId, node),
    onReceipt(listener) {
      receiptListeners.add(listener);
      return () => receiptListeners.delete(listener);
    },
    onBatch(listener) {
      batchListeners.add(listener);
      return () => batchListeners.delete(listener);
    },
    usage: (node) => store.usage(node),
    receiptsOf: (node, seq) => store.get(node, seq).map((receipt) => ({ receipt, evidence: batchEvidence(store, receipt) })),
    checkSigned: (node, receipt, signature) => watcher.checkSigned(node, receipt, signature, usageReceiptDigest({ receipt, chainId, nodeRegistry: p.deployment.contracts.nodeRegistry })),
    sample: () => auditor.sample(),
    idle: () => auditor.idle(),
    counts: () => topics.counts(),
  };

}
