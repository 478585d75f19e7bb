/**
 * Checks a fetched batch body against its signed header and sorts its receipts (docs/p2p.md
 * "Validation"): the body must rebuild the header's Merkle root (else it is not the batch: the peer
 * that served it is blamed); then each receipt is `open` (API-key channel: no voucher, and no such
 * channel on-chain), `backed` (its lane's best voucher, signed by the channel's authorizer, covers
 * it within the node's credit limit) or `refused` with a reason. Every receipt is kept as evidence
 * of what the node committed to; only backed ones count in lane totals. One voucher signature is
 * checked per lane and batch, not one per receipt.
 */
import { bytesToHex, isAddressEqual, zeroHash, type Address, type Hex } from 'viem';
import type { Deployment } from '../chain/deployment.ts';
import { InvalidSignatureError } from '../chain/errors.ts';
import type { ReceiptBatch } from '../chain/receiptBatch.ts';
import { buildReceiptTree } from '../chain/receiptBatch.ts';
import type { NewPeerReceipt } from '../ledger/peerReceipts.ts';
import { decodeBatchEntry, type DecodedBatchEntry } from './batchCodec.ts';
import type { ChainView, ChannelRecord } from './chainView.ts';
import { domainSeparator, receiptDigestOf, voucherDigestOf } from './codec.ts';
import { MAX_RECEIPT_CLOCK_SKEW_S } from './constants.ts';
import type { SignatureVerifier } from './signatures.ts';

/** Voucher signatures tried per lane and batch (highest cumulative amount first). */
const VOUCHERS_TRIED_PER_LANE = 3;

export type BatchCheck = { ok: false; reason: string } | { ok: true; receipts: NewPeerReceipt[]; refused: Record<string, number> };

export interface CreateBatchVerifierParameters {
  deployment: Pick<Deployment, 'chainId' | 'contracts'>;
  chainView: ChainView;
  verifier: SignatureVerifier;
  /** The per-lane credit limit of `node`: its announced one, else the configured assumption. */
  creditLimitOf(node: Address): bigint;
  /** Unix seconds now. */
  now?: () => number;
}

interface Candidate {
  entry: DecodedBatchEntry;
  slot: number;
}

/** Creates the checker of batch bodies. */
export function createBatchVerifier(p: CreateBatchVerifierParameters) {
  const receiptDomain = domainSeparator(p.deployment.chainId, p.deployment.contracts.nodeRegistry);
  const voucherDomain = domainSeparator(p.deployment.chainId, p.deployment.contracts.paymentChannels);
  const now = p.now ?? (() => Math.floor(Date.now() / 1000));

  return async function verifyBatch(node: Address, batch: ReceiptBatch, entries: readonly Uint8Array[]): Promise<BatchCheck> {
    if (entries.length !== batch.count) return { ok: false, reason: `${entries.length} receipts for a batch of ${batch.count}` };
    const decoded: DecodedBatchEntry[] = [];
    const leaves: Uint8Array[] = [];
    for (const bytes of entries) {
      // Let the event loop breathe in big batches (~10 ms per 256 receipts): requests keep being served.
      if (decoded.length % 256 === 255) await new Promise((r) => setImmediate(r));
      const d = decodeBatchEntry(bytes);
      if (!d.ok) return { ok: false, reason: d.reason };
      decoded.push(d.value);
      leaves.push(receiptDigestOf(receiptDomain, d.value.receiptWords));
    }
    if (buildReceiptTree(leaves).root !== batch.root) return { ok: false, reason: 'receipts do not match the root' };

    const refused: Record<string, number> = {};
    const receipts: NewPeerReceipt[] = decoded.map((e, i) => ({ digest: bytesToHex(leaves[i]), receipt: e.receipt, message: entries[i], status: 'refused' }));
    const refuse = (i: number, reason: string) => {
      receipts[i].status = 'refused';
      refused[reason] = (refused[reason] ?? 0) + 1;
    };
    const channels = new Map<string, Promise<ChannelRecord | undefined | 'unavailable'>>();
    const channelOf = (id: Hex, open: boolean) => {
      const key = `${open}:${id}`;
      let c = channels.get(key);
      if (!c) {
        c = (open ? p.chainView.openModeChannel(id) : p.chainView.channel(id)).catch(() => 'unavailable' as const);
        channels.set(key, c);
      }
      return c;
    };
    const lanes = new Map<string, { channel: ChannelRecord; candidates: Candidate[] }>();
    const limit = BigInt(now() + MAX_RECEIPT_CLOCK_SKEW_S);
    for (let i = 0; i < decoded.length; i++) {
      const e = decoded[i];
      const r = e.receipt;
      if (r.laneCharged < r.amount) refuse(i, 'laneCharged below amount');
      else if (r.timestamp > limit) refuse(i, 'timestamp in the future');
      else {
        const channel = await channelOf(r.channelId, !e.voucher && r.voucherDigest === zeroHash);
        if (channel === 'unavailable') refuse(i, 'channel unchecked');
        else if (!channel) {
          // Open mode: an API-key channel, never one the chain knows.
          if (e.voucher || r.voucherDigest !== zeroHash) refuse(i, 'voucher for an unknown channel');
          else receipts[i].status = 'open';
        } else if (!e.voucher) refuse(i, 'open-mode receipt on an on-chain channel');
        else if (!isAddressEqual(channel.node, node)) refuse(i, 'channel of another node');
        else if (e.voucher.channelId !== r.channelId || e.voucher.adapterId !== r.adapterId) refuse(i, 'voucher for another lane');
        else if (bytesToHex(voucherDigestOf(voucherDomain, e.voucherWords)) !== r.voucherDigest) refuse(i, 'voucher does not match voucherDigest');
        else {
          const key = `${r.channelId}:${r.adapterId}`;
          const lane = lanes.get(key) ?? { channel, candidates: [] };
          lane.candidates.push({ entry: e, slot: i });
          lanes.set(key, lane);
        }
      }
    }
    const credit = p.creditLimitOf(node);
    for (const { channel, candidates } of lanes.values()) {
      const byAmount = [...candidates].sort((a, b) => (a.entry.voucher!.cumulativeAmount > b.entry.voucher!.cumulativeAmount ? -1 : 1));
      let acknowledged: bigint | undefined;
      for (const c of byAmount.slice(0, VOUCHERS_TRIED_PER_LANE)) {
        let good = false;
        try {
          good = p.verifier.verify(voucherDigestOf(voucherDomain, c.entry.voucherWords), c.entry.voucherSignature ?? '0x', channel.authorizer);
        } catch (error) {
          if (!(error instanceof InvalidSignatureError)) throw error;
        }
        if (good) {
          acknowledged = c.entry.voucher!.cumulativeAmount;
          break;
        }
      }
      for (const c of candidates) {
        const r = c.entry.receipt;
        if (acknowledged === undefined) refuse(c.slot, 'voucher not signed by the authorizer');
        else if (r.laneCharged - r.amount > acknowledged + credit) refuse(c.slot, 'beyond voucher plus credit limit');
        else receipts[c.slot].status = 'backed';
      }
    }
    return { ok: true, receipts, refused };
  };
}
