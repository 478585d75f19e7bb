/**
 * Digests of receipts and vouchers from their words as sent, and the announcement codec
 * (docs/p2p.md "Topics"). Decoding never throws: it answers `{ ok: false, reason }`, and only
 * canonical encodings decode (re-encoding gives the same bytes), so a message has one id.
 */
import { decodeAbiParameters, encodeAbiParameters, hexToBytes, keccak256, stringToHex, toBytes, type Address, type Hex } from 'viem';
import { EIP712_NAME, EIP712_VERSION, usageReceiptTypes, voucherTypes } from '../chain/eip712.ts';
import { keccak256Bytes } from '../chain/keccak.ts';
import { receiptBatchTypes } from '../chain/receiptBatch.ts';
import { MAX_ADAPTER_NAME_LENGTH, MAX_ANNOUNCED_ADAPTERS, MAX_ANNOUNCED_MULTIADDRS, MAX_ANNOUNCEMENT_MESSAGE_BYTES, MAX_MULTIADDR_LENGTH, MAX_URL_LENGTH } from './constants.ts';

/** Result of decoding a gossip message. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

/** ABI-encoded bytes equal `data` (decoders accept only canonical encodings: one message, one id). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const DOMAIN_TYPEHASH = keccak256(stringToHex('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'));
const typeString = (name: string, fields: readonly { name: string; type: string }[]) => `${name}(${fields.map((f) => `${f.type} ${f.name}`).join(',')})`;
const RECEIPT_TYPEHASH = toBytes(keccak256(stringToHex(typeString('UsageReceipt', usageReceiptTypes.UsageReceipt))));
const VOUCHER_TYPEHASH = toBytes(keccak256(stringToHex(typeString('Voucher', voucherTypes.Voucher))));
const BATCH_TYPEHASH = toBytes(keccak256(stringToHex(typeString('ReceiptBatch', receiptBatchTypes.ReceiptBatch))));

/** The EIP-712 domain separator `{name: "openlora", version: "1", chainId, verifyingContract}`. */
export function domainSeparator(chainId: number, verifyingContract: Address): Uint8Array {
  return hexToBytes(
    keccak256(
      encodeAbiParameters(
        [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'address' }],
        [DOMAIN_TYPEHASH, keccak256(stringToHex(EIP712_NAME)), keccak256(stringToHex(EIP712_VERSION)), BigInt(chainId), verifyingContract],
      ),
    ),
  );
}

function typedDigest(separator: Uint8Array, typeHash: Uint8Array, words: Uint8Array): Uint8Array {
  const struct = new Uint8Array(32 + words.length);
  struct.set(typeHash, 0);
  struct.set(words, 32);
  const message = new Uint8Array(66);
  message[0] = 0x19;
  message[1] = 0x01;
  message.set(separator, 2);
  message.set(keccak256Bytes(struct), 34);
  return keccak256Bytes(message);
}

/**
 * EIP-712 digest of a receipt from its words as sent (equal to `usageReceiptDigest`, without
 * re-encoding: all receipt fields are static, so the ABI words are the struct encoding).
 */
export function receiptDigestOf(separator: Uint8Array, receiptWords: Uint8Array): Uint8Array {
  return typedDigest(separator, RECEIPT_TYPEHASH, receiptWords);
}

/** EIP-712 digest of a voucher from its 3 words as sent (equal to `voucherDigest`). */
export function voucherDigestOf(separator: Uint8Array, voucherWords: Uint8Array): Uint8Array {
  return typedDigest(separator, VOUCHER_TYPEHASH, voucherWords);
}

/** EIP-712 digest of a batch from its 4 words as sent (equal to `receiptBatchDigest`). */
export function batchDigestOf(separator: Uint8Array, batchWords: Uint8Array): Uint8Array {
  return typedDigest(separator, BATCH_TYPEHASH, batchWords);
}

/** Where an adapter is resident on an announcing node. */
export type Residency = 'gpu' | 'host' | 'disk';
const RESIDENCIES: readonly Residency[] = ['gpu', 'host', 'disk'];

/** One adapter in an announcement. */
export interface AnnouncedAdapter {
  id: Hex;
  name: string;
  resident: Residency;
  inputPer1k: bigint;
  outputPer1k: bigint;
}

