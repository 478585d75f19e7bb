/**
 * Registering an adapter for attribution. `AdapterRegistry` derives the on-chain id as
 * `keccak256(abi.encode(owner, salt))`, not the content id of src/lora/id.ts; openlora registers
 * with `salt = weightsHash = content id`, so the on-chain id is `keccak256(abi.encode(owner,
 * contentId))` and the registry's `weightsHash` names the files. `onChainAdapterId` computes it.
 */
import { parseEventLogs, type Hex } from 'viem';
import { onChainAdapterId } from '../chain/adapterId.ts';
import { adapterRegistryAbi, getContracts } from '../chain/contracts.ts';
import { assertDeploymentChain, type ChainContext } from '../chain/context.ts';
import { waitForSuccess } from '../chain/waitForSuccess.ts';
import { adapterIdOfDir } from '../lora/id.ts';
import { AttributionAdapterMismatchError } from './errors.ts';
import { baseModelHash } from './modelHash.ts';

export { onChainAdapterId };

/** Parameters of {@link registerAdapterOnChain}. */
export interface RegisterAdapterOnChainParameters {
  ctx: ChainContext;
  /** Adapter directory. */
  adapter: string;
  /** Base model directory (its hash is registered). */
  model: string;
  datanetIds: readonly bigint[];
  royaltyBps: number;
  contributorBps: number;
  uri?: string;
}

/** Registers an adapter (owner = the signer); returns its on-chain id. Registering the same adapter again returns the existing id. */
export async function registerAdapterOnChain(p: RegisterAdapterOnChainParameters): Promise<{ adapterId: Hex; contentId: Hex; created: boolean }> {
  const wallet = p.ctx.walletClient;
  if (!wallet) throw new AttributionAdapterMismatchError('Registering an adapter needs a signing key.', { hint: 'Pass --key-file.' });
  await assertDeploymentChain(p.ctx);
  const contentId = await adapterIdOfDir({ dir: p.adapter });
  const adapterId = onChainAdapterId({ owner: wallet.account.address, contentId });
  const contracts = getContracts({ deployment: p.ctx.deployment, publicClient: p.ctx.publicClient, walletClient: wallet });
  const existing = await contracts.adapterRegistry.read.adapterOf([adapterId]);
  if (!/^0x0+$/.test(existing.owner)) return { adapterId, contentId, created: false };
  const receipt = await waitForSuccess(p.ctx.publicClient, await contracts.adapterRegistry.write.register([{
    salt: contentId,
    baseModelHash: await baseModelHash({ dir: p.model }),
    weightsHash: contentId,
    uri: p.uri ?? `adapter:${contentId}`,
    datanetIds: [...p.datanetIds],
    royaltyBps: p.royaltyBps,
    contributorBps: p.contributorBps,
  }]));
  const [event] = parseEventLogs({ abi: adapterRegistryAbi, logs: receipt.logs, eventName: 'AdapterRegistered' });
  if (event.args.adapterId !== adapterId) throw new AttributionAdapterMismatchError(`AdapterRegistry assigned id ${event.args.adapterId}, expected ${adapterId}.`);
  return { adapterId, contentId, created: true };
}
