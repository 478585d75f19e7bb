// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title IAdapterRegistry
/// @notice LoRA adapters: owner, base model, weights, Datanets, royalty split and attribution root.
/// @dev `adapterId = keccak256(abi.encode(owner, salt))`. The attribution root (with its total
/// weight) is set once: `AttributionRewards` accumulates per adapter id, so a new attribution
/// means a new adapter version, registered under a new salt.
/// The royalty split changes only `TERMS_DELAY` (31 days) after `setRoyalty` announces it, so
/// a node that settles within a channel's withdraw delay settles at the terms it served at.
interface IAdapterRegistry {
    /// @notice Registration parameters.
    struct AdapterParams {
        bytes32 salt;
        bytes32 baseModelHash;
        bytes32 weightsHash;
        string uri;
        uint256[] datanetIds;
        uint16 royaltyBps;
        uint16 contributorBps;
    }

    /// @notice An adapter. `totalWeight == 0` means no attribution root yet. `royaltyBps` and
    /// `contributorBps` are the split in force until `termsEffectiveAt`, the pending ones from then on
    /// (`termsEffectiveAt == 0`: no change pending). `adapterOf` returns the terms resolved at the
    /// current block.
    struct Adapter {
        address owner;
        uint16 royaltyBps;
        uint16 contributorBps;
        uint64 totalWeight;
        uint16 pendingRoyaltyBps;
        uint16 pendingContributorBps;
        uint64 termsEffectiveAt;
        bytes32 attributionRoot;
        bytes32 baseModelHash;
        bytes32 weightsHash;
        string uri;
        uint256[] datanetIds;
    }

    /// @notice Adapter `adapterId` is already registered.
    error AdapterRegistryAdapterExists(bytes32 adapterId);
    /// @notice No adapter `adapterId`.
    error AdapterRegistryUnknownAdapter(bytes32 adapterId);
    /// @notice `caller` does not own adapter `adapterId`.
    error AdapterRegistryNotOwner(bytes32 adapterId, address caller);
    /// @notice A royalty of `royaltyBps` is above the maximum `maxBps`.
    error AdapterRegistryRoyaltyTooHigh(uint16 royaltyBps, uint16 maxBps);
    /// @notice A basis-point value above 10000.
    error AdapterRegistryInvalidBps(uint16 bps);
    /// @notice Adapter `adapterId` already has an attribution root.
    error AdapterRegistryRootAlreadySet(bytes32 adapterId);
    /// @notice An attribution root must be non-zero with a non-zero total weight.
    error AdapterRegistryInvalidAttribution(bytes32 root, uint64 totalWeight);
    /// @notice Datanet `datanetId` does not exist.
    error AdapterRegistryUnknownDatanet(uint256 datanetId);
    /// @notice The zero address was given for a required address.
    error AdapterRegistryZeroAddress();

    /// @notice Adapter `adapterId` was registered by `owner`.
    event AdapterRegistered(
        bytes32 indexed adapterId,
        address indexed owner,
        bytes32 baseModelHash,
        bytes32 weightsHash,
        string uri,
        uint256[] datanetIds,
        uint16 royaltyBps,
        uint16 contributorBps
    );
    /// @notice The royalty split of `adapterId` becomes `royaltyBps`/`contributorBps` at `effectiveAt`
    /// (unix seconds); settlements before then use the split in force. Replaces any earlier pending change.
    event RoyaltyChangeScheduled(bytes32 indexed adapterId, uint16 royaltyBps, uint16 contributorBps, uint64 effectiveAt);
    /// @notice The attribution root of `adapterId` was set.
    event AttributionRootSet(bytes32 indexed adapterId, bytes32 root, uint64 totalWeight);
    /// @notice The weights location of `adapterId` changed.
    event AdapterUriChanged(bytes32 indexed adapterId, string uri);
    /// @notice Ownership of `adapterId` moved from `previousOwner` to `newOwner`.
    event AdapterTransferred(bytes32 indexed adapterId, address indexed previousOwner, address indexed newOwner);

    /// @notice Registers an adapter owned by the caller.
    function register(AdapterParams calldata params) external returns (bytes32 adapterId);
    /// @notice Announces a new royalty split, in force `TERMS_DELAY` from now (owner only). Setting the
    /// split in force cancels a pending change at once.
    function setRoyalty(bytes32 adapterId, uint16 royaltyBps, uint16 contributorBps) external;
    /// @notice Sets the attribution root and total weight, once (owner only).
    function setAttributionRoot(bytes32 adapterId, bytes32 root, uint64 totalWeight) external;
    /// @notice Changes where the weights are fetched from (owner only).
    function setUri(bytes32 adapterId, string calldata uri) external;
    /// @notice Transfers the adapter (owner only).
    function transferAdapter(bytes32 adapterId, address newOwner) external;

    /// @notice The adapter id `owner` gets for `salt`.
    function adapterIdFor(address owner, bytes32 salt) external pure returns (bytes32);
    /// @notice Adapter `adapterId` (zero owner when unknown).
    function adapterOf(bytes32 adapterId) external view returns (Adapter memory);
    /// @notice The fields a settlement needs, with the split in force now. Zero owner when unknown.
    function splitOf(bytes32 adapterId)
        external
        view
        returns (address owner, uint16 royaltyBps, uint16 contributorBps, uint64 totalWeight);
    /// @notice The split in force now and the pending change (`effectiveAt == 0`: none).
    function termsOf(bytes32 adapterId)
        external
        view
        returns (
            uint16 royaltyBps,
            uint16 contributorBps,
            uint16 pendingRoyaltyBps,
            uint16 pendingContributorBps,
            uint64 effectiveAt
        );
    /// @notice The attribution root and total weight (zero when not set).
    function attributionOf(bytes32 adapterId) external view returns (bytes32 root, uint64 totalWeight);
}
