// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IDatanetRegistry} from "./interfaces/IDatanetRegistry.sol";

/// @title DatanetRegistry
/// @notice Datanets and their contributions. See {IDatanetRegistry}. No admin.
contract DatanetRegistry is IDatanetRegistry {
    /// @notice Number of Datanets created; ids are 1..datanetCount.
    uint256 public datanetCount;

    mapping(uint256 datanetId => Datanet) private _datanets;
    mapping(uint256 datanetId => Contribution[]) private _contributions;
    mapping(uint256 datanetId => mapping(bytes32 contentHash => bool)) public contributed;

    /// @inheritdoc IDatanetRegistry
    function createDatanet(bytes32 metadataHash, string calldata uri) external returns (uint256 datanetId) {
        datanetId = ++datanetCount;
        Datanet storage d = _datanets[datanetId];
        d.owner = msg.sender;
        d.metadataHash = metadataHash;
        d.uri = uri;
        emit DatanetCreated(datanetId, msg.sender, metadataHash, uri);
    }

    /// @inheritdoc IDatanetRegistry
    function updateDatanet(uint256 datanetId, bytes32 metadataHash, string calldata uri) external {
        Datanet storage d = _existing(datanetId);
        if (d.owner != msg.sender) revert DatanetRegistryNotOwner(datanetId, msg.sender);
        d.metadataHash = metadataHash;
        d.uri = uri;
        emit DatanetUpdated(datanetId, metadataHash, uri);
    }

    /// @inheritdoc IDatanetRegistry
    function contribute(uint256 datanetId, bytes32 contentHash, uint64 tokenCount) external returns (uint256 index) {
        Datanet storage d = _existing(datanetId);
        if (tokenCount == 0) revert DatanetRegistryZeroTokenCount();
        if (contributed[datanetId][contentHash]) revert DatanetRegistryDuplicateContribution(datanetId, contentHash);
        contributed[datanetId][contentHash] = true;
        index = _contributions[datanetId].length;
        _contributions[datanetId].push(Contribution({contributor: msg.sender, tokenCount: tokenCount, contentHash: contentHash}));
        d.contributionCount = uint64(index + 1);
        emit ContributionAdded(datanetId, index, msg.sender, contentHash, tokenCount);
    }

    /// @inheritdoc IDatanetRegistry
    function datanetOf(uint256 datanetId) external view returns (Datanet memory) {
        return _existing(datanetId);
    }

    /// @inheritdoc IDatanetRegistry
    function contributionOf(uint256 datanetId, uint256 index) external view returns (Contribution memory) {
        _existing(datanetId);
        Contribution[] storage list = _contributions[datanetId];
        if (index >= list.length) revert DatanetRegistryUnknownContribution(datanetId, index);
        return list[index];
    }

    /// @inheritdoc IDatanetRegistry
    function exists(uint256 datanetId) external view returns (bool) {
        return datanetId != 0 && datanetId <= datanetCount;
    }

    function _existing(uint256 datanetId) private view returns (Datanet storage d) {
        if (datanetId == 0 || datanetId > datanetCount) revert DatanetRegistryUnknownDatanet(datanetId);
        d = _datanets[datanetId];
    }
}
