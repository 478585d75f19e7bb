/**
 * Receipt batches (docs/p2p.md "Batches"): a node commits its receipts in batches, one signature
 * per batch over the Merkle root of the receipts' EIP-712 digests. The tree is OpenZeppelin's
 * `MerkleProof` tree (pairs hashed sorted, keccak256; an odd node moves up unchanged), so
 * `NodeRegistry.slashReceipts` checks the same proofs this module makes.
 */
import { bytesToHex, hashTypedData, hexToBytes, type Hex } from 'viem';
import { usageReceiptDomain, type TypedDataSigner } from './eip712.ts';
import { ReceiptBatchError } from './errors.ts';
import { keccak256Bytes } from './keccak.ts';

/** `ReceiptBatch(uint64 batchSeq,bytes32 root,uint32 count,uint64 timestamp)` (INodeRegistry.ReceiptBatch). */
export const receiptBatchTypes = {
  ReceiptBatch: [
    { name: 'batchSeq', type: 'uint64' },
    { name: 'root', type: 'bytes32' },
    { name: 'count', type: 'uint32' },
    { name: 'timestamp', type: 'uint64' },
  ],
} as const;

/** A node's commitment to `count` receipts: the Merkle root of their digests. */
export interface ReceiptBatch {
  /** Unique per node key and increasing: the unix ms of the commit. */
  batchSeq: bigint;
  root: Hex;
  count: number;
  /** Unix seconds. */
  timestamp: bigint;
}

export interface ReceiptBatchParameters {
  batch: ReceiptBatch;
  chainId: number;
  nodeRegistry: `0x${string}`;
}

/** The EIP-712 digest of a batch (domain of usage receipts: verifyingContract = NodeRegistry). */
export function receiptBatchDigest({ batch, chainId, nodeRegistry }: ReceiptBatchParameters): Hex {
  return hashTypedData({ domain: usageReceiptDomain({ chainId, nodeRegistry }), types: receiptBatchTypes, primaryType: 'ReceiptBatch', message: batch });
}

/** Signs a batch with the node key. */
export async function signReceiptBatch(p: ReceiptBatchParameters & { account: TypedDataSigner }): Promise<Hex> {
  return p.account.signTypedData({ domain: usageReceiptDomain({ chainId: p.chainId, nodeRegistry: p.nodeRegistry }), types: receiptBatchTypes, primaryType: 'ReceiptBatch', message: p.batch });
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** keccak256 of the two nodes, smaller first (OpenZeppelin `Hashes.commutativeKeccak256`). */
function hashPair(a: Uint8Array, b: Uint8Array): Uint8Array {
  const buf = new Uint8Array(64);
  if (compare(a, b) <= 0) {
    buf.set(a, 0);
    buf.set(b, 32);
  } else {
    buf.set(b, 0);
    buf.set(a, 32);
  }
  return keccak256Bytes(buf);
}

/** A batch's tree: every level, leaves (receipt digests, in batch order) first. */
export interface ReceiptTree {
  readonly root: Hex;
  readonly count: number;
  /** The Merkle path of leaf `index` (what `MerkleProof.verify` takes). */
  proof(index: number): Hex[];
}

/** Builds the tree over receipt digests (32 bytes each, in batch order). Throws on an empty batch. */
export function buildReceiptTree(leaves: readonly Uint8Array[]): ReceiptTree {
  if (leaves.length === 0) throw new ReceiptBatchError('A receipt batch needs at least one receipt.', { hint: 'Commit a batch only when receipts are pending.' });
  const levels: Uint8Array[][] = [[...leaves]];
  while (levels[levels.length - 1].length > 1) {
    const below = levels[levels.length - 1];
    const above: Uint8Array[] = [];
    for (let i = 0; i < below.length; i += 2) above.push(i + 1 < below.length ? hashPair(below[i], below[i + 1]) : below[i]);
    levels.push(above);
  }
  return {
    root: bytesToHex(levels[levels.length - 1][0]),
    count: leaves.length,
    proof(index) {
      const path: Hex[] = [];
      let i = index;
      for (let l = 0; l < levels.length - 1; l++) {
        const sibling = i ^ 1;
        if (sibling < levels[l].length) path.push(bytesToHex(levels[l][sibling]));
        i >>= 1;
      }
      return path;
    },
  };
}

/** The root a leaf and its path lead to (OpenZeppelin `MerkleProof.processProof`). */
export function processReceiptProof(leaf: Uint8Array, proof: readonly Hex[]): Hex {
  let node = leaf;
  for (const p of proof) node = hashPair(node, hexToBytes(p));
  return bytesToHex(node);
}
