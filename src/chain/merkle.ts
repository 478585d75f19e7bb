/**
 * Attribution Merkle trees (protocol.md, "Proof of Attribution payouts"): one leaf per contributor
 * of an adapter, `(adapterId, contributor, weight)` encoded as ['bytes32', 'address', 'uint256'] and
 * double-hashed (the @openzeppelin/merkle-tree standard leaf, verified by `AttributionRewards`).
 */
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { getAddress, isAddress, isAddressEqual, isHex, type Address, type Hex } from 'viem';
import { AttributionTreeError } from './errors.ts';

/** Leaf encoding of an attribution tree. */
export const ATTRIBUTION_LEAF_ENCODING = ['bytes32', 'address', 'uint256'];

/** Largest total weight `AdapterRegistry` stores (uint64). */
export const MAX_TOTAL_WEIGHT = 2n ** 64n - 1n;

/** One contributor's attribution weight on an adapter. */
export interface AttributionLeaf {
  adapterId: Hex;
  contributor: Address;
  /** Integer weight (e.g. micro-nats of loss removed). */
  weight: bigint;
}

type LeafValue = [Hex, Address, string];

/** The published JSON form of a tree (`StandardMerkleTree.dump()`). */
export type AttributionTreeData = ReturnType<StandardMerkleTree<LeafValue>['dump']>;

/** A built attribution tree: root and total weight for `AdapterRegistry.setAttributionRoot`. */
export interface AttributionTree {
  adapterId: Hex;
  root: Hex;
  totalWeight: bigint;
  tree: StandardMerkleTree<LeafValue>;
}

/** Builds the tree of one adapter. Contributors must be unique and weights positive; total fits uint64. */
export function buildAttributionTree({ adapterId, leaves }: { adapterId: Hex; leaves: readonly Omit<AttributionLeaf, 'adapterId'>[] }): AttributionTree {
  if (!isHex(adapterId) || adapterId.length !== 66) throw new AttributionTreeError(`Adapter id ${adapterId} is not a bytes32 hex string.`);
  if (leaves.length === 0) throw new AttributionTreeError(`Adapter ${adapterId} has no attribution leaves.`, { hint: 'An adapter without contributors keeps no root; its contributor share goes to the owner.' });
  const seen = new Set<string>();
  let totalWeight = 0n;
  const values: LeafValue[] = leaves.map(({ contributor, weight }) => {
    if (!isAddress(contributor)) throw new AttributionTreeError(`Contributor ${contributor} is not an address.`);
    const key = getAddress(contributor);
    if (seen.has(key)) throw new AttributionTreeError(`Contributor ${contributor} appears twice for adapter ${adapterId}.`, { hint: 'Sum the weights of one contributor into one leaf.' });
    seen.add(key);
    if (weight <= 0n) throw new AttributionTreeError(`Contributor ${contributor} has weight ${weight}; weights must be positive.`, { hint: 'Leave out contributors with zero weight.' });
    totalWeight += weight;
    return [adapterId, getAddress(contributor), weight.toString()];
  });
  if (totalWeight > MAX_TOTAL_WEIGHT) {
    throw new AttributionTreeError(`Total weight ${totalWeight} of adapter ${adapterId} does not fit uint64.`, { hint: 'Scale the weights down (e.g. to micro-nats) before building the tree.' });
  }
  const tree = StandardMerkleTree.of(values, ATTRIBUTION_LEAF_ENCODING);
  return { adapterId, root: tree.root as Hex, totalWeight, tree };
}

/** The weight and proof of `contributor` in `tree`, as `AttributionRewards.claim` takes them. */
export function getAttributionProof(tree: AttributionTree, contributor: Address): { weight: bigint; proof: Hex[] } {
  for (const [i, value] of tree.tree.entries()) {
    if (isAddressEqual(value[1], contributor)) return { weight: BigInt(value[2]), proof: tree.tree.getProof(i) as Hex[] };
  }
  throw new AttributionTreeError(`Contributor ${contributor} is not in the attribution tree of adapter ${tree.adapterId}.`);
}

/** Checks a proof of `leaf` against `root` the way the contract does. */
export function verifyAttributionProof({ root, leaf, proof }: { root: Hex; leaf: AttributionLeaf; proof: readonly Hex[] }): boolean {
  return StandardMerkleTree.verify(root, ATTRIBUTION_LEAF_ENCODING, [leaf.adapterId, leaf.contributor, leaf.weight.toString()], [...proof]);
}

/** JSON form of a tree, for publishing so contributors can build their proofs. */
export function dumpAttributionTree(tree: AttributionTree): AttributionTreeData {
  return tree.tree.dump();
}

/** Loads a published tree; throws if its leaves are not attribution leaves. */
export function loadAttributionTree(data: AttributionTreeData): AttributionTree {
  if (JSON.stringify(data.leafEncoding) !== JSON.stringify(ATTRIBUTION_LEAF_ENCODING)) {
    throw new AttributionTreeError(`Tree leaf encoding ${JSON.stringify(data.leafEncoding)} is not ${JSON.stringify(ATTRIBUTION_LEAF_ENCODING)}.`);
  }
  const tree = StandardMerkleTree.load<LeafValue>(data);
  let totalWeight = 0n;
  let adapterId: Hex | undefined;
  for (const [, value] of tree.entries()) {
    adapterId ??= value[0];
    if (value[0] !== adapterId) throw new AttributionTreeError(`Tree mixes adapters ${adapterId} and ${value[0]}.`);
    totalWeight += BigInt(value[2]);
  }
  if (adapterId === undefined) throw new AttributionTreeError('Tree has no leaves.');
  return { adapterId, root: tree.root as Hex, totalWeight, tree };
}
