import { createHash, timingSafeEqual } from 'node:crypto';
import { keccak256, stringToHex, type Hex } from 'viem';
import type { ReceiptLedger } from '../ledger/receipts.ts';
import { PaymentUnauthorizedError } from './errors.ts';
import { ZERO_BYTES32, type PaymentGate } from './gate.ts';
import { charge, type Price } from './pricing.ts';

/** An API key of open mode: its id (shown in receipts) and the SHA-256 of its secret. */
export interface ApiKey {
  id: string;
  sha256: string;
}

export interface CreateOpenGateParameters {
  /** Accepted keys; none means every request is served as payer `key:anonymous`. */
  apiKeys: readonly ApiKey[];
  /** Price of the base model or an adapter, for the receipts' amounts. */
  priceOf(adapterId: Hex | null): Price;
  /** Ledger, to resume each lane's cumulative charge after a restart. */
  ledger: ReceiptLedger;
}

/** The channel id of an API key's lanes in open mode: keccak256("openlora:key:" + id). */
export function apiKeyChannelId(id: string): Hex {
  return keccak256(stringToHex(`openlora:key:${id}`));
}

/**
 * Open mode, for private deployments: requests carry an API key, receipts name the key as
 * payer, and nothing is settled on-chain.
 */
export function createOpenGate(p: CreateOpenGateParameters): PaymentGate {
  const keys = p.apiKeys.map((k) => ({ id: k.id, hash: Buffer.from(k.sha256, 'hex') }));
  const laneTotals = new Map<string, bigint>();

  function laneTotal(channelId: Hex, adapterId: Hex): bigint {
    const lane = `${channelId}:${adapterId}`;
    let total = laneTotals.get(lane);
    if (total === undefined) {
      total = 0n;
      let after: bigint | undefined;
      for (;;) {
        const page = p.ledger.list({ channelId, adapterId, after, limit: 1000 });
        for (const r of page.receipts) total += r.receipt.amount;
        if (page.next === undefined) break;
        after = page.next;
      }
      laneTotals.set(lane, total);
    }
    return total;
  }

  function identify(headers: Record<string, string | string[] | undefined>): string {
    if (keys.length === 0) return 'anonymous';
    const auth = headers.authorization;
    const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    if (!token) throw new PaymentUnauthorizedError('This node requires an API key and the request has none.');
    const hash = createHash('sha256').update(token).digest();
    const key = keys.find((k) => k.hash.length === hash.length && timingSafeEqual(k.hash, hash));
    if (!key) throw new PaymentUnauthorizedError('The API key is not valid on this node.');
    return key.id;
  }

  return {
    mode: 'open',
    async authorize(request) {
      const keyId = identify(request.headers);
      const channelId = apiKeyChannelId(keyId);
      const laneAdapterId = request.model.laneId;
      const price = p.priceOf(request.model.adapterId);
      let done = false;
      return {
        payer: `key:${keyId}`,
        channelId,
        laneAdapterId,
        voucherDigest: ZERO_BYTES32,
        commit(usage) {
          if (done) throw new Error('payment authorization committed twice');
          done = true;
          const amount = charge(price, usage);
          const laneCharged = laneTotal(channelId, laneAdapterId) + amount;
          laneTotals.set(`${channelId}:${laneAdapterId}`, laneCharged);
          return { amount, laneCharged };
        },
        release() {
          done = true;
        },
      };
    },
  };
}
