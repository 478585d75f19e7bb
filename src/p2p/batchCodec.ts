/**
 * Wire formats of receipt batches (docs/p2p.md "Batches"): the signed header gossiped on the
 * node's batches topic, the fixed-size entries of a batch body, and the batch protocol's requests.
 * Decoders never throw and accept only canonical encodings.
 */
import { bytesToHex, decodeAbiParameters, encodeAbiParameters, getAddress, hexToBytes, type Address, type Hex } from 'viem';
import { usageReceiptTypes, voucherTypes, type UsageReceipt, type Voucher } from '../chain/eip712.ts';
import type { ReceiptBatch } from '../chain/receiptBatch.ts';
import { sameBytes, type Decoded } from './codec.ts';
import { BATCH_ENTRY_BYTES, MAX_BATCH_RECEIPTS, MAX_HEADER_MESSAGE_BYTES } from './constants.ts';

const headerParams = [
  { name: 'node', type: 'address' },
  { name: 'batch', type: 'tuple', components: [{ name: 'batchSeq', type: 'uint64' }, { name: 'root', type: 'bytes32' }, { name: 'count', type: 'uint32' }, { name: 'timestamp', type: 'uint64' }] },
  { name: 'signature', type: 'bytes' },
] as const;

/** A node's signed batch commitment, as gossiped. */
export interface BatchHeader {
  node: Address;
  batch: ReceiptBatch;
  signature: Hex;
}

/** A decoded header with the batch's 4 words as sent (for the EIP-712 digest). */
export interface DecodedBatchHeader extends BatchHeader {
  batchWords: Uint8Array;
}

/** ABI-encodes `(node, batch, signature)`. */
export function encodeBatchHeader(h: BatchHeader): Uint8Array {
  return hexToBytes(encodeAbiParameters(headerParams, [h.node, h.batch, h.signature]));
}

/** Decodes a header message; rejects oversize, malformed and non-canonical ones and counts outside 1..MAX_BATCH_RECEIPTS. */
export function decodeBatchHeader(data: Uint8Array): Decoded<DecodedBatchHeader> {
  if (data.length > MAX_HEADER_MESSAGE_BYTES) return { ok: false, reason: `oversize (${data.length} > ${MAX_HEADER_MESSAGE_BYTES} bytes)` };
  try {
    const [node, b, signature] = decodeAbiParameters(headerParams, data);
    const batch: ReceiptBatch = { batchSeq: b.batchSeq, root: b.root.toLowerCase() as Hex, count: b.count, timestamp: b.timestamp };
    const header = { node: getAddress(node), batch, signature };
    if (!sameBytes(encodeBatchHeader(header), data)) return { ok: false, reason: 'non-canonical encoding' };
    if (batch.count < 1 || batch.count > MAX_BATCH_RECEIPTS) return { ok: false, reason: `bad count (${batch.count})` };
    return { ok: true, value: { ...header, batchWords: data.subarray(32, 160) } };
  } catch (error) {
    return { ok: false, reason: `bad encoding (${(error as Error).message.split('\n')[0]})` };
  }
}

const receiptParams = [{ type: 'tuple', components: usageReceiptTypes.UsageReceipt }] as const;
const voucherParams = [{ type: 'tuple', components: voucherTypes.Voucher }] as const;

/** One receipt of a batch, with the voucher its request carried (none in open mode). */
export interface BatchEntry {
  receipt: UsageReceipt;
  voucher?: Voucher;
  voucherSignature?: Hex;
}

/** A decoded entry with its words as sent. */
export interface DecodedBatchEntry extends BatchEntry {
  /** The 11 receipt words: `hashStruct = keccak256(typeHash ‖ receiptWords)`. */
  receiptWords: Uint8Array;
  voucherWords: Uint8Array;
}

/** Encodes an entry: receipt words, voucher words, voucher signature (zeros in open mode), `BATCH_ENTRY_BYTES` bytes. */
export function encodeBatchEntry(e: BatchEntry): Uint8Array {
  const out = new Uint8Array(BATCH_ENTRY_BYTES);
  out.set(hexToBytes(encodeAbiParameters(receiptParams, [e.receipt])), 0);
  if (e.voucher) {
    out.set(hexToBytes(encodeAbiParameters(voucherParams, [e.voucher])), 352);
    out.set(hexToBytes(e.voucherSignature ?? '0x'), 448);
  }
  return out;
}

function word(data: Uint8Array, i: number): Uint8Array {
  return data.subarray(i * 32, i * 32 + 32);
}

/** A big-endian word as a bigint, or undefined when it does not fit `bits`. */
function uint(w: Uint8Array, bits: number): bigint | undefined {
  for (let i = 0; i < 32 - bits / 8; i++) if (w[i] !== 0) return undefined;
  return w.length === 0 ? 0n : BigInt(bytesToHex(w));
}

