// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title IDatanetRegistry
/// @notice Datanets (curated data sets) and their contributions: who contributed which content
/// (by hash) and how many tokens of it. Attribution weights are computed off-chain per contribution.
/// @dev Contributions are keyed by contributor: each is recorded for the contributor who sends it
/// (`contribute`) or signs it (`contributeFor`, EIP-712 `Contribution(uint256 datanetId,bytes32
/// contentHash,uint64 tokenCount)` in the domain {name: "openlora", version: "1", chainId,
/// verifyingContract: this registry}). Anyone may record the same content under their own address;
/// that neither removes nor blocks another contributor's entry, and a Datanet's manifest says whose
/// entries it includes.
interface IDatanetRegistry {
    /// @notice A Datanet.
    struct Datanet {
        address owner;
        uint64 contributionCount;
        bytes32 metadataHash;
        string uri;
    }

    /// @notice One contribution to a Datanet.
    struct Contribution {
        address contributor;
        uint64 tokenCount;
        bytes32 contentHash;
    }

    /// @notice No Datanet with id `datanetId`.
    error DatanetRegistryUnknownDatanet(uint256 datanetId);
    /// @notice `caller` does not own Datanet `datanetId`.
    error DatanetRegistryNotOwner(uint256 datanetId, address caller);
    /// @notice `contributor` already contributed `contentHash` to Datanet `datanetId`.
    error DatanetRegistryDuplicateContribution(uint256 datanetId, address contributor, bytes32 contentHash);
    /// @notice The signature does not show `contributor` contributing `contentHash` to Datanet `datanetId`.
    error DatanetRegistryInvalidSignature(uint256 datanetId, address contributor, bytes32 contentHash);
    /// @notice A contribution must have at least one token.
    error DatanetRegistryZeroTokenCount();
    /// @notice No contribution `index` in Datanet `datanetId`.
    error DatanetRegistryUnknownContribution(uint256 datanetId, uint256 index);

    /// @notice Datanet `datanetId` was created by `owner`.
    event DatanetCreated(uint256 indexed datanetId, address indexed owner, bytes32 metadataHash, string uri);
    /// @notice Datanet `datanetId` changed its metadata.
    event DatanetUpdated(uint256 indexed datanetId, bytes32 metadataHash, string uri);
    /// @notice `contributor` added contribution `index` to Datanet `datanetId`.
    event ContributionAdded(
        uint256 indexed datanetId, uint256 indexed index, address indexed contributor, bytes32 contentHash, uint64 tokenCount
    );

    /// @notice Creates a Datanet owned by the caller; ids start at 1.
    function createDatanet(bytes32 metadataHash, string calldata uri) external returns (uint256 datanetId);
    /// @notice Changes a Datanet's metadata (owner only).
    function updateDatanet(uint256 datanetId, bytes32 metadataHash, string calldata uri) external;
    /// @notice Records the caller's contribution of `tokenCount` tokens of content `contentHash`.
    function contribute(uint256 datanetId, bytes32 contentHash, uint64 tokenCount) external returns (uint256 index);
    /// @notice Records `contributor`'s contribution, submitted by anyone (e.g. the curator) with the
    /// contributor's signature of `hashContribution(datanetId, contentHash, tokenCount)`. A signature
    /// records its contribution once: there is nothing to replay.
    function contributeFor(
        uint256 datanetId,
        address contributor,
        bytes32 contentHash,
        uint64 tokenCount,
        bytes calldata signature
    ) external returns (uint256 index);
    /// @notice The EIP-712 digest a contributor signs for `contributeFor`.
    function hashContribution(uint256 datanetId, bytes32 contentHash, uint64 tokenCount) external view returns (bytes32);
    /// @notice The Datanet `datanetId`.
    function datanetOf(uint256 datanetId) external view returns (Datanet memory);
    /// @notice Contribution `index` of Datanet `datanetId`.
    function contributionOf(uint256 datanetId, uint256 index) external view returns (Contribution memory);
    /// @notice Whether `contributor` contributed `contentHash` to Datanet `datanetId`, at which index and
    /// with how many tokens.
    function contributionBy(uint256 datanetId, address contributor, bytes32 contentHash)
        external
        view
        returns (bool registered, uint256 index, uint64 tokenCount);
    /// @notice True when Datanet `datanetId` exists.
    function exists(uint256 datanetId) external view returns (bool);
}
