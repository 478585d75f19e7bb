import { createHash, timingSafeEqual } from 'node:crypto';
import { keccak256, stringToHex, zeroHash, type Hex } from 'viem';
import type { ReceiptLedger } from '../ledger/receipts.ts';
import { PaymentUnauthorizedError } from './errors.ts';
import type { PaymentGate } from './gate.ts';
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
  /** Ledger: each lane's cumulative charge. */
  ledger: ReceiptLedger;
}

/** The channel id of an API key's lanes in open mode: keccak256("openlora:key:" + id). */
export function apiKeyChannelId(id: string): Hex {
  return keccak256(stringToHex(`openlora:key:${id}`));
}

/**
 * Open mode, for private deployments: requests carry an API key, receipts name the key as
 * payer, and nothing is settled on-chain. Without configured keys every caller is `anonymous`
 * and rate-limited by address.
 */
export function createOpenGate(p: CreateOpenGateParameters): PaymentGate {
  const keys = p.apiKeys.map((k) => ({ id: k.id, hash: Buffer.from(k.sha256, 'hex') }));

  function identify(headers: Record<string, string | string[] | undefined>): string | undefined {
    if (keys.length === 0) return undefined;
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
    async identify(headers) {
      const keyId = identify(headers);
      const payer = `key:${keyId ?? 'anonymous'}`;
      const channelId = apiKeyChannelId(keyId ?? 'anonymous');
      return {
        payer,
        rateKey: keyId === undefined ? undefined : payer,
        admit: async (model) => {
          const laneAdapterId = model.laneId;
          const price = p.priceOf(model.adapterId);
          return {
            reserve: () => ({
              payer,
              channelId,
              laneAdapterId,
              voucherDigest: zeroHash,
              amountFor: (usage) => charge(price, usage),
              charged: () => p.ledger.laneCharged(channelId, laneAdapterId),
              commit() {},
              release() {},
            }),
          };
        },
      };
    },
  };
}
