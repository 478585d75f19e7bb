/**
 * What a peer may cost this node (docs/p2p.md "Hostile peers"): a token bucket and a cap on work in
 * flight per peer, and a penalty that feeds gossipsub's application score, so a peer that floods
 * or sends what fails validation falls below the graylist threshold and is then dropped unread.
 */

/** A token bucket: `rate` tokens per second, at most `burst` banked. */
export interface TokenBucket {
  /** Takes one token; false when none is left. */
  take(now?: number): boolean;
}

export function createTokenBucket(rate: number, burst: number): TokenBucket {
  let tokens = burst;
  let at = performance.now();
  return {
    take(now = performance.now()) {
      tokens = Math.min(burst, tokens + ((now - at) / 1000) * rate);
      at = now;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}

export interface PeerLimitsOptions {
  /** Messages (or requests) per second per peer; twice that may come in a burst. */
  ratePerS: number;
  /** Work in flight per peer. */
  concurrency: number;
  /** Peers tracked at most (least recently seen forgotten). Default 4,096. */
  maxPeers?: number;
}

/** Why a peer's work was refused before it started. */
export type Refusal = 'rate' | 'busy';

/** Per-peer admission: `admit` before validating, `done` after. */
export interface PeerLimits {
  /** Undefined when the work may start (call `done` after it), else why not. */
  admit(peer: string): Refusal | undefined;
  done(peer: string): void;
}

export function createPeerLimits(o: PeerLimitsOptions): PeerLimits {
  const maxPeers = o.maxPeers ?? 4_096;
  const peers = new Map<string, { bucket: TokenBucket; inFlight: number }>();
  return {
    admit(peer) {
      let p = peers.get(peer);
      if (p) peers.delete(peer);
      else p = { bucket: createTokenBucket(o.ratePerS, 2 * o.ratePerS), inFlight: 0 };
      peers.set(peer, p);
      if (peers.size > maxPeers) {
        for (const [key, v] of peers) {
          if (v.inFlight === 0) {
            peers.delete(key);
            break;
          }
        }
      }
      if (p.inFlight >= o.concurrency) return 'busy';
      if (!p.bucket.take()) return 'rate';
      p.inFlight += 1;
      return undefined;
    },
    done(peer) {
      const p = peers.get(peer);
      if (p && p.inFlight > 0) p.inFlight -= 1;
    },
  };
}

/**
 * Application-specific penalties per peer (gossipsub P5, weight 1): each offence adds to a counter
 * that decays by `decay` per second; the score is minus the counter. Offences: a message over the
 * rate (1), one that failed validation (25), a batch that does not match its header (50).
 */
export interface PeerPenalties {
  add(peer: string, points: number): void;
  /** The application score of `peer` (0 or negative). */
  score(peer: string): number;
}

export const PENALTY = { overRate: 1, invalid: 25, badBatch: 50 } as const;

export function createPeerPenalties(p: { decay?: number; maxPeers?: number } = {}): PeerPenalties {
  const decay = p.decay ?? 0.99;
  const maxPeers = p.maxPeers ?? 4_096;
  const points = new Map<string, { value: number; at: number }>();
  const current = (peer: string, now: number) => {
    const e = points.get(peer);
    return e ? e.value * decay ** ((now - e.at) / 1000) : 0;
  };
  return {
    add(peer, n) {
      const now = Date.now();
      const value = current(peer, now) + n;
      points.delete(peer);
      points.set(peer, { value, at: now });
      if (points.size > maxPeers) points.delete(points.keys().next().value as string);
    },
    score: (peer) => -current(peer, Date.now()),
  };
}
