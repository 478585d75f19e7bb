/**
 * The attribution report: per contribution and per contributor loss figures and integer weights,
 * plus the attribution tree (`@openzeppelin/merkle-tree` dump, leaves `(adapterId, contributor,
 * weight)`). The report file is what an adapter owner publishes next to the on-chain root, and
 * what contributors build their claim proofs from.
 */
import type { BackendKind } from '../engine/backend.ts';
import type { DeviceDtype } from '../model/dtype.ts';
import type { Address, Hex } from 'viem';
import { buildAttributionTree, loadAttributionTree, type AttributionTree, type AttributionTreeData } from '../chain/merkle.ts';
import { AttributionReportError } from './errors.ts';
import { WEIGHT_UNITS_PER_NAT } from './units.ts';

/** Format tag of report files. */
export const ATTRIBUTION_REPORT_FORMAT = 'openlora-attribution/1';

/** One contribution's figures. Loss figures are summed nats over its scored tokens. */
export interface ContributionAttribution {
  datanet: string;
  /** On-chain Datanet id (decimal), when published. */
  datanetId: string | null;
  index: number;
  contributor: Address;
  contentHash: Hex;
  tokenCount: number;
  scoredTokens: number;
  lossBase: number;
  lossAdapter: number;
  /** max(0, lossBase - lossAdapter). */
  weightNats: number;
  /** floor(weightNats * 1e6), decimal string. */
  weight: string;
}

/** One contributor's totals. */
export interface ContributorAttribution {
  contributor: Address;
  contributions: number;
  lossBase: number;
  lossAdapter: number;
  weightNats: number;
  /** Sum of its contributions' units, decimal string. */
  weight: string;
  /** weight / totalWeight (0 when the total is 0). */
  share: number;
}

/** A whole report (the JSON file). */
export interface AttributionReport {
  format: typeof ATTRIBUTION_REPORT_FORMAT;
  /** Adapter id the tree's leaves carry (the on-chain AdapterRegistry id). */
  adapterId: Hex;
  /** Content id of the adapter files (src/lora/id.ts); AdapterRegistry `weightsHash`. */
  adapterContentId: Hex;
  /** `baseModelHash` of the model it was computed on (modelHash.ts). */
  baseModelHash: Hex;
  backend: BackendKind;
  dtype: DeviceDtype;
  unitsPerNat: number;
  datanets: Array<{ name: string; version: string; datanetId: string | null }>;
  contributions: ContributionAttribution[];
  contributors: ContributorAttribution[];
  /** Decimal string. */
  totalWeight: string;
  /** null when every weight is 0 (nothing to publish). */
  root: Hex | null;
  tree: AttributionTreeData | null;
}

/** Sums contributions per contributor and builds the tree over contributors with weight > 0. */
export function buildReport(p: Omit<AttributionReport, 'format' | 'unitsPerNat' | 'contributors' | 'totalWeight' | 'root' | 'tree'>): AttributionReport {
  const by = new Map<Address, ContributorAttribution>();
  const units = new Map<Address, bigint>();
  for (const c of p.contributions) {
    const row = by.get(c.contributor) ?? { contributor: c.contributor, contributions: 0, lossBase: 0, lossAdapter: 0, weightNats: 0, weight: '0', share: 0 };
    row.contributions++;
    row.lossBase += c.lossBase;
    row.lossAdapter += c.lossAdapter;
    row.weightNats += c.weightNats;
    units.set(c.contributor, (units.get(c.contributor) ?? 0n) + BigInt(c.weight));
    by.set(c.contributor, row);
  }
  const total = [...units.values()].reduce((a, b) => a + b, 0n);
  const contributors = [...by.values()].map((row) => {
    const w = units.get(row.contributor)!;
    return { ...row, weight: w.toString(), share: total > 0n ? Number((w * 1_000_000_000n) / total) / 1e9 : 0 };
  });
  contributors.sort((a, b) => (BigInt(b.weight) > BigInt(a.weight) ? 1 : BigInt(b.weight) < BigInt(a.weight) ? -1 : a.contributor.localeCompare(b.contributor)));
  const leaves = contributors.filter((c) => BigInt(c.weight) > 0n).map((c) => ({ contributor: c.contributor, weight: BigInt(c.weight) }));
  const tree = leaves.length > 0 ? buildAttributionTree({ adapterId: p.adapterId, leaves }) : null;
  return {
    format: ATTRIBUTION_REPORT_FORMAT,
    ...p,
    unitsPerNat: WEIGHT_UNITS_PER_NAT,
    contributors,
    totalWeight: total.toString(),
    root: tree?.root ?? null,
    tree: tree ? tree.tree.dump() : null,
  };
}

/** The tree of a report, rebuilt from its leaves (so a root that does not match them is caught). */
export function reportTree(report: AttributionReport, file = '(report)'): AttributionTree | null {
  if (!report.tree) return null;
  let loaded: AttributionTree;
  try {
    loaded = loadAttributionTree(report.tree);
  } catch (cause) {
    throw new AttributionReportError(file, 'has a tree that does not load', { cause, details: (cause as Error).message });
  }
  const rebuilt = buildAttributionTree({ adapterId: loaded.adapterId, leaves: [...loaded.tree.entries()].map(([, v]) => ({ contributor: v[1], weight: BigInt(v[2]) })) });
  if (rebuilt.root !== loaded.root || (report.root && report.root !== rebuilt.root)) {
    throw new AttributionReportError(file, `has a tree whose leaves hash to ${rebuilt.root}, not its stated root ${report.root ?? loaded.root}`);
  }
  if (rebuilt.adapterId.toLowerCase() !== report.adapterId.toLowerCase()) throw new AttributionReportError(file, `has tree leaves for adapter ${rebuilt.adapterId}, not ${report.adapterId}`);
  return rebuilt;
}

/** Leaf weights of a report's tree by lowercase contributor address. */
export function treeWeights(tree: AttributionTree | null): Map<string, bigint> {
  const out = new Map<string, bigint>();
  if (tree) for (const [, v] of tree.tree.entries()) out.set(v[1].toLowerCase(), BigInt(v[2]));
  return out;
}

/** Checks parsed JSON as a report (format tag, tree against root); `source` names it in errors. */
export function parseAttributionReport(json: unknown, source = '(report)'): AttributionReport {
  const report = json as AttributionReport;
  if (report?.format !== ATTRIBUTION_REPORT_FORMAT) throw new AttributionReportError(source, `is not an ${ATTRIBUTION_REPORT_FORMAT} file`);
  reportTree(report, source);
  return report;
}
