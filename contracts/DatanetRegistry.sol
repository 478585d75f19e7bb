// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IDatanetRegistry} from "./interfaces/IDatanetRegistry.sol";

/// @title DatanetRegistry
/// @notice Datanets and their contributions. See {IDatanetRegistry}. No admin.
/// @dev A contribution is keyed by `(datanetId, contributor, contentHash)` and recorded only for a
/// contributor who sent it or signed it, so no one can take or block another's entry.
contract DatanetRegistry is IDatanetRegistry, EIP712 {
    /// @notice EIP-712 type of {IDatanetRegistry-contributeFor}'s signature; src/chain/eip712.ts matches it.
    bytes32 public constant CONTRIBUTION_TYPEHASH =
        keccak256("Contribution(uint256 datanetId,bytes32 contentHash,uint64 tokenCount)");

    /// @notice Number of Datanets created; ids are 1..datanetCount.
    uint256 public datanetCount;

    mapping(uint256 datanetId => Datanet) private _datanets;
    mapping(uint256 datanetId => Contribution[]) private _contributions;
    /// @dev Index + 1 of each contribution (0: none).
    mapping(uint256 datanetId => mapping(address contributor => mapping(bytes32 contentHash => uint256))) private
        _indexPlusOne;

    constructor() EIP712("openlora", "1") {}

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
        return _contribute(datanetId, msg.sender, contentHash, tokenCount);
    }

    /// @inheritdoc IDatanetRegistry
    function contributeFor(
        uint256 datanetId,
        address contributor,
        bytes32 contentHash,
        uint64 tokenCount,
        bytes calldata signature
    ) external returns (uint256 index) {
        bytes32 digest = hashContribution(datanetId, contentHash, tokenCount);
        // Low-s ECDSA for keys, ERC-1271 for contract wallets.
        if (!SignatureChecker.isValidSignatureNowCalldata(contributor, digest, signature)) {
            revert DatanetRegistryInvalidSignature(datanetId, contributor, contentHash);
        }
        return _contribute(datanetId, contributor, contentHash, tokenCount);
    }

    /// @inheritdoc IDatanetRegistry
    function hashContribution(uint256 datanetId, bytes32 contentHash, uint64 tokenCount) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(CONTRIBUTION_TYPEHASH, datanetId, contentHash, tokenCount)));
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
    function contributionBy(uint256 datanetId, address contributor, bytes32 contentHash)
        external
        view
        returns (bool registered, uint256 index, uint64 tokenCount)
    {
        uint256 plusOne = _indexPlusOne[datanetId][contributor][contentHash];
        if (plusOne == 0) return (false, 0, 0);
        return (true, plusOne - 1, _contributions[datanetId][plusOne - 1].tokenCount);
    }

    /// @inheritdoc IDatanetRegistry
    function exists(uint256 datanetId) external view returns (bool) {
        return datanetId != 0 && datanetId <= datanetCount;
    }

    function _contribute(uint256 datanetId, address contributor, bytes32 contentHash, uint64 tokenCount)
        private
        returns (uint256 index)
    {
        Datanet storage d = _existing(datanetId);
        if (tokenCount == 0) revert DatanetRegistryZeroTokenCount();
        mapping(bytes32 => uint256) storage mine = _indexPlusOne[datanetId][contributor];
        if (mine[contentHash] != 0) revert DatanetRegistryDuplicateContribution(datanetId, contributor, contentHash);
        index = _contributions[datanetId].length;
        mine[contentHash] = index + 1;
        _contributions[datanetId].push(Contribution({contributor: contributor, tokenCount: tokenCount, contentHash: contentHash}));
        d.contributionCount = uint64(index + 1);
        emit ContributionAdded(datanetId, index, contributor, contentHash, tokenCount);
    }

    function _existing(uint256 datanetId) private view returns (Datanet storage d) {
        if (datanetId == 0 || datanetId > datanetCount) revert DatanetRegistryUnknownDatanet(datanetId);
        d = _datanets[datanetId];
    }
}
