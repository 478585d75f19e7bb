/**
 * The node's gossip topics as one table (docs/p2p.md "Topics"): each entry says its name, its
 * largest message, how a message is validated and what happens to an accepted one. Adding an
 * entry allows and scores the topic, subscribes, and installs one validator wrapper that applies
 * the per-peer limits, counts every verdict and feeds penalties; removing it undoes all of that.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import type { Logger } from '../log.ts';
import type { Host } from './host.ts';
import { routerOf } from './host.ts';
import { PENALTY, type PeerLimits, type PeerPenalties } from './limits.ts';
import type { NetworkMetrics } from './metrics.ts';
import { TOPIC_SCORE_PARAMS } from './scoring.ts';
import type { Verdict } from './validate.ts';

/** Kinds of topic: the label of counts and metrics (bounded, unlike topic names, one per followed node). */
export type TopicKind = 'batches' | 'nodes';

/** What every validator answers, and more. */
export interface VerdictLike {
  result: Verdict;
  reason: string;
  /** Application-score points the sending peer loses (for messages ignored, not rejected, that still cost work). */
  penalty?: number;
}

/** One row of the topic table. */
export interface TopicSpec<V extends VerdictLike = VerdictLike> {
  kind: TopicKind;
  name: string;
  maxBytes: number;
  validate(data: Uint8Array): Promise<V>;
  /** Called with what `validate` answered, when it accepted. */
  onAccept(verdict: V, from: PeerId): void;
}

/** A row of the table, its verdict type erased (the table holds rows of different topics). */
export function defineTopic<V extends VerdictLike>(spec: TopicSpec<V>): TopicSpec {
  return { ...spec, onAccept: (v, from) => spec.onAccept(v as V, from) };
}

const RESULT: Record<Verdict, TopicValidatorResult> = { accept: TopicValidatorResult.Accept, ignore: TopicValidatorResult.Ignore, reject: TopicValidatorResult.Reject };

export interface TopicsComponents {
  host: Host;
  limits: PeerLimits;
  penalties: PeerPenalties;
  metrics?: NetworkMetrics;
  log: Logger;
}

/** The live topic table. */
export interface Topics {
  add(spec: TopicSpec): void;
  remove(name: string): void;
  has(name: string): boolean;
  names(): string[];
  /** Messages received by kind and result. */
  counts(): Record<TopicKind, Record<Verdict, number>>;
}

export function createTopics(c: TopicsComponents): Topics {
  const pubsub = c.host.services.pubsub;
  const router = routerOf(c.host);
  const table = new Map<string, TopicSpec>();
  const counts: Record<TopicKind, Record<Verdict, number>> = { batches: { accept: 0, ignore: 0, reject: 0 }, nodes: { accept: 0, ignore: 0, reject: 0 } };
  const count = (kind: TopicKind, result: Verdict, reason: string) => {
    counts[kind][result] += 1;
    c.metrics?.messages.inc({ topic: kind, result, reason });
  };

  return {
    add(spec) {
      if (table.has(spec.name)) return;
      table.set(spec.name, spec);
      router.allowedTopics?.add(spec.name);
      router.score.params.topics[spec.name] = { ...TOPIC_SCORE_PARAMS };
      pubsub.topicValidators.set(spec.name, async (from, msg) => {
        const peer = from.toString();
        if (msg.data.length > spec.maxBytes) {
          count(spec.kind, 'reject', 'oversize');
          return RESULT.reject;
        }
        const refusal = c.limits.admit(peer);
        if (refusal) {
          c.penalties.add(peer, PENALTY.overRate);
          count(spec.kind, 'ignore', refusal === 'rate' ? 'over the peer rate' : 'peer busy');
          return RESULT.ignore;
        }
        let v: VerdictLike;
        try {
          v = await spec.validate(msg.data);
          if (v.result === 'accept') spec.onAccept(v, from);
        } catch (err) {
          // This node's fault (its store, for example), not the peer's: dropped without blame.
          c.log.warn({ err, peer, topic: spec.kind }, 'handling a gossip message failed');
          v = { result: 'ignore', reason: 'internal error' };
        } finally {
          c.limits.done(peer);
        }
        count(spec.kind, v.result, v.reason);
        if (v.penalty) c.penalties.add(peer, v.penalty);
        if (v.result === 'reject') c.log.debug({ peer, topic: spec.kind, reason: v.reason }, 'rejected gossip message');
        return RESULT[v.result];
      });
      pubsub.subscribe(spec.name);
    },
    remove(name) {
      if (!table.delete(name)) return;
      pubsub.unsubscribe(name);
      pubsub.topicValidators.delete(name);
      router.allowedTopics?.delete(name);
      // Score parameters stay: gossipsub reads them for peers' retained stats of the topic.
    },
    has: (name) => table.has(name),
    names: () => [...table.keys()],
    counts: () => structuredClone(counts),
  };
}
