/**
 * Gossip validators (docs/p2p.md "Validation"): each message is accepted, ignored (dropped without
 * blame) or rejected (dropped, and the peer that sent it loses score). Pure decisions over the
 * message, the chain view and what this node already stored; the caller stores what is accepted.
 */
import { hashMessage, hexToBytes, type Address } from 'viem';
import type { Deployment } from '../chain/deployment.ts';
import { InvalidSignatureError } from '../chain/errors.ts';
import type { PeerReceiptStore, StoredHeader } from '../ledger/peerReceipts.ts';
import { decodeBatchHeader, type DecodedBatchHeader } from './batchCodec.ts';
import type { ChainView } from './chainView.ts';
import { announcementHash, batchDigestOf, decodeAnnouncement, domainSeparator, type Announcement } from './codec.ts';
import { MAX_ANNOUNCEMENT_AGE_S, MAX_RECEIPT_CLOCK_SKEW_S } from './constants.ts';
import type { SignatureVerifier } from './signatures.ts';

/** A validator's answer (gossipsub's TopicValidatorResult values). */
export type Verdict = 'accept' | 'ignore' | 'reject';

export interface HeaderVerdict {
  result: Verdict;
  /** Why: a short stable phrase (metrics label and logs). */
  reason: string;
  header?: DecodedBatchHeader;
  /** Other headers already stored for the same (node, batchSeq): an equivocation when non-empty. */
  others?: StoredHeader[];
}

export interface AnnouncementVerdict {
  result: Verdict;
  reason: string;
  /** Application-score points the sender loses although the message is only ignored. */
  penalty?: number;
  announcement?: Announcement;
}

export interface CreateHeaderValidatorParameters {
  deployment: Pick<Deployment, 'chainId' | 'contracts'>;
  chainView: ChainView;
  verifier: SignatureVerifier;
  store: Pick<PeerReceiptStore, 'headers'>;
  /** Unix seconds now. */
  now?: () => number;
}

/**
 * Validates batch headers published on `node`'s topic. The topic names the signer, so a forged
 * header costs one signature check against a known key and no chain look-up.
 */
export function createHeaderValidator(p: CreateHeaderValidatorParameters) {
  const domain = domainSeparator(p.deployment.chainId, p.deployment.contracts.nodeRegistry);
  const now = p.now ?? (() => Math.floor(Date.now() / 1000));
  return async function validateHeader(data: Uint8Array, node: Address): Promise<HeaderVerdict> {
    const decoded = decodeBatchHeader(data);
    if (!decoded.ok) return { result: 'reject', reason: decoded.reason.startsWith('oversize') ? 'oversize' : 'bad encoding' };
    const h = decoded.value;
    if (h.node !== node) return { result: 'reject', reason: 'header of another node' };
    if (h.batch.timestamp > BigInt(now() + MAX_RECEIPT_CLOCK_SKEW_S)) return { result: 'ignore', reason: 'timestamp in the future' };
    try {
      if (!p.verifier.verify(batchDigestOf(domain, h.batchWords), h.signature, node)) return { result: 'reject', reason: 'bad node signature' };
    } catch (error) {
      if (error instanceof InvalidSignatureError) return { result: 'reject', reason: 'bad node signature' };
      throw error;
    }
    const others = p.store.headers(node, h.batch.batchSeq);
    if (others.some((o) => o.batch.root === h.batch.root)) return { result: 'ignore', reason: 'duplicate', header: h };
    let active: boolean;
    try {
      active = await p.chainView.isActive(node);
    } catch {
      return { result: 'ignore', reason: 'chain unavailable', header: h };
    }
    if (!active) return { result: 'reject', reason: 'signer not a registered node', header: h };
    return { result: 'accept', reason: others.length > 0 ? 'equivocation' : 'valid', header: h, others };
  };
}

export interface CreateAnnouncementValidatorParameters {
  chainId: number;
  chainView: ChainView;
  verifier: SignatureVerifier;
  /** Timestamp (unix ms) of the latest announcement accepted from `node`. */
  latestFrom(node: Address): bigint | undefined;
  /** Whether the registry index knows `node` (undefined while it is not synced). */
  isRegistered?: (node: Address) => boolean | undefined;
  /** Unix ms now. */
  now?: () => number;
}

/**
 * Validates node announcements. A node the registry index has never seen is ignored before any
 * signature work (it may have registered a moment ago, so the forwarder is not blamed beyond a
 * small penalty that only a stream of them adds up).
 */
export function createAnnouncementValidator(p: CreateAnnouncementValidatorParameters) {
  const now = p.now ?? Date.now;
  return async function validateAnnouncement(data: Uint8Array): Promise<AnnouncementVerdict> {
    const decoded = decodeAnnouncement(data);
    if (!decoded.ok) return { result: 'reject', reason: decoded.reason.startsWith('oversize') ? 'oversize' : 'bad encoding' };
    const { announcement: a, signature } = decoded.value;
    if (a.chainId !== p.chainId) return { result: 'reject', reason: 'wrong chain' };
    const t = now();
    if (a.timestamp > BigInt(t + 60_000)) return { result: 'ignore', reason: 'timestamp in the future' };
    if (a.timestamp < BigInt(t - MAX_ANNOUNCEMENT_AGE_S * 1000)) return { result: 'ignore', reason: 'stale' };
    const latest = p.latestFrom(a.node);
    if (latest !== undefined && a.timestamp <= latest) return { result: 'ignore', reason: 'duplicate' };
    if (p.isRegistered?.(a.node) === false) return { result: 'ignore', reason: 'unknown node', penalty: 2 };
    try {
      if (!p.verifier.verify(hexToBytes(hashMessage({ raw: announcementHash(a) })), signature, a.node)) return { result: 'reject', reason: 'bad node signature' };
    } catch (error) {
      if (error instanceof InvalidSignatureError) return { result: 'reject', reason: 'bad node signature' };
      throw error;
    }
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
