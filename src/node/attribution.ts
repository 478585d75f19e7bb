import { zeroHash, type Address, type Hex, type PublicClient } from 'viem';
import { adapterRegistryAbi } from '../chain/generated/abis.ts';
import type { Logger } from '../log.ts';

/**
 * The attribution roots of the adapters a node serves, read from AdapterRegistry at start: each
 * receipt's `attributionDigest` names the root that splits its payment (zero without one).
 */
export async function readAttributionRoots(p: { publicClient: PublicClient; adapterRegistry: Address; lanes: Array<{ contentId: Hex; laneId: Hex }>; log: Logger }): Promise<Map<Hex, Hex>> {
  const roots = new Map<Hex, Hex>();
  await Promise.all(
    p.lanes.map(async ({ contentId, laneId }) => {
      try {
        const [root] = await p.publicClient.readContract({ address: p.adapterRegistry, abi: adapterRegistryAbi, functionName: 'attributionOf', args: [laneId] });
        if (root !== zeroHash) roots.set(contentId, root);
      } catch (error) {
        p.log.warn({ err: error, laneId }, 'cannot read the attribution root; receipts name none for this adapter');
      }
    }),
  );
  return roots;
}
