// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title IAttributionRewards
/// @notice Contributor rewards per adapter: a pool fed by settlements and claimed with Merkle proofs of
/// `(adapterId, contributor, weight)` against the adapter's root.
/// @dev Leaf: `keccak256(bytes.concat(keccak256(abi.encode(adapterId, contributor, weight))))`
/// (the standard leaf of the OpenZeppelin merkle-tree library).
/// `owed = floor(weight * notified / totalWeight) - claimed`, capped by what the adapter's pool still
/// holds, so a bad root can never reach other pools. Exact: a contributor loses less than one base
/// unit in total, however many notifications and claims.
interface IAttributionRewards {
    /// @notice Only the PaymentChannels contract may notify; `caller` is not it.
    error AttributionRewardsNotPaymentChannels(address caller);
    /// @notice Only the AdapterRegistry may set roots; `caller` is not it.
    error AttributionRewardsNotAdapterRegistry(address caller);
    /// @notice Adapter `adapterId` has no attribution root.
    error AttributionRewardsNoRoot(bytes32 adapterId);
    /// @notice The proof of `(adapterId, contributor, weight)` does not match the root.
    error AttributionRewardsInvalidProof(bytes32 adapterId, address contributor, uint256 weight);
    /// @notice `adapterIds`, `weights` and `proofs` differ in length.
    error AttributionRewardsLengthMismatch();
    /// @notice `contributor` has nothing to claim on the given adapters.
    error AttributionRewardsNothingToClaim(address contributor);

    /// @notice The attribution root and total weight of `adapterId` were copied from AdapterRegistry.
    event RootSet(bytes32 indexed adapterId, bytes32 root, uint64 totalWeight);
    /// @notice `amount` was added to the pool of `adapterId`, which has now been notified `notified` in total.
    event RewardsNotified(bytes32 indexed adapterId, uint256 amount, uint256 notified);
    /// @notice `contributor` claimed `amount` from the pool of `adapterId`.
    event RewardsClaimed(bytes32 indexed adapterId, address indexed contributor, uint256 amount);

    /// @notice Records the root and total weight of `adapterId` (AdapterRegistry only, once per adapter,
    /// when its owner sets them).
    /// @dev Kept here so a claim reads them from this contract's storage instead of calling the registry.
    function setRoot(bytes32 adapterId, bytes32 root, uint64 totalWeight) external;
    /// @notice Adds `amount` (transferred in the same transaction) to the pool of `adapterId`, which must
    /// have a root. PaymentChannels only. Returns false, accounting nothing, when the pool's lifetime
    /// total would pass 2^96 - 1 base units; the caller then pays the amount elsewhere.
    function notify(bytes32 adapterId, uint256 amount) external returns (bool accepted);
    /// @notice Claims the caller's rewards on each adapter with its weight and Merkle proof.
    function claim(bytes32[] calldata adapterIds, uint256[] calldata weights, bytes32[][] calldata proofs)
        external
        returns (uint256 amount);
    /// @notice What `contributor` with `weight` could claim now on `adapterId` (proof not checked).
    function claimable(bytes32 adapterId, address contributor, uint256 weight) external view returns (uint256);
    /// @notice The attribution root of `adapterId` (zero when not set).
    function rootOf(bytes32 adapterId) external view returns (bytes32);
    /// @notice The total weight of `adapterId`'s root (zero when not set).
    function totalWeightOf(bytes32 adapterId) external view returns (uint64);
    /// @notice Everything ever added to the pool of `adapterId`.
    function notifiedOf(bytes32 adapterId) external view returns (uint256);
    /// @notice The unclaimed balance of the pool of `adapterId`.
    function poolOf(bytes32 adapterId) external view returns (uint256);
    /// @notice What `contributor` has claimed on `adapterId`.
    function claimedOf(bytes32 adapterId, address contributor) external view returns (uint256);
}
