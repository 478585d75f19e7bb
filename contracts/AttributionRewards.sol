// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IAttributionRewards} from "./interfaces/IAttributionRewards.sol";

/// @title AttributionRewards
/// @notice Per-adapter contributor pools with a reward-per-weight accumulator and Merkle claims.
/// See {IAttributionRewards}. No admin.
/// @dev `notify` is O(1) however many contributors; `claim` is O(log n) per adapter. The rounding
/// remainder of the accumulator stays in the pool (`poolOf`), never paid to anyone else.
contract AttributionRewards is IAttributionRewards, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 private constant SCALE = 1e18;

    /// @notice The only caller of `setRoot`.
    address public immutable adapterRegistry;
    IERC20 public immutable token;
    /// @notice The only caller of `notify` (set at deployment: the address PaymentChannels deploys to).
    address public immutable paymentChannels;

    struct Pool {
        uint256 accPerWeight;
        uint256 balance;
    }

    mapping(bytes32 adapterId => Pool) private _pools;
    mapping(bytes32 adapterId => bytes32 root) private _roots;
    mapping(bytes32 adapterId => mapping(address contributor => uint256)) private _claimed;

    constructor(address adapterRegistry_, IERC20 token_, address paymentChannels_) {
        adapterRegistry = adapterRegistry_;
        token = token_;
        paymentChannels = paymentChannels_;
    }

    /// @inheritdoc IAttributionRewards
    function setRoot(bytes32 adapterId, bytes32 root) external {
        if (msg.sender != adapterRegistry) revert AttributionRewardsNotAdapterRegistry(msg.sender);
        _roots[adapterId] = root;
        emit RootSet(adapterId, root);
    }

    /// @inheritdoc IAttributionRewards
    /// @dev `totalWeight` is the adapter's, read from AdapterRegistry by PaymentChannels in the same call.
    function notify(bytes32 adapterId, uint256 amount, uint64 totalWeight) external {
        if (msg.sender != paymentChannels) revert AttributionRewardsNotPaymentChannels(msg.sender);
        if (totalWeight == 0) revert AttributionRewardsNoRoot(adapterId);
        Pool storage pool = _pools[adapterId];
        uint256 acc = pool.accPerWeight + amount * SCALE / totalWeight;
        pool.accPerWeight = acc;
        pool.balance += amount;
        emit RewardsNotified(adapterId, amount, acc);
    }

    /// @inheritdoc IAttributionRewards
    function claim(bytes32[] calldata adapterIds, uint256[] calldata weights, bytes32[][] calldata proofs)
        external
        nonReentrant
        returns (uint256 amount)
    {
        if (adapterIds.length != weights.length || adapterIds.length != proofs.length) {
            revert AttributionRewardsLengthMismatch();
        }
        for (uint256 i; i < adapterIds.length; ++i) {
            amount += _claimOne(adapterIds[i], weights[i], proofs[i]);
        }
        if (amount == 0) revert AttributionRewardsNothingToClaim(msg.sender);
        token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IAttributionRewards
    function claimable(bytes32 adapterId, address contributor, uint256 weight) public view returns (uint256) {
        Pool storage pool = _pools[adapterId];
        uint256 accrued = weight * pool.accPerWeight / SCALE;
        uint256 claimed = _claimed[adapterId][contributor];
        if (accrued <= claimed) return 0;
        uint256 owed = accrued - claimed;
        return owed < pool.balance ? owed : pool.balance;
    }

    /// @inheritdoc IAttributionRewards
    function rootOf(bytes32 adapterId) external view returns (bytes32) {
        return _roots[adapterId];
    }

    /// @inheritdoc IAttributionRewards
    function accPerWeightOf(bytes32 adapterId) external view returns (uint256) {
        return _pools[adapterId].accPerWeight;
    }

    /// @inheritdoc IAttributionRewards
    function poolOf(bytes32 adapterId) external view returns (uint256) {
        return _pools[adapterId].balance;
    }

    /// @inheritdoc IAttributionRewards
    function claimedOf(bytes32 adapterId, address contributor) external view returns (uint256) {
        return _claimed[adapterId][contributor];
    }

    function _claimOne(bytes32 adapterId, uint256 weight, bytes32[] calldata proof) private returns (uint256 owed) {
        bytes32 root = _roots[adapterId];
        if (root == bytes32(0)) revert AttributionRewardsNoRoot(adapterId);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(adapterId, msg.sender, weight))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) {
            revert AttributionRewardsInvalidProof(adapterId, msg.sender, weight);
        }
        owed = claimable(adapterId, msg.sender, weight);
        if (owed == 0) return 0;
        _claimed[adapterId][msg.sender] += owed;
        // owed <= pool.balance (claimable caps it).
        unchecked {
            _pools[adapterId].balance -= owed;
        }
        emit RewardsClaimed(adapterId, msg.sender, owed);
    }
}
