import type { Hex } from 'viem';
import { PaymentRequiredError } from './errors.ts';

/** A voucher as carried in the `x-openlora-voucher` header (base64 JSON) and `POST /v1/vouchers`. */
export interface SignedVoucherJson {
  channelId: Hex;
  adapterId: Hex;
  /** Decimal string of the cumulative amount. */
  cumulativeAmount: string;
  signature: Hex;
}

/** A parsed voucher with its signature. */
export interface SignedVoucher {
  voucher: { channelId: Hex; adapterId: Hex; cumulativeAmount: bigint };
  signature: Hex;
}

/** Header carrying the payer's latest voucher for the request's lane. */
export const VOUCHER_HEADER = 'x-openlora-voucher';

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** Parses a voucher object, refusing anything malformed with a 402 that says which field. */
export function parseVoucher(value: unknown, requirements: Record<string, unknown>): SignedVoucher {
  const bad = (field: string) =>
    new PaymentRequiredError('voucher_malformed', `The voucher's ${field} is malformed.`, 'Send {channelId, adapterId, cumulativeAmount (decimal string), signature (65-byte hex)}.', requirements);
  const v = value as Partial<SignedVoucherJson> | null;
  if (typeof v !== 'object' || v === null) throw bad('body');
  if (typeof v.channelId !== 'string' || !BYTES32.test(v.channelId)) throw bad('channelId');
  if (typeof v.adapterId !== 'string' || !BYTES32.test(v.adapterId)) throw bad('adapterId');
  if (typeof v.cumulativeAmount !== 'string' || !/^[0-9]{1,78}$/.test(v.cumulativeAmount)) throw bad('cumulativeAmount');
  if (typeof v.signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(v.signature)) throw bad('signature');
  const amount = BigInt(v.cumulativeAmount);
  if (amount >= 2n ** 256n) throw bad('cumulativeAmount');
  return { voucher: { channelId: v.channelId.toLowerCase() as Hex, adapterId: v.adapterId.toLowerCase() as Hex, cumulativeAmount: amount }, signature: v.signature as Hex };
}

/** Decodes the voucher header (base64 of the JSON object). */
export function parseVoucherHeader(header: string, requirements: Record<string, unknown>): SignedVoucher {
  let json: unknown;
  try {
    json = JSON.parse(atob(header)); // ASCII JSON (see encodeVoucherHeader)
  } catch {
    throw new PaymentRequiredError('voucher_malformed', `The ${VOUCHER_HEADER} header is not base64-encoded JSON.`, 'Encode the voucher object as JSON, then base64.', requirements);
  }
  return parseVoucher(json, requirements);
}

/** Encodes a voucher for the header (in browsers too: the JSON is ASCII, so `btoa` is exact). */
export function encodeVoucherHeader(v: SignedVoucher): string {
  const json: SignedVoucherJson = { channelId: v.voucher.channelId, adapterId: v.voucher.adapterId, cumulativeAmount: v.voucher.cumulativeAmount.toString(), signature: v.signature };
  return btoa(JSON.stringify(json));
}
