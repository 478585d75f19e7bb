/**
 * Contributors' side: what each published attribution pays an address (`openlora rewards`) and
 * one transaction claiming all of it (`openlora claim`), with proofs built from the published
 * report trees.
 */
import { getAddress, type Address, type Hex } from 'viem';
import { getContracts } from '../chain/contracts.ts';
import { getAttributionProof } from '../chain/merkle.ts';
import { assertDeploymentChain, type ChainContext } from '../chain/context.ts';
import { waitForSuccess } from '../chain/waitForSuccess.ts';
import { AttributionClaimError } from './errors.ts';
import { reportTree, treeWeights, type AttributionReport } from './report.ts';

/** One adapter's rewards for an address. */
export interface AdapterRewards {
  adapterId: Hex;
  weight: bigint;
  totalWeight: bigint;
  /** weight / totalWeight. */
  share: number;
  /** floor(weight * notified / totalWeight): everything earned so far (the contract's formula). */
  accrued: bigint;
  claimed: bigint;
  claimable: bigint;
  /** The report's root is the one on-chain (otherwise proofs from it fail). */
  rootOnChain: boolean;
}

/** Parameters of {@link rewardsOf}. */
export interface RewardsOfParameters {
  ctx: ChainContext;
  address: Address;
  reports: readonly AttributionReport[];
}

/** Per adapter of the reports: the address's weight, share, accrued, claimed and claimable amounts. */
export async function rewardsOf({ ctx, address, reports }: RewardsOfParameters): Promise<AdapterRewards[]> {
  await assertDeploymentChain(ctx);
  const { adapterRegistry, attributionRewards } = getContracts({ deployment: ctx.deployment, publicClient: ctx.publicClient });
  const who = getAddress(address);
  const rows: AdapterRewards[] = [];
  for (const report of reports) {
    const tree = reportTree(report);
    const weight = treeWeights(tree).get(who.toLowerCase()) ?? 0n;
    const [root, totalWeight] = await adapterRegistry.read.attributionOf([report.adapterId]);
    const notified = await attributionRewards.read.notifiedOf([report.adapterId]);
    const claimed = await attributionRewards.read.claimedOf([report.adapterId, who]);
    const claimable = weight > 0n ? await attributionRewards.read.claimable([report.adapterId, who, weight]) : 0n;
    rows.push({
      adapterId: report.adapterId,
      weight,
      totalWeight,
      share: totalWeight > 0n ? Number((weight * 1_000_000_000n) / totalWeight) / 1e9 : 0,
      accrued: totalWeight > 0n ? (weight * notified) / totalWeight : 0n,
      claimed,
      claimable,
      rootOnChain: tree !== null && root.toLowerCase() === tree.root.toLowerCase(),
    });
  }
  return rows;
}

/** Parameters of {@link claimRewards}. */
export interface ClaimRewardsParameters {
  ctx: ChainContext;
  reports: readonly AttributionReport[];
}

/** Claims everything claimable for the signer across the reports' adapters in one transaction. */
export async function claimRewards({ ctx, reports }: ClaimRewardsParameters): Promise<{ amount: bigint; adapterIds: Hex[]; txHash: Hex }> {
  const wallet = ctx.walletClient;
  if (!wallet) throw new AttributionClaimError('Claiming needs the contributor\'s key.', { hint: 'Pass --key-file.' });
  const me = wallet.account.address;
  const rows = await rewardsOf({ ctx, address: me, reports });
  const adapterIds: Hex[] = [];
  const weights: bigint[] = [];
  const proofs: Hex[][] = [];
  let amount = 0n;
  for (const [i, row] of rows.entries()) {
    if (row.claimable === 0n || !row.rootOnChain) continue;
    const { weight, proof } = getAttributionProof(reportTree(reports[i])!, me);
    adapterIds.push(row.adapterId);
    weights.push(weight);
    proofs.push(proof);
    amount += row.claimable;
  }
  if (adapterIds.length === 0) {
    throw new AttributionClaimError(`Nothing to claim for ${me} in ${reports.length} attribution report(s).`, { hint: 'See `openlora rewards ADDRESS` for accrued and claimed amounts.' });
  }
  const { attributionRewards } = getContracts({ deployment: ctx.deployment, publicClient: ctx.publicClient, walletClient: wallet });
  const txHash = await attributionRewards.write.claim([adapterIds, weights, proofs]);
  await waitForSuccess(ctx.publicClient, txHash);
  return { amount, adapterIds, txHash };
}
