/**
 * The node's P2P network (protocol.md "Gossip"): gossips this node's receipts and announcements,
 * validates and keeps other nodes' receipts, runs the watcher, and keeps connections to bootstrap
 * peers and to the nodes registered in NodeRegistry.
 */
import type { DatabaseSync } from 'node:sqlite';
import { TopicValidatorResult } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import type { Registry } from 'prom-client';
import type { Account, Address, Chain, Hex, LocalAccount, PublicClient, Transport, WalletClient } from 'viem';
import type { Deployment } from '../chain/deployment.ts';
import type { Voucher } from '../chain/eip712.ts';
import { createPeerReceiptStore, type PeerReceiptStore } from '../ledger/peerReceipts.ts';
import type { SignedReceipt } from '../ledger/receipts.ts';
import { createLogger, type Logger } from '../log.ts';
import { createChainFollower } from './chainEvents.ts';
import { createChainView, type ChainView } from './chainView.ts';
import { announcementHash, decodeReceiptMessage, encodeAnnouncement, encodeReceiptMessage, type AnnouncedAdapter, type Announcement } from './codec.ts';
import { DEFAULT_ANNOUNCE_INTERVAL_MS, DEFAULT_CHAIN_POLL_MS, DEFAULT_REDIAL_INTERVAL_MS, nodesTopic, receiptsTopic } from './constants.ts';
import { P2PConfigError, P2PNotRunningError } from './errors.ts';
import { createHost, type Host } from './host.ts';
import { createNetworkMetrics, type NetworkMetrics } from './metrics.ts';
import { loadOrCreatePeerKey } from './peerKey.ts';
import { createRoutingTable, type RoutingTable } from './routing.ts';
import { createSignatureVerifier } from './signatures.ts';
import { createAnnouncementValidator, createReceiptValidator, type Verdict } from './validate.ts';
import { createWatcher, type Watcher } from './watcher.ts';

/** Network options (config `p2p.*`); every field but the key file has a default. */
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
  /** Dial the multiaddrs nodes register in NodeRegistry. Default true. */
  dialRegistered?: boolean;
}

/** What the node reports in its announcements. */
export interface NodeStatus {
  url: string;
  adapters: AnnouncedAdapter[];
  queueDepth: number;
  running: number;
  freeKvBlocks: number;
  totalKvBlocks: number;
}

export interface CreateNetworkParameters {
  options: NetworkOptions;
  /** The node key: signs announcements; its own receipts are published, not validated. */
  account: LocalAccount;
  deployment: Deployment;
  publicClient: PublicClient;
  /** Sends `slash` (the prover reward goes to its account). */
  walletClient?: WalletClient<Transport, Chain | undefined, Account>;
  /** The ledger database (peer receipts, equivocations, flags). */
  db: DatabaseSync;
  /** Metrics registry of the node. */
  registry?: Registry;
  /** Current status for announcements; none = no announcements. */
  status?: () => NodeStatus;
  log?: Logger;
}

/** An accepted receipt of another node, as listeners see it. */
export interface ReceivedReceipt {
  node: Address;
  digest: Hex;
  seq: bigint;
  receipt: SignedReceipt['receipt'];
  /** Unix ms it was accepted. */
  receivedAt: number;
}

export interface Network {
  readonly peerId: string;
  readonly topics: { receipts: string; nodes: string };
  readonly routing: RoutingTable;
  readonly store: PeerReceiptStore;
  readonly watcher: Watcher;
  readonly chainView: ChainView;
  readonly host: Host;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Publishes one of this node's receipts with the voucher its request carried (none in open mode). */
  publishReceipt(signed: Pick<SignedReceipt, 'receipt' | 'signature'>, voucher?: { voucher: Voucher; signature: Hex }): Promise<void>;
  /** Publishes an announcement now. */
  announce(): Promise<void>;
  /** The multiaddrs others can dial, with /p2p/<peer id>. */
  multiaddrs(): string[];
  dial(address: string, signal?: AbortSignal): Promise<void>;
  peers(): string[];
  meshPeers(topic: string): string[];
  score(peerId: string): number;
  /** Calls `listener` for each accepted receipt of another node; returns an unsubscribe function. */
  onReceipt(listener: (r: ReceivedReceipt) => void): () => void;
  /** Messages received by topic and result. */
  counts(): Record<string, Record<Verdict, number>>;
}

const RESULT: Record<Verdict, TopicValidatorResult> = { accept: TopicValidatorResult.Accept, ignore: TopicValidatorResult.Ignore, reject: TopicValidatorResult.Reject };

