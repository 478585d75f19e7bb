/**
 * Who audits whom (docs/p2p.md "Following"): the registered nodes sit on a ring ordered by
 * keccak256 of their address; each node follows (fetches every batch of) the `k` nodes after it
 * and is followed by the `k` before it. Everyone derives the same ring from NodeRegistry's events,
 * so every node is audited in full by `k` others, and each node's work is `k` nodes' worth however
 * large the network grows.
 */
import { keccak256Bytes } from '../chain/keccak.ts';
import { bytesToHex, hexToBytes, isAddressEqual, type Address } from 'viem';

/** The nodes in ring order. */
export function ringOrder(nodes: Iterable<Address>): Address[] {
  return [...nodes]
    .map((node) => ({ node, key: bytesToHex(keccak256Bytes(hexToBytes(node))) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((x) => x.node);
}

/** The `k` nodes `self` follows (its successors) and the `k` that follow it (its predecessors). */
export function ringNeighbours(self: Address, nodes: Iterable<Address>, k: number): { followees: Address[]; followers: Address[] } {
  const ring = ringOrder([...new Set([...nodes].filter((n) => !isAddressEqual(n, self))), self]);
  const at = ring.findIndex((n) => isAddressEqual(n, self));
  const others = ring.length - 1;
  const n = Math.min(k, others);
  const followees = Array.from({ length: n }, (_, i) => ring[(at + 1 + i) % ring.length]);
  const followers = Array.from({ length: n }, (_, i) => ring[(at - 1 - i + ring.length) % ring.length]);
  return { followees, followers };
}
