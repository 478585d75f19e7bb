// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IAdapterRegistry} from "./interfaces/IAdapterRegistry.sol";
import {IAttributionRewards} from "./interfaces/IAttributionRewards.sol";
import {IDatanetRegistry} from "./interfaces/IDatanetRegistry.sol";

/// @title AdapterRegistry
/// @notice LoRA adapters and their royalty split and attribution root. See {IAdapterRegistry}. No admin.
contract AdapterRegistry is IAdapterRegistry {
    /// @notice Largest royalty an adapter may take, in basis points of each payment.
    /// With `PaymentChannels.MAX_PROTOCOL_FEE_BPS` (1000) the node keeps at least 40%.
    uint16 public constant MAX_ROYALTY_BPS = 5_000;

    /// @notice The Datanet registry that `datanetIds` refer to.
    IDatanetRegistry public immutable datanets;
    /// @notice Receives each attribution root when it is set (so claims need no call to this registry).
    IAttributionRewards public immutable rewards;

    // Slot 0 of Adapter packs owner, royaltyBps, contributorBps and totalWeight: one SLOAD per settlement.
    mapping(bytes32 adapterId => Adapter) private _adapters;

    constructor(IDatanetRegistry datanets_, IAttributionRewards rewards_) {
        if (address(datanets_) == address(0) || address(rewards_) == address(0)) revert AdapterRegistryZeroAddress();
        datanets = datanets_;
        rewards = rewards_;
    }

    /// @inheritdoc IAdapterRegistry
    function register(AdapterParams calldata p) external returns (bytes32 adapterId) {
        adapterId = adapterIdFor(msg.sender, p.salt);
        Adapter storage a = _adapters[adapterId];
        if (a.owner != address(0)) revert AdapterRegistryAdapterExists(adapterId);
        _checkSplit(p.royaltyBps, p.contributorBps);
        for (uint256 i; i < p.datanetIds.length; ++i) {
            if (!datanets.exists(p.datanetIds[i])) revert AdapterRegistryUnknownDatanet(p.datanetIds[i]);
        }
        a.owner = msg.sender;
        a.royaltyBps = p.royaltyBps;
        a.contributorBps = p.contributorBps;
        a.baseModelHash = p.baseModelHash;
        a.weightsHash = p.weightsHash;
        a.uri = p.uri;
        a.datanetIds = p.datanetIds;
        emit AdapterRegistered(
            adapterId, msg.sender, p.baseModelHash, p.weightsHash, p.uri, p.datanetIds, p.royaltyBps, p.contributorBps
        );
    }

    /// @inheritdoc IAdapterRegistry
    function setRoyalty(bytes32 adapterId, uint16 royaltyBps, uint16 contributorBps) external {
        Adapter storage a = _owned(adapterId);
        _checkSplit(royaltyBps, contributorBps);
        a.royaltyBps = royaltyBps;
        a.contributorBps = contributorBps;
        emit RoyaltyChanged(adapterId, royaltyBps, contributorBps);
    }

    /// @inheritdoc IAdapterRegistry
    function setAttributionRoot(bytes32 adapterId, bytes32 root, uint64 totalWeight) external {
        Adapter storage a = _owned(adapterId);
        if (a.totalWeight != 0) revert AdapterRegistryRootAlreadySet(adapterId);
        if (root == bytes32(0) || totalWeight == 0) revert AdapterRegistryInvalidAttribution(root, totalWeight);
        a.attributionRoot = root;
        a.totalWeight = totalWeight;
        emit AttributionRootSet(adapterId, root, totalWeight);
        rewards.setRoot(adapterId, root);
    }

    /// @inheritdoc IAdapterRegistry
    function setUri(bytes32 adapterId, string calldata uri) external {
        Adapter storage a = _owned(adapterId);
        a.uri = uri;
        emit AdapterUriChanged(adapterId, uri);
    }

    /// @inheritdoc IAdapterRegistry
    function transferAdapter(bytes32 adapterId, address newOwner) external {
        Adapter storage a = _owned(adapterId);
        if (newOwner == address(0)) revert AdapterRegistryZeroAddress();
        a.owner = newOwner;
        emit AdapterTransferred(adapterId, msg.sender, newOwner);
    }

    /// @inheritdoc IAdapterRegistry
    function adapterIdFor(address owner, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(owner, salt));
    }

    /// @inheritdoc IAdapterRegistry
    function adapterOf(bytes32 adapterId) external view returns (Adapter memory) {
        return _adapters[adapterId];
    }

    /// @inheritdoc IAdapterRegistry
    function splitOf(bytes32 adapterId)
        external
        view
        returns (address owner, uint16 royaltyBps, uint16 contributorBps, uint64 totalWeight)
    {
        Adapter storage a = _adapters[adapterId];
        return (a.owner, a.royaltyBps, a.contributorBps, a.totalWeight);
    }

    /// @inheritdoc IAdapterRegistry
    function attributionOf(bytes32 adapterId) external view returns (bytes32 root, uint64 totalWeight) {
        Adapter storage a = _adapters[adapterId];
        return (a.attributionRoot, a.totalWeight);
    }

    function _owned(bytes32 adapterId) private view returns (Adapter storage a) {
        a = _adapters[adapterId];
        if (a.owner == address(0)) revert AdapterRegistryUnknownAdapter(adapterId);
        if (a.owner != msg.sender) revert AdapterRegistryNotOwner(adapterId, msg.sender);
    }

    function _checkSplit(uint16 royaltyBps, uint16 contributorBps) private pure {
        if (royaltyBps > MAX_ROYALTY_BPS) revert AdapterRegistryRoyaltyTooHigh(royaltyBps, MAX_ROYALTY_BPS);
        if (contributorBps > 10_000) revert AdapterRegistryInvalidBps(contributorBps);
    }
}
