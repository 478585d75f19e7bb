/**
 * The split of one settled payment, mirroring contracts/libraries/FeeSplit.sol: every share
 * rounds down, the treasury takes the protocol fee plus the rounding dust, and the contributor part
 * of the royalty goes to the adapter owner while the adapter has no attribution root.
 */
export interface SplitPaymentParameters {
  paid: bigint;
  protocolFeeBps: number;
  royaltyBps: number;
  contributorBps: number;
  /** Whether the adapter has an attribution root (`totalWeight > 0`). */
  hasRoot: boolean;
}

export interface SplitPaymentReturnType {
  node: bigint;
  owner: bigint;
  contributors: bigint;
  treasury: bigint;
}

/** Splits `paid` into node, adapter owner, contributors and treasury shares. */
export function splitPayment({ paid, protocolFeeBps, royaltyBps, contributorBps, hasRoot }: SplitPaymentParameters): SplitPaymentReturnType {
  const royalty = (paid * BigInt(royaltyBps)) / 10_000n;
  const contributors = hasRoot ? (royalty * BigInt(contributorBps)) / 10_000n : 0n;
  const node = (paid * BigInt(10_000 - protocolFeeBps - royaltyBps)) / 10_000n;
  return { node, owner: royalty - contributors, contributors, treasury: paid - royalty - node };
}