function decodeStored(message: Uint8Array) {
  const d = decodeReceiptMessage(message);
  if (!d.ok) throw new Error(`stored gossip receipt does not decode: ${d.reason}`);
  return d.value.receipt;
}

/** Creates the network (call `start()`). */
export async function createNetwork(p: CreateNetworkParameters): Promise<Network> {
  const o = p.options;
  const log = p.log ?? createLogger({ name: 'p2p' });
  const chainId = p.deployment.chainId;
  const topics = { receipts: receiptsTopic(chainId), nodes: nodesTopic(chainId) };
  for (const [key, list] of [['listen', o.listen], ['announce', o.announce], ['bootstrap', o.bootstrap]] as const) {
    for (const a of list ?? []) {
      try {
        multiaddr(a);
      } catch (cause) {
        throw new P2PConfigError(key, `has an invalid multiaddr ${JSON.stringify(a)}`, { cause });
      }
    }
  }
  const privateKey = await loadOrCreatePeerKey(o.peerKeyFile);
  const host = await createHost({
    privateKey,
    listen: o.listen ?? ['/ip4/127.0.0.1/tcp/0'],
    announce: o.announce,
    maxPeers: o.maxPeers ?? 50,
    topics: [topics.receipts, topics.nodes],
    heartbeatMs: o.heartbeatMs,
    seenTtlMs: o.seenTtlMs,
  });
  const pubsub = host.services.pubsub;
  // The router implements these; the exported GossipSub interface does not declare them.
  const router = pubsub as typeof pubsub & { getMeshPeers(topic: string): string[]; getScore(peerId: string): number };
  const selfPeer = host.peerId.toString();
  const store = createPeerReceiptStore(p.db, decodeStored);
  const chainView = createChainView({ publicClient: p.publicClient, deployment: p.deployment });
  const verifier = createSignatureVerifier();
  const routing = createRoutingTable();
  const counts: Record<string, Record<Verdict, number>> = {
    [topics.receipts]: { accept: 0, ignore: 0, reject: 0 },
    [topics.nodes]: { accept: 0, ignore: 0, reject: 0 },
  };
  let metrics: NetworkMetrics | undefined;
  if (p.registry) {
    metrics = createNetworkMetrics({
      registry: p.registry,
      collect: (m) => {
        m.peers.set(host.getConnections().length === 0 ? 0 : host.getPeers().length);
        for (const t of [topics.receipts, topics.nodes]) m.meshPeers.set({ topic: t }, router.getMeshPeers(t).length);
        m.receiptsStored.set(store.count());
      },
    });
  }
  const watcher = createWatcher({
    store,
    chainView,
    deployment: p.deployment,
    publicClient: p.publicClient,
    walletClient: p.walletClient,
    slash: o.slash ?? true,
    self: p.account.address,
    log,
    metrics,
  });
  const assumedCredit = o.assumedCreditLimit ?? 10n ** 18n;
  const validateReceipt = createReceiptValidator({
    deployment: p.deployment,
    chainView,
    verifier,
    store,
    creditLimitOf: (node) => routing.get(node)?.creditLimit ?? assumedCredit,
  });
  const validateAnnouncement = createAnnouncementValidator({ chainId, chainView, verifier, latestFrom: (node) => routing.latestFrom(node) });
  const listeners = new Set<(r: ReceivedReceipt) => void>();

  const count = (topic: string, result: Verdict, reason: string) => {
    counts[topic][result] += 1;
    metrics?.messages.inc({ topic, result, reason });
  };

  pubsub.topicValidators.set(topics.receipts, async (from: PeerId, msg) => {
    const v = await validateReceipt(msg.data);
    count(topics.receipts, v.result, v.reason);
    if (v.result !== 'accept' || !v.message || !v.node || !v.digest) {
      if (v.result === 'reject') log.debug({ peer: from.toString(), reason: v.reason }, 'rejected receipt');
      return RESULT[v.result];
    }
    const entry = { node: v.node, digest: v.digest, receipt: v.message.receipt, message: msg.data, receivedAt: Date.now() };
    const added = store.add(entry);
    if (added.status === 'duplicate') return RESULT.ignore;
    if (added.status === 'equivocation') void watcher.onEquivocation(added.conflicting, entry);
    for (const l of listeners) l({ node: v.node, digest: v.digest, seq: v.message.receipt.seq, receipt: v.message.receipt, receivedAt: entry.receivedAt });
    return RESULT.accept;
  });
  pubsub.topicValidators.set(topics.nodes, async (from: PeerId, msg) => {
    const v = await validateAnnouncement(msg.data);
    count(topics.nodes, v.result, v.reason);
    if (v.result === 'reject') log.debug({ peer: from.toString(), reason: v.reason }, 'rejected announcement');
    if (v.result === 'accept' && v.announcement) routing.update(v.announcement);
    return RESULT[v.result];
  });

  // Peers to keep connected: bootstrap ones from config, registered ones from NodeRegistry.
  const registered = new Map<Address, string[]>();
  const follower = createChainFollower({
    publicClient: p.publicClient,
    deployment: p.deployment,
    log,
    pollMs: o.chainPollMs ?? DEFAULT_CHAIN_POLL_MS,
    onEndpoints: (node, _url, addrs) => {
      if (node !== p.account.address) registered.set(node, [...addrs]);
    },
    onSettled: (s) => void watcher.onSettled(s),
  });

  let running = false;
  let redialTimer: NodeJS.Timeout | undefined;
  let announceTimer: NodeJS.Timeout | undefined;
  const dialing = new Set<string>();

  async function dial(address: string, signal?: AbortSignal): Promise<void> {
    await host.dial(multiaddr(address), { signal: signal ?? AbortSignal.timeout(5_000) });
  }

  function redial(): void {
    if (!running) return;
    const connected = new Set(host.getPeers().map((x) => x.toString()));
    if (connected.size >= (o.maxPeers ?? 50)) return;
    const targets = [...(o.bootstrap ?? []), ...((o.dialRegistered ?? true) ? [...registered.values()].flat() : [])];
    for (const address of targets) {
      let peer: string | undefined;
      try {
        peer = multiaddr(address).getComponents().find((c) => c.name === 'p2p')?.value;
      } catch {
        continue;
      }
      if (peer === selfPeer || (peer && connected.has(peer)) || dialing.has(address)) continue;
      dialing.add(address);
      dial(address)
        .catch((err: unknown) => log.debug({ err, address }, 'dial failed; will retry'))
        .finally(() => dialing.delete(address));
    }
  }

  async function announce(): Promise<void> {
    if (!running) throw new P2PNotRunningError('announce');
    if (!p.status) return;
    const s = p.status();
    const a: Announcement = {
      node: p.account.address,
      chainId,
      timestamp: BigInt(Date.now()),
      url: s.url,
      peerId: selfPeer,
      multiaddrs: multiaddrs().slice(0, 16),
      adapters: s.adapters.slice(0, 256),
      queueDepth: s.queueDepth,
      running: s.running,
      freeKvBlocks: s.freeKvBlocks,
      totalKvBlocks: s.totalKvBlocks,
      creditLimit: o.creditLimit ?? 0n,
    };
    const signature = await p.account.signMessage({ message: { raw: announcementHash(a) } });
    routing.update(a);
    await pubsub.publish(topics.nodes, encodeAnnouncement(a, signature));
    metrics?.published.inc({ topic: topics.nodes });
  }

  function multiaddrs(): string[] {
    return host.getMultiaddrs().map((m) => m.toString());
  }

  return {
    peerId: selfPeer,
    topics,
    routing,
    store,
    watcher,
    chainView,
    host,
    async start() {
      if (running) return;
      await host.start();
      pubsub.subscribe(topics.receipts);
      pubsub.subscribe(topics.nodes);
      running = true;
      await follower.poll();
      follower.start();
      redial();
      redialTimer = setInterval(redial, o.redialIntervalMs ?? DEFAULT_REDIAL_INTERVAL_MS);
      redialTimer.unref();
      if (p.status) {
        const tick = () => void announce().catch((err: unknown) => log.warn({ err }, 'announcement failed'));
        announceTimer = setInterval(tick, o.announceIntervalMs ?? DEFAULT_ANNOUNCE_INTERVAL_MS);
        announceTimer.unref();
      }
      log.info({ peerId: selfPeer, addrs: multiaddrs() }, 'p2p network started');
    },
    async stop() {
      if (!running) return;
      running = false;
      clearInterval(redialTimer);
      clearInterval(announceTimer);
      follower.stop();
      await watcher.idle();
      await host.stop();
      store.flush();
    },
    async publishReceipt(signed, voucher) {
      if (!running) throw new P2PNotRunningError('publish a receipt');
      const data = encodeReceiptMessage({ receipt: signed.receipt, signature: signed.signature, voucher: voucher?.voucher, voucherSignature: voucher?.signature });
      await pubsub.publish(topics.receipts, data);
      metrics?.published.inc({ topic: topics.receipts });
    },
    announce,
    multiaddrs,
    dial,
    peers: () => host.getPeers().map((x) => x.toString()),
    meshPeers: (topic) => router.getMeshPeers(topic),
    score: (peerId) => router.getScore(peerId),
    onReceipt(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    counts: () => structuredClone(counts),
  };
}
