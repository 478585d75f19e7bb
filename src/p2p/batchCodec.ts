/**
 * Wire formats of receipt batches (docs/p2p.md "Batches"): the signed header gossiped on the
 * node's batches topic, the fixed-size entries of a batch body, and the batch protocol's requests.
 * Decoders never throw and accept only canonical encodings.
 */
import { bytesToHex, decodeAbiParameters, encodeAbiParameters, getAddress, hexToBytes, zeroHash, type Address, type Hex } from 'viem';
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

/** Writes `value` as a big-endian 32-byte word at `at`; false when it does not fit `bits` (or is negative). */
function putUint(out: Uint8Array, at: number, value: bigint, bits: number): boolean {
  if (value < 0n || value >> BigInt(bits) !== 0n) return false;
  let v = value;
  for (let i = at + 31; v > 0n; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return true;
}

function putBytes32(out: Uint8Array, at: number, hex: Hex): boolean {
  if (hex.length !== 66) return false;
  out.set(hexToBytes(hex), at);
  return true;
}

/**
 * Encodes an entry: receipt words, voucher words, voucher signature (zeros in open mode),
 * `BATCH_ENTRY_BYTES` bytes. The words are the ABI (and EIP-712 struct) encoding, written directly
 * (~10x faster than a general ABI encoder); a value outside its type goes to viem's encoder, which
 * throws its error for it.
 */
export function encodeBatchEntry(e: BatchEntry): Uint8Array {
  const out = new Uint8Array(BATCH_ENTRY_BYTES);
  const r = e.receipt;
  const ok =
    putBytes32(out, 0, r.channelId) &&
    putBytes32(out, 32, r.adapterId) &&
    putBytes32(out, 64, r.requestId) &&
    putUint(out, 96, r.seq, 64) &&
    putUint(out, 128, BigInt(r.promptTokens), 32) &&
    putUint(out, 160, BigInt(r.completionTokens), 32) &&
    putUint(out, 192, r.amount, 256) &&
    putUint(out, 224, r.laneCharged, 256) &&
    putBytes32(out, 256, r.voucherDigest) &&
    putBytes32(out, 288, r.attributionDigest) &&
    putUint(out, 320, r.timestamp, 64);
  if (!ok) out.set(hexToBytes(encodeAbiParameters(receiptParams, [r])), 0);
  if (e.voucher) {
    out.set(hexToBytes(encodeAbiParameters(voucherParams, [e.voucher])), 352);
    out.set(hexToBytes(e.voucherSignature ?? '0x'), 448);
  }
  return out;
}

/** A 32-byte word as 0x hex (native hex encoding: decoding runs once per receipt of every followed node). */
function hexWord(data: Uint8Array, at: number): Hex {
  return `0x${Buffer.from(data.buffer, data.byteOffset + at, 32).toString('hex')}`;
}

/** A word as a bigint when it fits `bits` (≤ 64: read directly), else undefined. */
function uintWord(data: Uint8Array, at: number, bits: number): bigint | undefined {
  for (let i = at; i < at + 32 - bits / 8; i++) if (data[i] !== 0) return undefined;
  if (bits <= 64) return new DataView(data.buffer, data.byteOffset + at + 24, 8).getBigUint64(0);
  return BigInt(hexWord(data, at));
}

function allZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Decodes one entry (exactly `BATCH_ENTRY_BYTES`); rejects values outside their types. */
export function decodeBatchEntry(data: Uint8Array): Decoded<DecodedBatchEntry> {
  if (data.length !== BATCH_ENTRY_BYTES) return { ok: false, reason: `entry of ${data.length} bytes` };
  const seq = uintWord(data, 96, 64);
  const promptTokens = uintWord(data, 128, 32);
  const completionTokens = uintWord(data, 160, 32);
  const timestamp = uintWord(data, 320, 64);
  if (seq === undefined || promptTokens === undefined || completionTokens === undefined || timestamp === undefined) return { ok: false, reason: 'receipt field out of range' };
  const receipt: UsageReceipt = {
    channelId: hexWord(data, 0),
    adapterId: hexWord(data, 32),
    requestId: hexWord(data, 64),
    seq,
    promptTokens: Number(promptTokens),
    completionTokens: Number(completionTokens),
    amount: uintWord(data, 192, 256) as bigint,
    laneCharged: uintWord(data, 224, 256) as bigint,
    voucherDigest: hexWord(data, 256),
    attributionDigest: hexWord(data, 288),
    timestamp,
  };
  const r = data.subarray(0, 352);
  const v = data.subarray(352, 448);
  const sig = data.subarray(448);
  if (allZero(v) && allZero(sig)) return { ok: true, value: { receipt, receiptWords: r, voucherWords: v } };
  const voucher: Voucher = { channelId: hexWord(data, 352), adapterId: hexWord(data, 384), cumulativeAmount: uintWord(data, 416, 256) as bigint };
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
/** Most receipts one sample request asks for. */
export const MAX_SAMPLE_INDICES = 64;
/** Most headers a `recent` request answers. */
export const MAX_RECENT_HEADERS = 8;

export function encodeBatchRequest(r: BatchRequest): Uint8Array {
  const seq = r.kind === 'recent' ? 0n : r.batchSeq;
  const root = r.kind === 'recent' ? zeroHash : r.root;
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
