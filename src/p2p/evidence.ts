import { hexToBytes, type Hex } from 'viem';
import type { UsageReceipt } from '../chain/eip712.ts';
import { buildReceiptTree, type ReceiptBatch } from '../chain/receiptBatch.ts';
import type { PeerReceipt, PeerReceiptStore } from '../ledger/peerReceipts.ts';
import { decodeBatchHeader } from './batchCodec.ts';

/** A receipt as its node vouched for it, in the form `NodeRegistry.slashReceipts` takes. */
export interface ReceiptEvidence {
  receipt: UsageReceipt;
  /** The node's signature over the batch (or over the receipt, when `batch.root` is zero). */
  signature: Hex;
  batch: ReceiptBatch;
  /** Merkle path from the receipt's digest to `batch.root`. */
  proof: Hex[];
}

/** The proof that `r` is in a stored, signed batch of its node: the header, its signature and the Merkle path. */
export function batchEvidence(store: Pick<PeerReceiptStore, 'headers' | 'leaves'>, r: PeerReceipt): ReceiptEvidence | undefined {
  for (const h of store.headers(r.node, r.batchSeq)) {
    const leaves = store.leaves(r.node, r.batchSeq, h.batch.root);
    if (leaves?.[r.index] !== r.digest) continue;
    const header = decodeBatchHeader(h.message);
    if (!header.ok) continue;
    return { receipt: r.receipt, signature: header.value.signature, batch: h.batch, proof: buildReceiptTree(leaves.map((l) => hexToBytes(l))).proof(r.index) };
  }
  return undefined;
}
