import { isAddressEqual, zeroAddress, type Address, type Hex, type PublicClient } from 'viem';
import { adapterRegistryAbi } from '../chain/generated/abis.ts';
import { AdapterLaneUnsettleableError } from './errors.ts';

/**
 * Paid mode's check of an adapter registered at run time (`POST /admin/adapters`): its lane (the id
 * `owner`, the registrant, got for salt = content id) must be an AdapterRegistry record of these
 * exact files (a later transfer of the record keeps the id), or every settlement of it
 * reverts (`PaymentChannelsUnknownAdapter`) after the node served and was acknowledged.
 */
export function createSettleableLaneCheck(p: { publicClient: PublicClient; adapterRegistry: Address }) {
  return async ({ contentId, laneId, owner }: { contentId: Hex; laneId: Hex; owner?: Address }): Promise<void> => {
    if (!owner) throw new AdapterLaneUnsettleableError(contentId, 'no owner was given, so its lane is not an AdapterRegistry id', 'Pass "owner": the address that registered the adapter in AdapterRegistry (salt = its content id).');
    const record = await p.publicClient.readContract({ address: p.adapterRegistry, abi: adapterRegistryAbi, functionName: 'adapterOf', args: [laneId] });
    if (isAddressEqual(record.owner, zeroAddress)) {
      throw new AdapterLaneUnsettleableError(contentId, `AdapterRegistry has no adapter ${laneId} (owner ${owner}, salt = content id)`, `Have ${owner} register it in AdapterRegistry (register with salt and weightsHash = ${contentId}) first, or pass the owner that did.`);
    }
    if (record.weightsHash.toLowerCase() !== contentId.toLowerCase()) {
      throw new AdapterLaneUnsettleableError(contentId, `AdapterRegistry adapter ${laneId} records weights ${record.weightsHash}, not these files (${contentId})`, 'Register the exact files that adapter id was created for.');
    }
  };
}
