/**
 * The libp2p host of a node: TCP, noise, yamux, identify and gossipsub (StrictNoSign, message id
 * = keccak256 of the data, peer scoring on, application score from this node's penalties), with a
 * bounded number of connections. Topics are allowed one by one as the node subscribes to them, so
 * peers cannot make it track topics it does not follow.
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import { identify, type Identify } from '@libp2p/identify';
import type { PrivateKey } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { createLibp2p, type Libp2p } from 'libp2p';
import { messageIdOf } from './codec.ts';
import { DEFAULT_HEARTBEAT_MS, MAX_RPC_FRAME_BYTES } from './constants.ts';
import { peerScoreParams, SCORE_THRESHOLDS } from './scoring.ts';

/** A started or stopped libp2p node with gossipsub at `services.pubsub`. */
export type Host = Libp2p<{ identify: Identify; pubsub: GossipSub }>;

export interface HostSettings {
  listen: readonly string[];
  announce?: readonly string[];
  /** Most open connections. */
  maxPeers: number;
  heartbeatMs?: number;
  /** How long message ids are remembered to drop duplicates, ms. Default 120,000. */
  seenTtlMs?: number;
  /** How long a dial, or an inbound connection's upgrade (noise, yamux), may take, ms. Default libp2p's (10,000). */
  connectTimeoutMs?: number;
  /** Start listening now. Default false. */
  start?: boolean;
}

export interface HostComponents {
  privateKey: PrivateKey;
  /** Application-specific score of a peer (gossipsub P5, weight 1): 0 or negative. */
  appScore?: (peer: string) => number;
}

/** Creates the libp2p host (not started unless `settings.start`). */
export async function createHost(settings: HostSettings, components: HostComponents): Promise<Host> {
  return createLibp2p({
    privateKey: components.privateKey,
    start: settings.start ?? false,
    addresses: { listen: [...settings.listen], announce: settings.announce && settings.announce.length > 0 ? [...settings.announce] : undefined },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // Batch bodies are up to ~2 MiB: a 4 MiB receive window lets one cross without waiting for window updates.
    streamMuxers: [yamux({ streamOptions: { initialStreamWindowSize: 4 * 1024 * 1024, maxStreamWindowSize: 16 * 1024 * 1024 } })],
    connectionManager: { maxConnections: settings.maxPeers, dialTimeout: settings.connectTimeoutMs, inboundUpgradeTimeout: settings.connectTimeoutMs },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictNoSign',
        msgIdFn: (msg) => messageIdOf(msg.data),
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        emitSelf: false,
        heartbeatInterval: settings.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
        seenTTL: settings.seenTtlMs ?? 120_000,
        maxInboundDataLength: MAX_RPC_FRAME_BYTES,
        allowedTopics: [],
        scoreParams: peerScoreParams(components.appScore ?? (() => 0)),
        scoreThresholds: SCORE_THRESHOLDS,
      }),
    },
  });
}

/** The parts of gossipsub's router the network uses that its exported interface does not declare. */
export interface Router {
  getMeshPeers(topic: string): string[];
  getScore(peerId: string): number;
  allowedTopics: Set<string> | null;
  score: { params: { topics: Record<string, unknown> } };
}

/** The router behind `host.services.pubsub`. */
export function routerOf(host: Host): Router {
  return host.services.pubsub as unknown as Router;
}
