/**
 * `openlora attribution publish`: sets an adapter's attribution root and total weight on-chain
 * from a report, after checking the report against the registered adapter (owner, weights hash,
 * base model, Datanets). Nothing is sent when a check fails.
 */
import { isAddressEqual, type Hex } from 'viem';
import { getContracts } from '../chain/contracts.ts';
import { assertDeploymentChain, type ChainContext } from '../chain/context.ts';
import { waitForSuccess } from '../chain/waitForSuccess.ts';
import { AttributionAdapterMismatchError, AttributionBaseModelMismatchError, AttributionZeroWeightError } from './errors.ts';
import { reportTree, type AttributionReport } from './report.ts';

/** Parameters of {@link publishAttribution}. */
export interface PublishAttributionParameters {
  ctx: ChainContext;
  report: AttributionReport;
}

/** Result of {@link publishAttribution}. */
export interface PublishAttributionReturnType {
  adapterId: Hex;
  root: Hex;
  totalWeight: bigint;
  /** False when the same root was already published (nothing sent). */
  sent: boolean;
  txHash?: Hex;
}

/** Checks the report against the registered adapter and sets its root. */
export async function publishAttribution({ ctx, report }: PublishAttributionParameters): Promise<PublishAttributionReturnType> {
  const wallet = ctx.walletClient;
  if (!wallet) throw new AttributionAdapterMismatchError('Publishing an attribution root needs the adapter owner\'s key.', { hint: 'Pass --key-file.' });
  await assertDeploymentChain(ctx);
  const tree = reportTree(report);
  if (!tree) throw new AttributionZeroWeightError(report.adapterId);
  const contracts = getContracts({ deployment: ctx.deployment, publicClient: ctx.publicClient, walletClient: wallet });
  const a = await contracts.adapterRegistry.read.adapterOf([report.adapterId]);
  if (/^0x0+$/.test(a.owner)) {
    throw new AttributionAdapterMismatchError(`Adapter ${report.adapterId} is not registered on-chain.`, { hint: 'Compute with --adapter-id set to the AdapterRegistry id of the adapter.' });
  }
  if (!isAddressEqual(a.owner, wallet.account.address)) {
    throw new AttributionAdapterMismatchError(`Adapter ${report.adapterId} is owned by ${a.owner}, not the signer ${wallet.account.address}.`);
  }
  if (a.weightsHash.toLowerCase() !== report.adapterContentId.toLowerCase()) {
    throw new AttributionAdapterMismatchError(`Adapter ${report.adapterId} is registered with weights hash ${a.weightsHash}; the report was computed for adapter files ${report.adapterContentId}.`);
  }
  if (a.baseModelHash.toLowerCase() !== report.baseModelHash.toLowerCase()) {
    throw new AttributionBaseModelMismatchError({ adapterId: report.adapterId, expected: a.baseModelHash, actual: report.baseModelHash });
  }
  for (const d of report.datanets) {
    if (d.datanetId === null || !a.datanetIds.includes(BigInt(d.datanetId))) {
      throw new AttributionAdapterMismatchError(`Datanet ${d.name} (#${d.datanetId ?? 'unpublished'}) is not one of adapter ${report.adapterId}'s registered Datanets (${a.datanetIds.join(', ') || 'none'}).`);
    }
  }
  if (a.totalWeight !== 0n) {
    if (a.attributionRoot.toLowerCase() === tree.root.toLowerCase() && a.totalWeight === tree.totalWeight) return { adapterId: report.adapterId, root: tree.root, totalWeight: tree.totalWeight, sent: false };
    throw new AttributionAdapterMismatchError(`Adapter ${report.adapterId} already has attribution root ${a.attributionRoot} (total ${a.totalWeight}); a root is set once.`, {
      hint: 'A new attribution means a new adapter version: register it under a new salt.',
    });
  }
  const txHash = await contracts.adapterRegistry.write.setAttributionRoot([report.adapterId, tree.root, tree.totalWeight]);
  await waitForSuccess(ctx.publicClient, txHash);
  return { adapterId: report.adapterId, root: tree.root, totalWeight: tree.totalWeight, sent: true, txHash };
}
