import { describe, expect, it } from 'vitest';
import { encodeAbiParameters, getAddress, keccak256, numberToHex, concat } from 'viem';
import { buildAttributionTree, dumpAttributionTree, getAttributionProof, loadAttributionTree, verifyAttributionProof } from '../../src/chain/merkle.ts';
import { isBaseError } from '../../src/errors.ts';

const adapterId = keccak256(numberToHex(42));
const addr = (i: number) => getAddress(keccak256(numberToHex(i, { size: 32 })).slice(0, 42));

describe('attribution Merkle tree', () => {
  it('builds, proves and verifies 1,000 leaves; the leaf is the double-hashed standard leaf', () => {
    const leaves = Array.from({ length: 1000 }, (_, i) => ({ contributor: addr(i), weight: BigInt(i + 1) }));
    const tree = buildAttributionTree({ adapterId, leaves });
    expect(tree.totalWeight).toBe(500_500n);
    const { weight, proof } = getAttributionProof(tree, addr(500));
    expect(weight).toBe(501n);
    expect(proof.length).toBe(10);
    expect(verifyAttributionProof({ root: tree.root, leaf: { adapterId, contributor: addr(500), weight }, proof })).toBe(true);
    expect(verifyAttributionProof({ root: tree.root, leaf: { adapterId, contributor: addr(500), weight: 502n }, proof })).toBe(false);
    // The leaf the contract computes: keccak256(bytes.concat(keccak256(abi.encode(adapterId, contributor, weight)))).
    const leaf = keccak256(concat([keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'address' }, { type: 'uint256' }], [adapterId, addr(500), 501n]))]));
    expect(tree.tree.leafHash([adapterId, addr(500), '501'])).toBe(leaf);
    const loaded = loadAttributionTree(JSON.parse(JSON.stringify(dumpAttributionTree(tree))));
    expect([loaded.root, loaded.totalWeight, loaded.adapterId]).toEqual([tree.root, tree.totalWeight, adapterId]);
  });

  it('refuses duplicate contributors, zero weights, overflowing totals and unknown contributors', () => {
    const bad = (f: () => unknown) => expect(f).toThrow(expect.toSatisfy((e: unknown) => isBaseError(e, 'OPENLORA_CHAIN_ATTRIBUTION_TREE')));
    bad(() => buildAttributionTree({ adapterId, leaves: [{ contributor: addr(1), weight: 1n }, { contributor: addr(1), weight: 2n }] }));
    bad(() => buildAttributionTree({ adapterId, leaves: [{ contributor: addr(1), weight: 0n }] }));
    bad(() => buildAttributionTree({ adapterId, leaves: [{ contributor: addr(1), weight: 2n ** 64n }] }));
    bad(() => buildAttributionTree({ adapterId, leaves: [] }));
    bad(() => getAttributionProof(buildAttributionTree({ adapterId, leaves: [{ contributor: addr(1), weight: 1n }] }), addr(2)));
  });
});
