import { encodeAbiParameters, keccak256, type Address, type Hex } from 'viem';

/**
 * The id AdapterRegistry gives an adapter `owner` registers with `salt = contentId`:
 * `keccak256(abi.encode(owner, contentId))` (the contract's `adapterIdFor`). Payment lanes,
 * vouchers, receipts and attribution trees all name adapters by it.
 */
export function onChainAdapterId({ owner, contentId }: { owner: Address; contentId: Hex }): Hex {
  return keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'bytes32' }], [owner, contentId]));
}
