/** Receipts as JSON, read back: a module of its own so the client SDK (and browsers) need none of the node's signing code. */
import { keccak256, stringToHex, type Hex } from 'viem';
import type { UsageReceipt } from '../chain/eip712.ts';

/** The receipt's `requestId` for a node-chosen request id: keccak256 of the string. */
export function requestIdOf(requestKey: string): Hex {
  return keccak256(stringToHex(requestKey));
}

/** The receipt's `requestId` for a client nonce: keccak256 of `openlora:nonce:<nonce>` (never equal to a node id's). */
export function requestIdOfNonce(nonce: string): Hex {
  return requestIdOf(`openlora:nonce:${nonce}`);
}

/** The receipt fields of `receiptToJson`'s output, back as an EIP-712 `UsageReceipt` message. */
export function receiptFromJson(json: { receipt: Record<string, unknown> }): UsageReceipt {
  const r = json.receipt;
  return {
    channelId: r.channelId as Hex,
    adapterId: r.adapterId as Hex,
    requestId: r.requestId as Hex,
    seq: BigInt(r.seq as string),
    promptTokens: Number(r.promptTokens),
    completionTokens: Number(r.completionTokens),
    amount: BigInt(r.amount as string),
    laneCharged: BigInt(r.laneCharged as string),
    voucherDigest: r.voucherDigest as Hex,
    attributionDigest: r.attributionDigest as Hex,
    timestamp: BigInt(r.timestamp as string),
  };
}
