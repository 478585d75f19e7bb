/**
 * Split terms of payment lanes as the chain announces them (docs/contracts.md, "Split terms"): the
 * protocol fee and the adapter's royalty split in force, and the changes announced but not yet in
 * force with the time each takes effect. A change takes effect `TERMS_DELAY_SECONDS` after it is
 * announced, so a read stays authoritative for that long: nothing it did not see can take effect
 * before `readAt + TERMS_DELAY_SECONDS`.
 */
import { zeroAddress, zeroHash, type Address, type Hex, type PublicClient } from 'viem';
import { adapterRegistryAbi, paymentChannelsAbi } from './generated/abis.ts';

/** `FeeSplit.TERMS_DELAY` (31 days, longer than the 30-day longest channel withdraw delay); test/contracts/SplitTerms.test.ts checks the contracts agree. */
export const TERMS_DELAY_SECONDS = 31 * 24 * 3600;

/** What a settlement splits by (basis points). */
export interface SplitTerms {
  protocolFeeBps: number;
  royaltyBps: number;
  contributorBps: number;
}

/** Terms announced to take effect at `effectiveAt` (chain time, unix seconds). */
export interface TermsChange {
  effectiveAt: number;
  terms: SplitTerms;
}

/** One lane's terms as read from the chain. */
export interface LaneTerms {
  laneId: Hex;
  /** AdapterRegistry knows the adapter (always true for lane zero, the base model). */
  registered: boolean;
  /** The adapter has an attribution root (its contributor part goes to contributors, not the owner). */
  hasRoot: boolean;
  /** In force at `readAt`. */
  inForce: SplitTerms;
  /** Announced and not yet in force at `readAt`, earliest first (the fee's and the royalty's may differ). */
  pending: TermsChange[];
  /** Chain time of the read (unix seconds). */
  readAt: number;
}

/** A lane's terms as a node announces them at one moment (`GET /v1/models`). */
export interface AnnouncedTerms {
  registered: boolean;
  hasRoot: boolean;
  /** In force now. */
  inForce: SplitTerms;
  /** Announced changes still ahead, earliest first. */
  pending: TermsChange[];
  /** Chain time of the read (unix seconds). */
  readAt: number;
}

/** Parameters of {@link readLaneTerms}. */
export interface ReadLaneTermsParameters {
  publicClient: PublicClient;
  contracts: { adapterRegistry: Address; paymentChannels: Address };
  laneIds: readonly Hex[];
}

/** Reads the fee and each lane's royalty split, in force and pending, at the latest block. */
export async function readLaneTerms({ publicClient, contracts, laneIds }: ReadLaneTermsParameters): Promise<LaneTerms[]> {
  const block = await publicClient.getBlock({ blockTag: 'latest' });
  const blockNumber = block.number;
  const fee = { address: contracts.paymentChannels, abi: paymentChannelsAbi, blockNumber } as const;
  const [feeBps, [pendingFeeBps, feeAt]] = await Promise.all([
    publicClient.readContract({ ...fee, functionName: 'protocolFeeBps' }),
    publicClient.readContract({ ...fee, functionName: 'pendingProtocolFee' }),
  ]);
  const readAt = Number(block.timestamp);
  return Promise.all(
    laneIds.map(async (laneId): Promise<LaneTerms> => {
      const royalty = { royaltyBps: 0, contributorBps: 0, pendingRoyaltyBps: 0, pendingContributorBps: 0, effectiveAt: 0 };
      let registered = true;
      let hasRoot = false;
      if (laneId !== zeroHash) {
        const registry = { address: contracts.adapterRegistry, abi: adapterRegistryAbi, blockNumber, args: [laneId] } as const;
        const [[owner, , , totalWeight], terms] = await Promise.all([
          publicClient.readContract({ ...registry, functionName: 'splitOf' }),
          publicClient.readContract({ ...registry, functionName: 'termsOf' }),
        ]);
        registered = owner !== zeroAddress;
        hasRoot = totalWeight > 0n;
        [royalty.royaltyBps, royalty.contributorBps, royalty.pendingRoyaltyBps, royalty.pendingContributorBps] = terms;
        royalty.effectiveAt = Number(terms[4]);
      }
      const at = (time: number): SplitTerms => ({
        protocolFeeBps: feeAt !== 0n && time >= Number(feeAt) ? pendingFeeBps : feeBps,
        royaltyBps: royalty.effectiveAt !== 0 && time >= royalty.effectiveAt ? royalty.pendingRoyaltyBps : royalty.royaltyBps,
        contributorBps: royalty.effectiveAt !== 0 && time >= royalty.effectiveAt ? royalty.pendingContributorBps : royalty.contributorBps,
      });
      const times = [...new Set([Number(feeAt), royalty.effectiveAt].filter((t) => t > readAt))].sort((a, b) => a - b);
      return { laneId, registered, hasRoot, inForce: at(readAt), pending: times.map((effectiveAt) => ({ effectiveAt, terms: at(effectiveAt) })), readAt };
    }),
  );
}

/** The terms of `lane` in force at chain time `time` (unix seconds), by what was read. */
export function termsAt(lane: LaneTerms, time: number): SplitTerms {
  let terms = lane.inForce;
  for (const change of lane.pending) if (time >= change.effectiveAt) terms = change.terms;
  return terms;
}
