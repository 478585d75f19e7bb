/**
 * The split terms the node announces and serves at (docs/protocol.md, "Split terms"): read from the
 * chain at start, on use when older than `refreshMs`, and in the background. `GET /v1/models` shows
 * them; a paid request is served only on a lane whose terms the node has read within
 * `TERMS_DELAY_SECONDS` (so no change it has not seen can be in force) and whose adapter is
 * registered on-chain (otherwise its payments could never settle).
 */
import { zeroHash, type Address, type Hex, type PublicClient } from 'viem';
import { readLaneTerms, termsAt, TERMS_DELAY_SECONDS, type AnnouncedTerms, type LaneTerms } from '../chain/terms.ts';
import type { Logger } from '../log.ts';
import type { PaidGate } from '../payments/paid.ts';
import { AdapterNotOnChainError, TermsUnknownError } from './errors.ts';

/** How often terms are re-read, ms (default 10 min): far below the 31-day delay, so a change is seen weeks ahead. */
export const DEFAULT_TERMS_REFRESH_MS = 10 * 60_000;

export interface TermsBookOptions {
  /** Re-read a lane's terms when older than this, ms. Default {@link DEFAULT_TERMS_REFRESH_MS}. */
  refreshMs?: number;
}

export interface TermsBookComponents {
  publicClient: PublicClient;
  contracts: { adapterRegistry: Address; paymentChannels: Address };
  /** The lanes the node serves (its adapters' lane ids); lane zero, the base model, is always added. */
  lanes: () => Hex[];
  log: Logger;
  /** Local clock, unix ms (default `Date.now`). */
  now?: () => number;
}

/** The node's book of split terms. */
export interface TermsBook {
  /** Reads every lane, then re-reads them every `refreshMs`. */
  start(): Promise<void>;
  stop(): void;
  /** Re-reads every lane now (a failed read keeps what was read before). */
  refresh(): Promise<void>;
  /** The lane's terms now, read from the chain when stale; throws when the node cannot serve at announced terms. */
  require(lane: { laneId: Hex; name: string }): Promise<AnnouncedTerms>;
  /** What the node announces for the lane now, without a chain read (undefined: never read). */
  announced(laneId: Hex): AnnouncedTerms | undefined;
  /** Local time (unix ms) of the next announced change of the lane's terms, if any. */
  nextChangeAt(laneId: Hex): number | undefined;
}

interface Entry {
  terms: LaneTerms;
  /** Local time of the read, ms. */
  readLocalMs: number;
}

/** Creates the book; `start()` reads every lane once. */
export function createTermsBook(options: TermsBookOptions, c: TermsBookComponents): TermsBook {
  const refreshMs = options.refreshMs ?? DEFAULT_TERMS_REFRESH_MS;
  const entries = new Map<Hex, Entry>();
  const inflight = new Map<Hex, Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  const now = c.now ?? Date.now;
  const key = (laneId: Hex) => laneId.toLowerCase() as Hex;

  async function read(laneIds: Hex[]): Promise<void> {
    const readLocalMs = now();
    const read = await readLaneTerms({ publicClient: c.publicClient, contracts: c.contracts, laneIds });
    for (const terms of read) entries.set(key(terms.laneId), { terms, readLocalMs });
  }

  function readOne(laneId: Hex): Promise<void> {
    let pending = inflight.get(key(laneId));
    if (!pending) {
      pending = read([laneId]).finally(() => inflight.delete(key(laneId)));
      inflight.set(key(laneId), pending);
    }
    return pending;
  }

  /** Chain time now by the entry's read (the chain's clock may differ from ours). */
  const chainNow = (e: Entry) => e.terms.readAt + Math.floor((now() - e.readLocalMs) / 1000);

  function announce(e: Entry): AnnouncedTerms {
    const now = chainNow(e);
    return { registered: e.terms.registered, hasRoot: e.terms.hasRoot, inForce: termsAt(e.terms, now), pending: e.terms.pending.filter((p) => p.effectiveAt > now), readAt: e.terms.readAt };
  }

  async function refreshAll(): Promise<void> {
    const lanes = [...new Set([zeroHash, ...c.lanes()].map(key))];
    try {
      await read(lanes);
    } catch (err) {
      c.log.warn({ err, lanes: lanes.length }, 'cannot read split terms; serving at the terms read before while they hold');
    }
  }

  return {
    async start() {
      await refreshAll();
      timer ??= setInterval(() => void refreshAll(), refreshMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    refresh: refreshAll,
    async require({ laneId, name }) {
      let e = entries.get(key(laneId));
      // An unregistered adapter is re-read every time: its owner may register it while the node runs.
      if (!e || !e.terms.registered || now() - e.readLocalMs >= refreshMs) {
        try {
          await readOne(laneId);
        } catch (err) {
          if (!e || chainNow(e) >= e.terms.readAt + TERMS_DELAY_SECONDS) throw new TermsUnknownError({ laneId, name, readAt: e?.terms.readAt, cause: err });
          c.log.warn({ err, laneId }, 'cannot re-read split terms; the last read still holds');
        }
        e = entries.get(key(laneId))!;
      }
      if (!e.terms.registered) throw new AdapterNotOnChainError({ laneId, name });
      return announce(e);
    },
    announced(laneId) {
      const e = entries.get(key(laneId));
      return e && announce(e);
    },
    nextChangeAt(laneId) {
      const e = entries.get(key(laneId));
      if (!e) return undefined;
      const next = announce(e).pending[0];
      return next && e.readLocalMs + (next.effectiveAt - e.terms.readAt) * 1000;
    },
  };
}

/**
 * The paid gate, refusing requests on lanes whose terms the node cannot vouch for: after the
 * payment checks (payer, then lane), so an unpaid request costs no chain read, and before anything
 * is reserved.
 */
export function withAnnouncedTerms(gate: PaidGate, book: TermsBook): PaidGate {
  return {
    ...gate,
    async identify(headers) {
      const identity = await gate.identify(headers);
      return {
        ...identity,
        async admit(model) {
          const admission = await identity.admit(model);
          await book.require({ laneId: model.laneId, name: model.name });
          return admission;
        },
      };
    },
  };
}
