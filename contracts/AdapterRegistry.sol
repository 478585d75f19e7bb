// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IAdapterRegistry} from "./interfaces/IAdapterRegistry.sol";
import {IAttributionRewards} from "./interfaces/IAttributionRewards.sol";
import {IDatanetRegistry} from "./interfaces/IDatanetRegistry.sol";
import {FeeSplit} from "./libraries/FeeSplit.sol";

/// @title AdapterRegistry
/// @notice LoRA adapters and their royalty split and attribution root. See {IAdapterRegistry}. No admin.
contract AdapterRegistry is IAdapterRegistry {
    /// @notice Largest royalty an adapter may take, in basis points of each payment.
    /// With `PaymentChannels.MAX_PROTOCOL_FEE_BPS` (1000) the node keeps at least 40%.
    uint16 public constant MAX_ROYALTY_BPS = 5_000;
    /// @notice Delay between `setRoyalty` and the new split taking effect ({FeeSplit-TERMS_DELAY}).
    uint64 public constant TERMS_DELAY = FeeSplit.TERMS_DELAY;

    /// @notice The Datanet registry that `datanetIds` refer to.
    IDatanetRegistry public immutable datanets;
    /// @notice Receives each attribution root when it is set (so claims need no call to this registry).
    IAttributionRewards public immutable rewards;

    // Slot 0 of Adapter packs owner, royaltyBps, contributorBps and totalWeight, slot 1 the pending
    // split: two SLOADs per settlement.
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
        // A pending change already in force becomes the current split before the new one is queued.
        (uint16 r, uint16 c) = _splitInForce(a);
        a.royaltyBps = r;
        a.contributorBps = c;
        uint64 effectiveAt;
        if (royaltyBps == r && contributorBps == c) {
            // The split in force again: nothing changes, so nothing waits (this cancels a pending change).
            effectiveAt = uint64(block.timestamp);
            a.termsEffectiveAt = 0;
        } else {
            effectiveAt = uint64(block.timestamp) + TERMS_DELAY;
            a.pendingRoyaltyBps = royaltyBps;
            a.pendingContributorBps = contributorBps;
            a.termsEffectiveAt = effectiveAt;
        }
        emit RoyaltyChangeScheduled(adapterId, royaltyBps, contributorBps, effectiveAt);
    }

    /// @inheritdoc IAdapterRegistry
    function setAttributionRoot(bytes32 adapterId, bytes32 root, uint64 totalWeight) external {
        Adapter storage a = _owned(adapterId);
        if (a.totalWeight != 0) revert AdapterRegistryRootAlreadySet(adapterId);
        if (root == bytes32(0) || totalWeight == 0) revert AdapterRegistryInvalidAttribution(root, totalWeight);
        a.attributionRoot = root;
        a.totalWeight = totalWeight;
        emit AttributionRootSet(adapterId, root, totalWeight);
        rewards.setRoot(adapterId, root, totalWeight);
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
    function adapterOf(bytes32 adapterId) external view returns (Adapter memory a) {
        a = _adapters[adapterId];
        if (a.termsEffectiveAt != 0 && block.timestamp >= a.termsEffectiveAt) {
            (a.royaltyBps, a.contributorBps) = (a.pendingRoyaltyBps, a.pendingContributorBps);
            (a.pendingRoyaltyBps, a.pendingContributorBps, a.termsEffectiveAt) = (0, 0, 0);
        }
    }

    /// @inheritdoc IAdapterRegistry
    function splitOf(bytes32 adapterId)
        external
        view
        returns (address owner, uint16 royaltyBps, uint16 contributorBps, uint64 totalWeight)
    {
        Adapter storage a = _adapters[adapterId];
        (royaltyBps, contributorBps) = _splitInForce(a);
        return (a.owner, royaltyBps, contributorBps, a.totalWeight);
    }

    /// @inheritdoc IAdapterRegistry
    function termsOf(bytes32 adapterId)
        external
        view
        returns (
            uint16 royaltyBps,
            uint16 contributorBps,
            uint16 pendingRoyaltyBps,
            uint16 pendingContributorBps,
            uint64 effectiveAt
        )
    {
        Adapter storage a = _adapters[adapterId];
        (royaltyBps, contributorBps) = _splitInForce(a);
        uint64 when = a.termsEffectiveAt;
        if (when != 0 && block.timestamp < when) {
            (pendingRoyaltyBps, pendingContributorBps, effectiveAt) = (a.pendingRoyaltyBps, a.pendingContributorBps, when);
        }
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

    function _splitInForce(Adapter storage a) private view returns (uint16 royaltyBps, uint16 contributorBps) {
        uint64 effectiveAt = a.termsEffectiveAt;
        return (
            FeeSplit.inForce(a.royaltyBps, a.pendingRoyaltyBps, effectiveAt),
            FeeSplit.inForce(a.contributorBps, a.pendingContributorBps, effectiveAt)
        );
    }

    function _checkSplit(uint16 royaltyBps, uint16 contributorBps) private pure {
        if (royaltyBps > MAX_ROYALTY_BPS) revert AdapterRegistryRoyaltyTooHigh(royaltyBps, MAX_ROYALTY_BPS);
        if (contributorBps > 10_000) revert AdapterRegistryInvalidBps(contributorBps);
    }
}
