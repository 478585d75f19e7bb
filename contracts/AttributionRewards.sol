// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IAttributionRewards} from "./interfaces/IAttributionRewards.sol";

/// @title AttributionRewards
/// @notice Per-adapter contributor pools paid out by weight with Merkle claims. See {IAttributionRewards}.
/// No admin.
/// @dev An adapter's total weight never changes (its root is set once), so a contributor's
/// entitlement is exactly `floor(weight * notified / totalWeight)`: no accumulator, no rounding
/// carried from one notification to the next. Each contributor loses less than one base unit over
/// the adapter's whole life, and the pool keeps less than one per contributor.
/// `notify` writes one slot; `claim` reads three (root, pool, claimed) per adapter.
contract AttributionRewards is IAttributionRewards, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The only caller of `setRoot`.
    address public immutable adapterRegistry;
    IERC20 public immutable token;
    /// @notice The only caller of `notify` (set at deployment: the address PaymentChannels deploys to).
    address public immutable paymentChannels;

    /// @dev One slot: everything `notify` writes and `claim` reads besides the root. `uint96` amounts
    /// hold 7.9e28 base units, as PaymentChannels' channel balances; `notify` refuses what would
    /// overflow them.
    struct Ledger {
        uint96 notified;
        uint96 balance;
        uint64 totalWeight;
    }

    struct Pool {
        bytes32 root;
        Ledger ledger;
    }

    mapping(bytes32 adapterId => Pool) private _pools;
    mapping(bytes32 adapterId => mapping(address contributor => uint256)) private _claimed;

    constructor(address adapterRegistry_, IERC20 token_, address paymentChannels_) {
        adapterRegistry = adapterRegistry_;
        token = token_;
        paymentChannels = paymentChannels_;
    }

    /// @inheritdoc IAttributionRewards
    function setRoot(bytes32 adapterId, bytes32 root, uint64 totalWeight) external {
        if (msg.sender != adapterRegistry) revert AttributionRewardsNotAdapterRegistry(msg.sender);
        Pool storage pool = _pools[adapterId];
        pool.root = root;
        pool.ledger.totalWeight = totalWeight;
        emit RootSet(adapterId, root, totalWeight);
    }

    /// @inheritdoc IAttributionRewards
    function notify(bytes32 adapterId, uint256 amount) external returns (bool accepted) {
        if (msg.sender != paymentChannels) revert AttributionRewardsNotPaymentChannels(msg.sender);
        Ledger storage ledger = _pools[adapterId].ledger;
        (uint256 notified, uint256 balance, uint256 totalWeight) = _load(ledger);
        if (totalWeight == 0) revert AttributionRewardsNoRoot(adapterId);
        notified += amount;
        if (notified > type(uint96).max) return false;
        // balance <= notified (claims only take from it), so it fits too.
        _store(ledger, notified, balance + amount, totalWeight);
        emit RewardsNotified(adapterId, amount, notified);
        return true;
    }

    /// @inheritdoc IAttributionRewards
    function claim(bytes32[] calldata adapterIds, uint256[] calldata weights, bytes32[][] calldata proofs)
        external
        nonReentrant
        returns (uint256 amount)
    {
        uint256 n = adapterIds.length;
        if (n != weights.length || n != proofs.length) revert AttributionRewardsLengthMismatch();
        for (uint256 i; i < n; ++i) {
            amount += _claimOne(adapterIds[i], weights[i], proofs[i]);
        }
        if (amount == 0) revert AttributionRewardsNothingToClaim(msg.sender);
        token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IAttributionRewards
    function claimable(bytes32 adapterId, address contributor, uint256 weight) external view returns (uint256) {
        (uint256 notified, uint256 balance, uint256 totalWeight) = _load(_pools[adapterId].ledger);
        return _owed(notified, balance, totalWeight, weight, _claimed[adapterId][contributor]);
    }

    /// @inheritdoc IAttributionRewards
    function rootOf(bytes32 adapterId) external view returns (bytes32) {
        return _pools[adapterId].root;
    }

    /// @inheritdoc IAttributionRewards
    function totalWeightOf(bytes32 adapterId) external view returns (uint64) {
        return _pools[adapterId].ledger.totalWeight;
    }

    /// @inheritdoc IAttributionRewards
    function notifiedOf(bytes32 adapterId) external view returns (uint256) {
        return _pools[adapterId].ledger.notified;
    }

    /// @inheritdoc IAttributionRewards
    function poolOf(bytes32 adapterId) external view returns (uint256) {
        return _pools[adapterId].ledger.balance;
    }

    /// @inheritdoc IAttributionRewards
    function claimedOf(bytes32 adapterId, address contributor) external view returns (uint256) {
        return _claimed[adapterId][contributor];
    }

    function _claimOne(bytes32 adapterId, uint256 weight, bytes32[] calldata proof) private returns (uint256 owed) {
        Pool storage pool = _pools[adapterId];
        bytes32 root = pool.root;
        if (root == bytes32(0)) revert AttributionRewardsNoRoot(adapterId);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(adapterId, msg.sender, weight))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) {
            revert AttributionRewardsInvalidProof(adapterId, msg.sender, weight);
        }
        (uint256 notified, uint256 balance, uint256 totalWeight) = _load(pool.ledger);
        uint256 claimed = _claimed[adapterId][msg.sender];
        owed = _owed(notified, balance, totalWeight, weight, claimed);
        if (owed == 0) return 0;
        // owed <= balance (`_owed` caps it) and claimed + owed <= notified < 2^96.
        unchecked {
            _claimed[adapterId][msg.sender] = claimed + owed;
            _store(pool.ledger, notified, balance - owed, totalWeight);
        }
        emit RewardsClaimed(adapterId, msg.sender, owed);
    }

    /// @dev Reads the ledger slot with one SLOAD.
    function _load(Ledger storage ledger) private view returns (uint256 notified, uint256 balance, uint256 totalWeight) {
        uint256 word;
        assembly ("memory-safe") {
            word := sload(ledger.slot)
        }
        return (uint96(word), uint96(word >> 96), word >> 192);
    }

    /// @dev Writes the ledger slot with one SSTORE (assigning packed members one by one reads and
    /// writes the slot once per member). Callers pass values that fit their fields; the layout is
    /// Solidity's: `notified` in the low 96 bits, then `balance`, then `totalWeight`.
    function _store(Ledger storage ledger, uint256 notified, uint256 balance, uint256 totalWeight) private {
        uint256 word = notified | (balance << 96) | (totalWeight << 192);
        assembly ("memory-safe") {
            sstore(ledger.slot, word)
        }
    }

    /// @dev `floor(weight * notified / totalWeight) - claimed`, capped by the pool's balance so that a
    /// bad root (leaf weights summing above `totalWeight`) can only short its own contributors.
    /// A weight above the total exists only in a bad root; it is treated as the total.
    function _owed(uint256 notified, uint256 balance, uint256 totalWeight, uint256 weight, uint256 claimed)
        private
        pure
        returns (uint256)
    {
        if (totalWeight == 0) return 0;
        if (weight > totalWeight) weight = totalWeight;
        // weight <= totalWeight < 2^64 and notified < 2^96: the product is below 2^160.
        uint256 accrued;
        unchecked {
            accrued = weight * notified / totalWeight;
        }
        if (accrued <= claimed) return 0;
        uint256 owed = accrued - claimed;
        return owed < balance ? owed : balance;
    }
}
