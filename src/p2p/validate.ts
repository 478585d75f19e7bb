/**
 * Gossip validators (protocol.md "Gossip"): each message is accepted, ignored (dropped without
 * blame) or rejected (dropped, and the peer that sent it loses score). Pure decisions over the
 * message, the chain view and what this node already stored; the caller stores accepted receipts.
 */
import { bytesToHex, hashMessage, hexToBytes, zeroAddress, type Address, type Hex } from 'viem';
import type { Deployment } from '../chain/deployment.ts';
import { InvalidSignatureError } from '../chain/errors.ts';
import type { PeerReceiptStore } from '../ledger/peerReceipts.ts';
import type { ChainView } from './chainView.ts';
import { announcementHash, decodeAnnouncement, decodeReceiptMessage, domainSeparator, receiptDigestOf, voucherDigestOf, type Announcement, type DecodedReceiptMessage } from './codec.ts';
import { MAX_ANNOUNCEMENT_AGE_S, MAX_RECEIPT_CLOCK_SKEW_S } from './constants.ts';
import type { SignatureVerifier } from './signatures.ts';

/** A validator's answer (gossipsub's TopicValidatorResult values). */
export type Verdict = 'accept' | 'ignore' | 'reject';

/** Verdict on a receipt message, with what was learned on the way. */
export interface ReceiptVerdict {
  result: Verdict;
  /** Why: a short stable phrase (metrics label and logs). */
  reason: string;
  message?: DecodedReceiptMessage;
  node?: Address;
  digest?: Hex;
}

export interface AnnouncementVerdict {
  result: Verdict;
  reason: string;
  announcement?: Announcement;
}

const ZERO32 = `0x${'00'.repeat(32)}`;

export interface CreateReceiptValidatorParameters {
  deployment: Pick<Deployment, 'chainId' | 'contracts'>;
  chainView: ChainView;
  verifier: SignatureVerifier;
  store: PeerReceiptStore;
  /** The per-lane credit limit of `node`: its announced one, else the configured assumption. */
  creditLimitOf(node: Address): bigint;
  /** Unix seconds now. */
  now?: () => number;
}

