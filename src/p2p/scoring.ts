/**
 * Gossipsub v1.1 peer-scoring parameters (see docs/p2p.md for the reasoning).
 *
 * Honest nodes validate before forwarding, so an honest peer never delivers an invalid message;
 * P4 (invalid deliveries, squared) is the one penalty that matters: one invalid message makes a
 * peer's score negative (pruned from the mesh at the next heartbeat, no gossip to it), two put it
 * below the graylist threshold (everything it sends is dropped unread). The counter decays by 1%
 * per second, so a peer that erred once (a registration it had cached a moment too long) recovers
 * in minutes. P3 (mesh delivery rate) is off: receipt traffic follows request traffic, and a quiet
 * network must not look like a lazy peer.
 */
import type { PeerScoreParams, PeerScoreThresholds, TopicScoreParams } from '@libp2p/gossipsub/score';

/** Score thresholds: gossip < 0 < ... ; graylist at -80 (two invalid messages). */
export const SCORE_THRESHOLDS: PeerScoreThresholds = {
  gossipThreshold: -10,
  publishThreshold: -50,
  graylistThreshold: -80,
  acceptPXThreshold: 10,
  opportunisticGraftThreshold: 1,
};

/** Per-topic parameters shared by the receipts and nodes topics. */
export const TOPIC_SCORE_PARAMS: TopicScoreParams = {
  topicWeight: 1,
  // P1: +0.01 per second in the mesh, at most +1.
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: 1_000,
  timeInMeshCap: 100,
  // P2: +0.5 per first delivery of a valid message, at most +10 (decays 10% per second).
  firstMessageDeliveriesWeight: 0.5,
  firstMessageDeliveriesDecay: 0.9,
  firstMessageDeliveriesCap: 20,
  // P3/P3b off (see above).
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 10,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 5_000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,
  // P4: -25 * invalid^2; decays 1% per second.
  invalidMessageDeliveriesWeight: -25,
  invalidMessageDeliveriesDecay: 0.99,
};

/**
 * Peer score parameters. Topics get `TOPIC_SCORE_PARAMS` as the node subscribes to them; `appScore`
 * (weight 1) carries this node's own penalties: messages over a peer's rate, batches that do not
 * match their header (src/p2p/limits.ts).
 */
export function peerScoreParams(appScore: (peer: string) => number): Partial<PeerScoreParams> {
  return {
    topics: {},
    // Positive score from topics capped, so good behaviour cannot bank credit for later abuse.
    topicScoreCap: 20,
    appSpecificScore: appScore,
    appSpecificWeight: 1,
    // P6: more than 10 peers from one IP is suspicious (Sybil); loopback is exempt for local clusters.
    IPColocationFactorWeight: -5,
    IPColocationFactorThreshold: 10,
    IPColocationFactorWhitelist: new Set(['127.0.0.1']),
    // P7: gossip protocol misbehaviour (broken IWANT promises, early re-GRAFT).
    behaviourPenaltyWeight: -10,
    behaviourPenaltyThreshold: 6,
    behaviourPenaltyDecay: 0.9,
    decayInterval: 1_000,
    decayToZero: 0.01,
    // Remember a disconnected peer's score for 10 minutes, so reconnecting does not clear a graylisting.
    retainScore: 10 * 60_000,
  };
}
