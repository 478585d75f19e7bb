/**
 * The libp2p host of a node: TCP, noise, yamux, identify and gossipsub (StrictNoSign, message id
 * = keccak256 of the data, peer scoring on), with a bounded number of connections.
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

export interface CreateHostParameters {
  privateKey: PrivateKey;
  listen: readonly string[];
  announce?: readonly string[];
  /** Most open connections. */
  maxPeers: number;
  /** Topics scored (the node's two topics). */
  topics: readonly string[];
  heartbeatMs?: number;
  /** How long message ids are remembered to drop duplicates, ms. Default 120,000. */
  seenTtlMs?: number;
  /** Start listening now. Default false. */
  start?: boolean;
}

/** Creates the libp2p host (not started unless `start`). */
export async function createHost(p: CreateHostParameters): Promise<Host> {
  return createLibp2p({
    privateKey: p.privateKey,
    start: p.start ?? false,
    addresses: { listen: [...p.listen], announce: p.announce && p.announce.length > 0 ? [...p.announce] : undefined },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: p.maxPeers },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictNoSign',
        msgIdFn: (msg) => messageIdOf(msg.data),
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        emitSelf: false,
        heartbeatInterval: p.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
        seenTTL: p.seenTtlMs ?? 120_000,
        maxInboundDataLength: MAX_RPC_FRAME_BYTES,
        allowedTopics: [...p.topics],
        scoreParams: peerScoreParams(p.topics),
        scoreThresholds: SCORE_THRESHOLDS,
      }),
    },
  });
}