/** Validates receipt messages. */
export function createReceiptValidator(p: CreateReceiptValidatorParameters) {
  const receiptDomain = domainSeparator(p.deployment.chainId, p.deployment.contracts.nodeRegistry);
  const voucherDomain = domainSeparator(p.deployment.chainId, p.deployment.contracts.paymentChannels);
  const now = p.now ?? (() => Math.floor(Date.now() / 1000));
  // channelId -> the node last seen signing for it: the verifier's fast-path hint.
  const signerHint = new Map<Hex, Address>();

  return async function validateReceipt(data: Uint8Array): Promise<ReceiptVerdict> {
    const decoded = decodeReceiptMessage(data);
    if (!decoded.ok) return { result: 'reject', reason: decoded.reason.startsWith('oversize') ? 'oversize' : 'bad encoding' };
    const m = decoded.value;
    const r = m.receipt;
    if (r.timestamp > BigInt(now() + MAX_RECEIPT_CLOCK_SKEW_S)) return { result: 'ignore', reason: 'timestamp in the future', message: m };
    if (r.laneCharged < r.amount) return { result: 'reject', reason: 'laneCharged below amount', message: m };
    const digestBytes = receiptDigestOf(receiptDomain, m.receiptWords);
    const digest = bytesToHex(digestBytes);
    let node: Address;
    try {
      node = p.verifier.recover(digestBytes, m.signature, signerHint.get(r.channelId));
    } catch (error) {
      if (error instanceof InvalidSignatureError) return { result: 'reject', reason: 'bad node signature', message: m };
      throw error;
    }
    if (node === zeroAddress) return { result: 'reject', reason: 'bad node signature', message: m };
    if (p.store.has(node, r.seq, digest)) return { result: 'ignore', reason: 'duplicate', message: m, node, digest };
    let active: boolean;
    try {
      active = await p.chainView.isActive(node);
    } catch {
      return { result: 'ignore', reason: 'chain unavailable', message: m, node, digest };
    }
    if (!active) return { result: 'reject', reason: 'signer not a registered node', message: m, node, digest };
    if (signerHint.size > 100_000) signerHint.clear();
    signerHint.set(r.channelId, node);

    if (m.voucher === undefined) {
      // Open mode: no voucher; the receipt must say so.
      if (r.voucherDigest !== ZERO32) return { result: 'reject', reason: 'voucher missing', message: m, node, digest };
      return { result: 'accept', reason: 'valid', message: m, node, digest };
    }
    const v = m.voucher;
    if (v.channelId !== r.channelId || v.adapterId !== r.adapterId) return { result: 'reject', reason: 'voucher for another lane', message: m, node, digest };
    const vDigest = voucherDigestOf(voucherDomain, m.voucherWords);
    if (bytesToHex(vDigest) !== r.voucherDigest) return { result: 'reject', reason: 'voucher does not match voucherDigest', message: m, node, digest };
    let channel;
    try {
      channel = await p.chainView.channel(r.channelId);
    } catch {
      return { result: 'ignore', reason: 'chain unavailable', message: m, node, digest };
    }
    if (!channel) return { result: 'ignore', reason: 'unknown channel', message: m, node, digest };
    if (channel.node !== node) return { result: 'reject', reason: 'channel of another node', message: m, node, digest };
    let authorizer: Address;
    try {
      authorizer = p.verifier.recover(vDigest, m.voucherSignature ?? '0x', channel.authorizer);
    } catch (error) {
      if (error instanceof InvalidSignatureError) return { result: 'reject', reason: 'bad voucher signature', message: m, node, digest };
      throw error;
    }
    if (authorizer !== channel.authorizer) return { result: 'reject', reason: 'voucher not signed by the authorizer', message: m, node, digest };
    if (r.laneCharged - r.amount > v.cumulativeAmount + p.creditLimitOf(node)) return { result: 'reject', reason: 'beyond voucher plus credit limit', message: m, node, digest };
    return { result: 'accept', reason: 'valid', message: m, node, digest };
  };
}

export interface CreateAnnouncementValidatorParameters {
  chainId: number;
  chainView: ChainView;
  verifier: SignatureVerifier;
  /** Timestamp (unix ms) of the latest announcement accepted from `node`. */
  latestFrom(node: Address): bigint | undefined;
  /** Unix ms now. */
  now?: () => number;
}

/** Validates node announcements. */
export function createAnnouncementValidator(p: CreateAnnouncementValidatorParameters) {
  const now = p.now ?? Date.now;
  return async function validateAnnouncement(data: Uint8Array): Promise<AnnouncementVerdict> {
    const decoded = decodeAnnouncement(data);
    if (!decoded.ok) return { result: 'reject', reason: decoded.reason.startsWith('oversize') ? 'oversize' : 'bad encoding' };
    const { announcement: a, signature } = decoded.value;
    if (a.chainId !== p.chainId) return { result: 'reject', reason: 'wrong chain' };
    let signer: Address;
    try {
      signer = p.verifier.recover(hexToBytes(hashMessage({ raw: announcementHash(a) })), signature, a.node);
    } catch (error) {
      if (error instanceof InvalidSignatureError) return { result: 'reject', reason: 'bad node signature' };
      throw error;
    }
    if (signer !== a.node) return { result: 'reject', reason: 'bad node signature' };
    const t = now();
    if (a.timestamp > BigInt(t + 60_000)) return { result: 'ignore', reason: 'timestamp in the future' };
    if (a.timestamp < BigInt(t - MAX_ANNOUNCEMENT_AGE_S * 1000)) return { result: 'ignore', reason: 'stale' };
    const latest = p.latestFrom(a.node);
    if (latest !== undefined && a.timestamp <= latest) return { result: 'ignore', reason: 'duplicate' };
    let active: boolean;
    try {
      active = await p.chainView.isActive(a.node);
    } catch {
      return { result: 'ignore', reason: 'chain unavailable' };
    }
    if (!active) return { result: 'reject', reason: 'signer not a registered node' };
    return { result: 'accept', reason: 'valid', announcement: a };
  };
}
