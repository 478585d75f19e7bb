import type { Hex } from 'viem';
import type { Usage } from '../scheduler/types.ts';
import type { ResolvedModel } from '../serving/inference.ts';

/** What the payment gate needs to know of a request before it is served. */
export interface PaymentRequest {
  /** Request headers (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
  model: ResolvedModel;
  promptTokens: number;
  maxTokens: number;
}

/** Permission to serve one request, and how to charge for it afterwards. */
export interface PaymentAuthorization {
  /** Who pays: a channel's payer address, or `key:<id>` in open mode. Also the rate-limit key. */
  payer: string;
  /** Receipt fields fixed before serving. */
  channelId: Hex;
  /** The lane's adapter id (zero bytes32 for the base model). */
  laneAdapterId: Hex;
  voucherDigest: Hex;
  /** The voucher the request carried (paid mode): gossiped with the receipt. */
  voucher?: { voucher: { channelId: Hex; adapterId: Hex; cumulativeAmount: bigint }; signature: Hex };
  /** Charges the request for what it used; returns this request's amount and the lane's new cumulative charge. Call once. */
  commit(usage: Usage): { amount: bigint; laneCharged: bigint };
  /** Ends the request without a charge (failed, or cancelled before the first token). */
  release(): void;
}

/**
 * Decides whether a request may be served and meters it: open mode (API keys) and paid mode
 * (payment-channel vouchers, HTTP 402) implement it, so the request path is the same for both.
 */
export interface PaymentGate {
  readonly mode: 'open' | 'paid';
  /** Throws an error with an HTTP status (401, 402) when the request may not be served. */
  authorize(request: PaymentRequest): Promise<PaymentAuthorization>;
}

/** bytes32 zero: the lane of the base model, and voucher/attribution digests where there is none. */
export const ZERO_BYTES32 = `0x${'0'.repeat(64)}` as Hex;