/** A node's announcement: where to reach it, what it serves, and how loaded it is. */
export interface Announcement {
  node: Address;
  chainId: number;
  /** Unix ms. */
  timestamp: bigint;
  url: string;
  peerId: string;
  multiaddrs: string[];
  adapters: AnnouncedAdapter[];
  /** Requests waiting in the scheduler. */
  queueDepth: number;
  running: number;
  freeKvBlocks: number;
  totalKvBlocks: number;
  /** Per-lane credit the node extends (protocol.md step 3). */
  creditLimit: bigint;
}

const announcementParams = [
  {
    name: 'body',
    type: 'tuple',
    components: [
      { name: 'node', type: 'address' },
      { name: 'chainId', type: 'uint256' },
      { name: 'timestamp', type: 'uint64' },
      { name: 'url', type: 'string' },
      { name: 'peerId', type: 'string' },
      { name: 'multiaddrs', type: 'string[]' },
      {
        name: 'adapters',
        type: 'tuple[]',
        components: [
          { name: 'id', type: 'bytes32' },
          { name: 'name', type: 'string' },
          { name: 'resident', type: 'uint8' },
          { name: 'inputPer1k', type: 'uint256' },
          { name: 'outputPer1k', type: 'uint256' },
        ],
      },
      { name: 'queueDepth', type: 'uint32' },
      { name: 'running', type: 'uint32' },
      { name: 'freeKvBlocks', type: 'uint32' },
      { name: 'totalKvBlocks', type: 'uint32' },
      { name: 'creditLimit', type: 'uint256' },
    ],
  },
  { name: 'signature', type: 'bytes' },
] as const;

function bodyTuple(a: Announcement) {
  return {
    ...a,
    chainId: BigInt(a.chainId),
    adapters: a.adapters.map((x) => ({ ...x, resident: RESIDENCIES.indexOf(x.resident) })),
  };
}

/** The digest a node signs (EIP-191 `signMessage({ raw })`) for an announcement: keccak256 of its ABI-encoded body. */
export function announcementHash(a: Announcement): Hex {
  return keccak256(encodeAbiParameters([announcementParams[0]], [bodyTuple(a)]));
}

/** ABI-encodes `(body, signature)`. */
export function encodeAnnouncement(a: Announcement, signature: Hex): Uint8Array {
  return hexToBytes(encodeAbiParameters(announcementParams, [bodyTuple(a), signature]));
}

/** Decodes an announcement; rejects oversize, malformed, non-canonical ones and any over the field limits. */
export function decodeAnnouncement(data: Uint8Array): Decoded<{ announcement: Announcement; signature: Hex }> {
  if (data.length > MAX_ANNOUNCEMENT_MESSAGE_BYTES) return { ok: false, reason: `oversize (${data.length} > ${MAX_ANNOUNCEMENT_MESSAGE_BYTES} bytes)` };
  try {
    const [body, signature] = decodeAbiParameters(announcementParams, data);
    if (body.chainId > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'chainId out of range' };
    if (body.url.length > MAX_URL_LENGTH || !/^https?:\/\//.test(body.url)) return { ok: false, reason: 'bad url' };
    if (body.peerId.length > 128) return { ok: false, reason: 'bad peer id' };
    if (body.multiaddrs.length > MAX_ANNOUNCED_MULTIADDRS || body.multiaddrs.some((m) => m.length > MAX_MULTIADDR_LENGTH || !m.startsWith('/'))) return { ok: false, reason: 'bad multiaddrs' };
    if (body.adapters.length > MAX_ANNOUNCED_ADAPTERS) return { ok: false, reason: 'too many adapters' };
    if (body.adapters.some((x) => x.resident >= RESIDENCIES.length || x.name.length > MAX_ADAPTER_NAME_LENGTH)) return { ok: false, reason: 'bad adapter entry' };
    const announcement: Announcement = {
      ...body,
      chainId: Number(body.chainId),
      multiaddrs: [...body.multiaddrs],
      adapters: body.adapters.map((x) => ({ ...x, id: x.id.toLowerCase() as Hex, resident: RESIDENCIES[x.resident] })),
    };
    if (!sameBytes(encodeAnnouncement(announcement, signature), data)) return { ok: false, reason: 'non-canonical encoding' };
    return { ok: true, value: { announcement, signature } };
  } catch (error) {
    return { ok: false, reason: `bad encoding (${(error as Error).message.split('\n')[0]})` };
  }
}

/** keccak256 of the data: the gossipsub message id (protocol.md). */
export function messageIdOf(data: Uint8Array): Uint8Array {
  return keccak256Bytes(data);
}