const allZero = (b: Uint8Array) => b.every((x) => x === 0);

/** Decodes one entry (exactly `BATCH_ENTRY_BYTES`); rejects values outside their types. */
export function decodeBatchEntry(data: Uint8Array): Decoded<DecodedBatchEntry> {
  if (data.length !== BATCH_ENTRY_BYTES) return { ok: false, reason: `entry of ${data.length} bytes` };
  const r = data.subarray(0, 352);
  const seq = uint(word(r, 3), 64);
  const promptTokens = uint(word(r, 4), 32);
  const completionTokens = uint(word(r, 5), 32);
  const timestamp = uint(word(r, 10), 64);
  if (seq === undefined || promptTokens === undefined || completionTokens === undefined || timestamp === undefined) return { ok: false, reason: 'receipt field out of range' };
  const receipt: UsageReceipt = {
    channelId: bytesToHex(word(r, 0)),
    adapterId: bytesToHex(word(r, 1)),
    requestId: bytesToHex(word(r, 2)),
    seq,
    promptTokens: Number(promptTokens),
    completionTokens: Number(completionTokens),
    amount: BigInt(bytesToHex(word(r, 6))),
    laneCharged: BigInt(bytesToHex(word(r, 7))),
    voucherDigest: bytesToHex(word(r, 8)),
    attributionDigest: bytesToHex(word(r, 9)),
    timestamp,
  };
  const v = data.subarray(352, 448);
  const sig = data.subarray(448);
  if (allZero(v) && allZero(sig)) return { ok: true, value: { receipt, receiptWords: r, voucherWords: v } };
  const voucher: Voucher = { channelId: bytesToHex(word(v, 0)), adapterId: bytesToHex(word(v, 1)), cumulativeAmount: BigInt(bytesToHex(word(v, 2))) };
  return { ok: true, value: { receipt, voucher, voucherSignature: bytesToHex(sig), receiptWords: r, voucherWords: v } };
}

/** The entries of a batch body, or why it is malformed. */
export function splitBatchBody(body: Uint8Array, count: number): Decoded<Uint8Array[]> {
  if (body.length !== count * BATCH_ENTRY_BYTES) return { ok: false, reason: `body of ${body.length} bytes for ${count} receipts` };
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(body.subarray(i * BATCH_ENTRY_BYTES, (i + 1) * BATCH_ENTRY_BYTES));
  return { ok: true, value: out };
}

/** What the batch protocol is asked: a whole batch, some receipts with proofs, or a node's latest headers. */
export type BatchRequest =
  | { kind: 'batch'; node: Address; batchSeq: bigint; root: Hex }
  | { kind: 'sample'; node: Address; batchSeq: bigint; root: Hex; indices: number[] }
  | { kind: 'recent'; node: Address };

const KINDS = ['batch', 'sample', 'recent'] as const;
const requestParams = [{ type: 'uint8' }, { type: 'address' }, { type: 'uint64' }, { type: 'bytes32' }, { type: 'uint32[]' }] as const;
const ZERO_ROOT = `0x${'00'.repeat(32)}` as Hex;
/** Most receipts one sample request asks for. */
export const MAX_SAMPLE_INDICES = 64;
/** Most headers a `recent` request answers. */
export const MAX_RECENT_HEADERS = 8;

export function encodeBatchRequest(r: BatchRequest): Uint8Array {
  const seq = r.kind === 'recent' ? 0n : r.batchSeq;
  const root = r.kind === 'recent' ? ZERO_ROOT : r.root;
  return hexToBytes(encodeAbiParameters(requestParams, [KINDS.indexOf(r.kind) + 1, r.node, seq, root, r.kind === 'sample' ? r.indices : []]));
}

export function decodeBatchRequest(data: Uint8Array): Decoded<BatchRequest> {
  if (data.length > 256 + MAX_SAMPLE_INDICES * 32) return { ok: false, reason: 'oversize request' };
  try {
    const [kind, node, batchSeq, root, indices] = decodeAbiParameters(requestParams, data);
    if (indices.length > MAX_SAMPLE_INDICES) return { ok: false, reason: 'too many indices' };
    const k = KINDS[kind - 1];
    const n = getAddress(node);
    const r = root.toLowerCase() as Hex;
    if (k === 'batch') return { ok: true, value: { kind: k, node: n, batchSeq, root: r } };
    if (k === 'sample') return { ok: true, value: { kind: k, node: n, batchSeq, root: r, indices: [...indices] } };
    if (k === 'recent') return { ok: true, value: { kind: k, node: n } };
    return { ok: false, reason: `unknown request kind ${kind}` };
  } catch (error) {
    return { ok: false, reason: `bad encoding (${(error as Error).message.split('\n')[0]})` };
  }
}
