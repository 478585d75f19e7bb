import type { Hex } from 'viem';
import type { Usage } from '../scheduler/types.ts';
import type { ResolvedModel } from '../serving/inference.ts';
import type { ReceiptLaneCharge } from './receipts.ts';

/** Request headers (lower-case names). */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/**
 * Who pays for a request, proven from its headers alone (an API key, or a voucher signed by the
 * channel's authorizer), before its body is read.
 */
export interface PaymentIdentity {
  /** Who pays: a channel's payer address, or `key:<id>` in open mode. */
  payer: string;
  /** The verified identity requests are rate-limited by (`channel:<id>`, `key:<id>`); undefined: by client address. */
  rateKey?: string;
  /** The request's model is known: checks the lane (voucher's lane, stale voucher, credit left, split terms); throws 402 (503). */
  admit(model: ResolvedModel): Promise<PaymentAdmission>;
}

/** A request whose payer and lane passed the cheap checks; nothing is reserved yet. */
export interface PaymentAdmission {
  /** Reserves the request's ceiling once its prompt is tokenized; throws 402 when credit or balance is short. */
  reserve(request: { promptTokens: number; maxTokens: number }): PaymentAuthorization;
}

/** Permission to serve one request, and how to charge for it afterwards. */
export interface PaymentAuthorization extends ReceiptLaneCharge {
  payer: string;
  /** Receipt fields fixed before serving. */
  channelId: Hex;
  /** The lane's adapter id (zero bytes32 for the base model). */
  laneAdapterId: Hex;
  voucherDigest: Hex;
  /** The voucher the request carried (paid mode): gossiped with the receipt. */
  voucher?: { voucher: { channelId: Hex; adapterId: Hex; cumulativeAmount: bigint }; signature: Hex };
  /** This request's charge for what it used (protocol.md pricing). */
  amountFor(usage: Usage): bigint;
  /** Ends the request without a charge (failed, cancelled before the first token, or its receipt could not be stored). */
  release(): void;
}

/**
 * Decides whether a request may be served and meters it: open mode (API keys) and paid mode
 * (payment-channel vouchers, HTTP 402) implement it, so the request path is the same for both.
 * `identify` runs before the request body is read: an unpaid request costs a header check.
 */
export interface PaymentGate {
  readonly mode: 'open' | 'paid';
  /** Throws an error with an HTTP status (401, 402, 429) when the request may not be served. */
  identify(headers: RequestHeaders): Promise<PaymentIdentity>;
}

