/**
 * The node's P2P network (docs/p2p.md): commits this node's receipts in signed batches and
 * publishes their headers, follows its ring neighbours (fetches and checks every batch of theirs),
 * samples random others, runs the watcher, announces itself, and keeps the connections all of
 * that needs. Parts are created here from settings and collaborators, started in order and
 * stopped in reverse.
 */
import type { PeerId } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { isAddressEqual, type Address } from 'viem';
import { usageReceiptDigest } from '../chain/eip712.ts';
import { openPeerDatabase } from '../ledger/peerDatabase.ts';
import { createPeerReceiptStore } from '../ledger/peerReceipts.ts';
import { createLogger } from '../log.ts';
import { createAnnouncer } from './announcer.ts';
import { createAuditor, type ReceivedBatch } from './auditor.ts';
import { decodeBatchEntry, encodeBatchHeader } from './batchCodec.ts';
import { createBatcher } from './batcher.ts';
import { createBatchServer } from './batchProtocol.ts';
import { createChainFollower } from './chainEvents.ts';
import { createChainView } from './chainView.ts';
import { domainSeparator, receiptDigestOf } from './codec.ts';
import * as K from './constants.ts';
import { createDialer } from './dialer.ts';
import { batchEvidence } from './evidence.ts';
import { P2PConfigError, P2PDecodeError, P2PNotRunningError } from './errors.ts';
import { createHost, routerOf } from './host.ts';
import { createPeerLimits, createPeerPenalties } from './limits.ts';
import { createNetworkMetrics, type NetworkMetrics } from './metrics.ts';
import { loadOrCreatePeerKey } from './peerKey.ts';
import { ringNeighbours } from './ring.ts';
import { createRoutingTable } from './routing.ts';
import { SCORE_THRESHOLDS } from './scoring.ts';
import { createSignatureVerifier } from './signatures.ts';
import { createTopics, defineTopic, type TopicSpec } from './topics.ts';
import { createAnnouncementValidator, createHeaderValidator } from './validate.ts';
import { createBatchVerifier } from './verifyBatch.ts';
import { createWatcher } from './watcher.ts';

import type { CreateNetworkParameters, Network, ReceivedReceipt } from './networkTypes.ts';

/** A part of the network: started in order, stopped in reverse. */
interface Part {
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

export type { NodeStatus } from './announcer.ts';
export type { CreateNetworkParameters, Network, NetworkOptions, ReceivedReceipt } from './networkTypes.ts';

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
    { listen: o.listen ?? ['/ip4/127.0.0.1/tcp/0'], announce: o.announce, maxPeers, heartbeatMs: o.heartbeatMs, seenTtlMs: o.seenTtlMs, connectTimeoutMs: o.connectTimeoutMs },
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
        m.settlementChecksPending.set(watcher.pendingSettlements().length);
      },
    });
  }

  let followed = new Set<Address>();
  const follows = (node: Address) => followed.has(node);
  // Settlements read before the registry index reached the chain head (the start-up re-read, in
  // block ranges) wait for the ring: who is followed is not known before.
  const { promise: ringKnown, resolve: ringIsKnown } = Promise.withResolvers<void>();
  const watcher = createWatcher(
    { slash: o.slash ?? true, settlements: { graceMs: o.settlementGraceMs ?? K.DEFAULT_SETTLEMENT_GRACE_MS } },
    { store, chainView, deployment: p.deployment, publicClient: p.publicClient, walletClient: p.walletClient, self, follows, ringKnown, log, metrics },
  );
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
        watcher.onReceipts(b.receipts.map((r) => r.receipt));
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
    maxRange: o.chainMaxRange,
    onEndpoints: (node, _url, addrs) => {
      if (!registered.has(node)) indexVersion += 1;
      registered.set(node, [...addrs]);
    },
    onSettled: (s) => void watcher.onSettled(s),
    onSynced: () => {
      synced = true;
      if (!running) return;
      refollow();
      ringIsKnown();
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
  /** The parts, started in this order and stopped in reverse. */
  const parts: Part[] = [
    host,
    server,
    { start: () => table.forEach((spec) => topics.add(spec)), stop: () => table.forEach((spec) => topics.remove(spec.name)) },
    {
      // Receipts are taken from here on; the registry index is read before following anyone.
      async start() {
        running = true;
        await follower.poll();
        refollow();
        follower.start();
      },
      stop() {
        running = false;
        follower.stop();
      },
    },
    dialer,
    batcher,
    ...(announcer ? [announcer] : []),
    { start: () => auditor.start(), stop: () => auditor.stop() },
    { start: () => void (prune(), (pruneTimer = setInterval(prune, 60_000).unref())), stop: () => clearInterval(pruneTimer) },
    // Stopped first: proofs in flight finish before anything else stops; settlements waiting for
    // their receipts are dropped (the next start reads every settlement from the chain again).
    { start: () => undefined, stop: () => (watcher.stop(), watcher.idle()) },
  ];
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
      for (const part of parts) await part.start();
      log.info({ peerId: selfPeer, addrs: multiaddrs(), following: [...followed] }, 'p2p network started');
    },
    async stop() {
      if (!running) return;
      for (const part of [...parts].reverse()) await part.stop();
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
