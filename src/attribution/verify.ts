/**
 * `openlora attribution verify`: recomputes an adapter's attribution from the files and compares
 * it with a published report and, with a chain, with the root the registry holds. Differences name
 * the contributors: those whose files no longer match their registered hashes, and those whose
 * recomputed weight differs from the published leaf beyond the tolerance.
 */
import type { Address, Hex } from 'viem';
import { getAddress } from 'viem';
import { getContracts } from '../chain/contracts.ts';
import { checkDatanetOnChain } from '../datanet/chain.ts';
import { loadDatanet, type ContributionProblem } from '../datanet/local.ts';
import { computeAttribution, type ComputeAttributionParameters } from './compute.ts';
import { reportTree, treeWeights, type AttributionReport } from './report.ts';
import { DEFAULT_WEIGHT_TOLERANCE, weightsAgree, type WeightTolerance } from './units.ts';

/** Parameters of {@link verifyAttribution}. */
export interface VerifyAttributionParameters extends Omit<ComputeAttributionParameters, 'adapterId'> {
  /** The published report (its tree is what contributors claim with). */
  published: AttributionReport;
  tolerance?: WeightTolerance;
}

/** One contributor whose weight does not verify. */
export interface WeightDifference {
  contributor: Address;
  published: bigint;
  recomputed: bigint;
}

/** Result of {@link verifyAttribution}. */
export interface VerifyAttributionReturnType {
  ok: boolean;
  /** The recomputed tree has the published root exactly. */
  exact: boolean;
  publishedRoot: Hex | null;
  /** Root the registry holds (with a chain). */
  onChainRoot: Hex | null;
  recomputedRoot: Hex | null;
  differences: WeightDifference[];
  /** Contribution files that do not match their manifest or on-chain hashes. */
  fileProblems: ContributionProblem[];
  /** Set when the report's root is not the one on-chain. */
  rootMismatch: boolean;
  recomputed?: AttributionReport;
}

/** Recomputes and compares. Never publishes anything. */
export async function verifyAttribution(p: VerifyAttributionParameters): Promise<VerifyAttributionReturnType> {
  const tolerance = p.tolerance ?? DEFAULT_WEIGHT_TOLERANCE;
  const publishedTree = reportTree(p.published);
  const publishedRoot = publishedTree?.root ?? null;
  let onChainRoot: Hex | null = null;
  if (p.chain) {
    const { adapterRegistry } = getContracts({ deployment: p.chain.deployment, publicClient: p.chain.publicClient });
    const [root] = await adapterRegistry.read.attributionOf([p.published.adapterId]);
    onChainRoot = /^0x0+$/.test(root) ? null : root;
  }
  const rootMismatch = p.chain !== undefined && onChainRoot?.toLowerCase() !== publishedRoot?.toLowerCase();
  const fileProblems: ContributionProblem[] = [];
  for (const dir of p.datanets) {
    const d = await loadDatanet({ dir, collectProblems: true });
    fileProblems.push(...d.problems);
    if (p.chain && d.problems.length === 0) fileProblems.push(...(await checkDatanetOnChain(p.chain, d)).problems);
  }
  const base = { ok: false, exact: false, publishedRoot, onChainRoot, rootMismatch };
  if (fileProblems.length > 0) return { ...base, recomputedRoot: null, differences: [], fileProblems };
  const recomputed = await computeAttribution({ ...p, adapterId: p.published.adapterId });
  const published = treeWeights(publishedTree);
  const mine = new Map<string, bigint>(recomputed.contributors.map((c) => [c.contributor.toLowerCase(), BigInt(c.weight)]));
  const differences: WeightDifference[] = [];
  for (const who of new Set([...published.keys(), ...mine.keys()])) {
    const a = published.get(who) ?? 0n;
    const b = mine.get(who) ?? 0n;
    if (!weightsAgree(a, b, tolerance)) differences.push({ contributor: getAddress(who), published: a, recomputed: b });
  }
  const exact = recomputed.root !== null && recomputed.root === publishedRoot;
  return { ...base, ok: differences.length === 0 && !rootMismatch, exact, recomputedRoot: recomputed.root, differences, fileProblems, recomputed };
}
