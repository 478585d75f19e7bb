import { bytesToHex, concat, hexToBytes, keccak256, sha256, stringToBytes, type Hex, type LocalAccount } from 'viem';
import type { Price } from '../payments/pricing.ts';

/**
 * Request nonces (docs/protocol.md "Receipts only for my requests"). Each paid request carries
 * `x-openlora-request-nonce: <r>.<maxCompletionTokens>.<maxAmount>.<inputPer1k>.<outputPer1k>.<mac>`; the
 * node makes the receipt's `requestId` its hash and returns the nonce with the receipt. The MAC,
 * under a key only the payer can derive, binds the request's bounds to its channel and lane, so a
 * receipt is acknowledged only for a request this payer sent, within what that request allowed,
 * even by a process that restarted or by another process of the same payer.
 */

/** What a request allowed, as its nonce records it. */
export interface RequestBound {
  nonce: string;
  /** Completion tokens the request may be charged: `n × max_tokens` (every choice counts). */
  maxCompletionTokens: number;
  /** The request's ceiling: the most its receipt may charge. */
  maxAmount: bigint;
  /** The price the payer accepted for it. */
  price: Price;
}

/** Key of the nonce MAC: keccak256 of the payer's signature of a fixed message (deterministic, RFC 6979), so every process of one payer derives the same key. */
export async function deriveNonceKey(account: LocalAccount, channelId: Hex): Promise<Uint8Array> {
  const signature = await account.signMessage({ message: `openlora request nonce key v1\nchannel ${channelId.toLowerCase()}` });
  return hexToBytes(keccak256(signature));
}

/** HMAC-SHA256 (RFC 2104) over viem's SHA-256: the SDK depends on viem alone. `key` is 32 bytes. */
function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  const block = new Uint8Array(64);
  block.set(key);
  const pad = (byte: number) => block.map((b) => b ^ byte);
  return sha256(concat([pad(0x5c), sha256(concat([pad(0x36), message]), 'bytes')]), 'bytes');
}

/** 128 bits of HMAC over the nonce's fields, its channel and lane. */
const mac = (key: Uint8Array, channelId: Hex, adapterId: Hex, body: string) => bytesToHex(hmacSha256(key, stringToBytes(`${channelId.toLowerCase()}:${adapterId.toLowerCase()}:${body}`))).slice(2, 34);

/** A fresh nonce for a request on a lane. */
export function createNonce(key: Uint8Array, lane: { channelId: Hex; adapterId: Hex }, bound: Omit<RequestBound, 'nonce'>): string {
  const r = bytesToHex(crypto.getRandomValues(new Uint8Array(8))).slice(2);
  const body = `${r}.${bound.maxCompletionTokens}.${bound.maxAmount}.${bound.price.inputPer1k}.${bound.price.outputPer1k}`;
  return `${body}.${mac(key, lane.channelId, lane.adapterId, body)}`;
}

/** The bounds of a nonce this payer made for that lane; undefined for anything else (another payer's, forged, another lane's). */
export function readNonce(key: Uint8Array, lane: { channelId: Hex; adapterId: Hex }, nonce: unknown): RequestBound | undefined {
  if (typeof nonce !== 'string') return undefined;
  const m = /^([0-9a-f]{16})\.([0-9]{1,9})\.([0-9]{1,78})\.([0-9]{1,40})\.([0-9]{1,40})\.([0-9a-f]{32})$/.exec(nonce);
  if (!m) return undefined;
  const body = nonce.slice(0, nonce.lastIndexOf('.'));
  if (mac(key, lane.channelId, lane.adapterId, body) !== m[6]) return undefined;
  return { nonce, maxCompletionTokens: Number(m[2]), maxAmount: BigInt(m[3]), price: { inputPer1k: BigInt(m[4]), outputPer1k: BigInt(m[5]) } };
}
