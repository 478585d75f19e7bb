// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IAdapterRegistry} from "./interfaces/IAdapterRegistry.sol";
import {IAttributionRewards} from "./interfaces/IAttributionRewards.sol";
import {IPaymentChannels} from "./interfaces/IPaymentChannels.sol";
import {FeeSplit} from "./libraries/FeeSplit.sol";

/// @title PaymentChannels
/// @notice Payment channels with per-adapter lanes, cumulative vouchers and the fee split.
/// See {IPaymentChannels} and {FeeSplit}.
/// @dev Admin (owner, two-step transfer) powers: the protocol fee (at most `MAX_PROTOCOL_FEE_BPS`,
/// in force `TERMS_DELAY` after it is set) and the treasury. Nothing else: the admin cannot touch
/// channel balances or credits.
contract PaymentChannels is IPaymentChannels, EIP712, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice EIP-712 type of {IPaymentChannels-Voucher}; the TS definition in src/chain/eip712.ts matches it.
    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,bytes32 adapterId,uint256 cumulativeAmount)");
    /// @notice Cap on the protocol fee, in basis points (10%).
    uint16 public constant MAX_PROTOCOL_FEE_BPS = 1_000;
    /// @notice Shortest withdraw delay: time for the node to settle what it holds (protocol.md).
    uint64 public constant MIN_WITHDRAW_DELAY = 15 minutes;
    /// @notice Longest withdraw delay.
    uint64 public constant MAX_WITHDRAW_DELAY = 30 days;
    /// @notice Delay between `setProtocolFee` and the new fee taking effect ({FeeSplit-TERMS_DELAY}),
    /// longer than `MAX_WITHDRAW_DELAY`.
    uint64 public constant TERMS_DELAY = FeeSplit.TERMS_DELAY;

    /// @notice The payment token of this deployment.
    IERC20 public immutable token;
    IAdapterRegistry public immutable adapters;
    IAttributionRewards public immutable rewards;

    // One slot: read once per `settle`.
    address public treasury;
    uint16 private _protocolFeeBps;
    uint16 private _pendingProtocolFeeBps;
    uint64 private _protocolFeeEffectiveAt;

    mapping(bytes32 channelId => Channel) private _channels;
    mapping(bytes32 channelId => mapping(bytes32 adapterId => uint256 claimed)) private _lanes;
    mapping(address account => uint256) private _credits;

    constructor(
        IERC20 token_,
        IAdapterRegistry adapters_,
        IAttributionRewards rewards_,
        address admin,
        address treasury_,
        uint16 protocolFeeBps_
    ) EIP712("openlora", "1") Ownable(admin) {
        if (address(token_) == address(0) || address(adapters_) == address(0) || address(rewards_) == address(0)) {
            revert PaymentChannelsZeroAddress();
        }
        token = token_;
        adapters = adapters_;
        rewards = rewards_;
        _setTreasury(treasury_);
        _checkProtocolFee(protocolFeeBps_);
        _protocolFeeBps = protocolFeeBps_;
        emit ProtocolFeeChangeScheduled(protocolFeeBps_, uint64(block.timestamp));
    }

    // ---------------------------------------------------------------- payer

    /// @inheritdoc IPaymentChannels
    function open(address node, address token_, address authorizer, uint256 amount, uint64 withdrawDelay, bytes32 salt)
        external
        nonReentrant
        returns (bytes32 channelId)
    {
        channelId = _open(node, token_, authorizer, amount, withdrawDelay, salt);
    }

    /// @inheritdoc IPaymentChannels
    function openWithPermit(
        address node,
        address token_,
        address authorizer,
        uint256 amount,
        uint64 withdrawDelay,
        bytes32 salt,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (bytes32 channelId) {
        // A front-run permit only spends the nonce; the allowance is then already there.
        try IERC20Permit(address(token)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        channelId = _open(node, token_, authorizer, amount, withdrawDelay, salt);
    }

    /// @inheritdoc IPaymentChannels
    function topUp(bytes32 channelId, uint256 amount) external nonReentrant {
        if (amount == 0) revert PaymentChannelsZeroAmount();
        Channel storage ch = _payerChannel(channelId);
        uint256 balance = ch.balance + amount;
        ch.balance = SafeCast.toUint96(balance);
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit ChannelToppedUp(channelId, amount, balance);
    }

    /// @inheritdoc IPaymentChannels
    function requestWithdraw(bytes32 channelId) external {
        Channel storage ch = _payerChannel(channelId);
        uint64 readyAt = uint64(block.timestamp) + ch.withdrawDelay;
        ch.withdrawReadyAt = readyAt;
        emit WithdrawRequested(channelId, readyAt);
    }

    /// @inheritdoc IPaymentChannels
    function withdraw(bytes32 channelId) external nonReentrant {
        Channel storage ch = _payerChannel(channelId);
        uint64 readyAt = ch.withdrawReadyAt;
        if (readyAt == 0) revert PaymentChannelsWithdrawNotRequested(channelId);
        if (block.timestamp < readyAt) revert PaymentChannelsWithdrawNotReady(channelId, readyAt);
        uint256 amount = ch.balance;
        ch.balance = 0;
        ch.withdrawReadyAt = 0;
        if (amount != 0) token.safeTransfer(msg.sender, amount);
        emit ChannelWithdrawn(channelId, amount);
    }

    // ---------------------------------------------------------------- node

    /// @inheritdoc IPaymentChannels
    function settle(SignedVoucher[] calldata vouchers) external nonReentrant returns (uint256 paid) {
        uint256 feeBps = protocolFeeBps();
        uint256 toTreasury;
        uint256 toRewards;
        for (uint256 i; i < vouchers.length; ++i) {
            (uint256 lanePaid, uint256 laneTreasury, uint256 laneRewards) = _settleLane(vouchers[i], feeBps);
            paid += lanePaid;
            toTreasury += laneTreasury;
            toRewards += laneRewards;
        }
        if (toTreasury != 0) _credits[treasury] += toTreasury;
        // One transfer for all contributor shares; AttributionRewards accounted them in `notify`.
        if (toRewards != 0) token.safeTransfer(address(rewards), toRewards);
    }

    /// @inheritdoc IPaymentChannels
    function withdrawCredit() external nonReentrant {
        uint256 amount = _credits[msg.sender];
        if (amount == 0) revert PaymentChannelsNothingToWithdraw(msg.sender);
        _credits[msg.sender] = 0;
        token.safeTransfer(msg.sender, amount);
        emit CreditWithdrawn(msg.sender, amount);
    }

    // ---------------------------------------------------------------- admin

    /// @inheritdoc IPaymentChannels
    function setProtocolFee(uint16 bps) external onlyOwner {
        _checkProtocolFee(bps);
        uint16 current = protocolFeeBps();
        _protocolFeeBps = current;
        uint64 effectiveAt;
        if (bps == current) {
            // The fee in force again: nothing changes, so nothing waits (this cancels a pending change).
            effectiveAt = uint64(block.timestamp);
            _protocolFeeEffectiveAt = 0;
        } else {
            effectiveAt = uint64(block.timestamp) + TERMS_DELAY;
            _pendingProtocolFeeBps = bps;
            _protocolFeeEffectiveAt = effectiveAt;
        }
        emit ProtocolFeeChangeScheduled(bps, effectiveAt);
    }

    /// @inheritdoc IPaymentChannels
    function setTreasury(address treasury_) external onlyOwner {
        _setTreasury(treasury_);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IPaymentChannels
    function protocolFeeBps() public view returns (uint16) {
        return FeeSplit.inForce(_protocolFeeBps, _pendingProtocolFeeBps, _protocolFeeEffectiveAt);
    }

    /// @inheritdoc IPaymentChannels
    function pendingProtocolFee() external view returns (uint16 bps, uint64 effectiveAt) {
        uint64 when = _protocolFeeEffectiveAt;
        if (when != 0 && block.timestamp < when) return (_pendingProtocolFeeBps, when);
    }

    /// @inheritdoc IPaymentChannels
    function hashVoucher(Voucher calldata voucher) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(VOUCHER_TYPEHASH, voucher.channelId, voucher.adapterId, voucher.cumulativeAmount)));
    }

    /// @inheritdoc IPaymentChannels
    function channelIdFor(address payer, address node, address token_, bytes32 salt) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), payer, node, token_, salt));
    }

    /// @inheritdoc IPaymentChannels
    function channelOf(bytes32 channelId) external view returns (Channel memory) {
        return _channels[channelId];
    }

    /// @inheritdoc IPaymentChannels
    function laneClaimed(bytes32 channelId, bytes32 adapterId) external view returns (uint256) {
        return _lanes[channelId][adapterId];
    }

    /// @inheritdoc IPaymentChannels
    function creditOf(address account) external view returns (uint256) {
        return _credits[account];
    }

    // ---------------------------------------------------------------- internal

    function _open(address node, address token_, address authorizer, uint256 amount, uint64 withdrawDelay, bytes32 salt)
        private
        returns (bytes32 channelId)
    {
        if (token_ != address(token)) revert PaymentChannelsUnsupportedToken(token_, address(token));
        if (node == address(0) || authorizer == address(0)) revert PaymentChannelsZeroAddress();
        if (amount == 0) revert PaymentChannelsZeroAmount();
        if (withdrawDelay < MIN_WITHDRAW_DELAY || withdrawDelay > MAX_WITHDRAW_DELAY) {
            revert PaymentChannelsWithdrawDelayOutOfRange(withdrawDelay, MIN_WITHDRAW_DELAY, MAX_WITHDRAW_DELAY);
        }
        channelId = channelIdFor(msg.sender, node, token_, salt);
        Channel storage ch = _channels[channelId];
        if (ch.payer != address(0)) revert PaymentChannelsChannelExists(channelId);
        ch.payer = msg.sender;
        ch.node = node;
        ch.withdrawDelay = withdrawDelay;
        ch.authorizer = authorizer;
        ch.balance = SafeCast.toUint96(amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit ChannelOpened(channelId, msg.sender, node, token_, authorizer, amount, withdrawDelay);
    }

    /// @dev Settles one lane: returns what it paid and the parts for the treasury and the rewards
    /// contract, which `settle` credits once for the whole batch.
    function _settleLane(SignedVoucher calldata sv, uint256 feeBps)
        private
        returns (uint256 paid, uint256 toTreasury, uint256 toRewards)
    {
        address node;
        (paid, node) = _claimLane(sv);
        if (paid == 0) return (0, 0, 0);
        bytes32 adapterId = sv.voucher.adapterId;
        address owner;
        uint16 royaltyBps;
        uint16 contributorBps;
        uint64 totalWeight;
        // Lane zero is the base model served without an adapter: no royalty, the node keeps the rest.
        if (adapterId != bytes32(0)) {
            (owner, royaltyBps, contributorBps, totalWeight) = adapters.splitOf(adapterId);
            if (owner == address(0)) revert PaymentChannelsUnknownAdapter(adapterId);
        }
        FeeSplit.Shares memory s = FeeSplit.split(paid, feeBps, royaltyBps, contributorBps, totalWeight != 0);
        _credits[node] += s.node;
        // A pool that cannot account more (IAttributionRewards-notify) leaves the contributors' part to
        // the owner, as if the adapter had no root, rather than block the lane.
        if (s.contributors != 0 && !rewards.notify(adapterId, s.contributors)) {
            s.owner += s.contributors;
            s.contributors = 0;
        }
        if (s.owner != 0) _credits[owner] += s.owner;
        return (paid, s.treasury, s.contributors);
    }

    /// @dev Checks the voucher and moves `paid` from the channel balance to the lane's claimed total.
    function _claimLane(SignedVoucher calldata sv) private returns (uint256 paid, address node) {
        bytes32 channelId = sv.voucher.channelId;
        bytes32 adapterId = sv.voucher.adapterId;
        uint256 cumulative = sv.voucher.cumulativeAmount;
        uint256 claimed = _lanes[channelId][adapterId];
        // Stale or repeated vouchers pay nothing (and do not revert the batch).
        if (cumulative <= claimed) return (0, address(0));
        Channel storage ch = _channels[channelId];
        address authorizer = ch.authorizer;
        if (authorizer == address(0)) revert PaymentChannelsUnknownChannel(channelId);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, adapterId, cumulative)));
        // recoverCalldata rejects high-s (malleable) and malformed signatures.
        address signer = ECDSA.recoverCalldata(digest, sv.signature);
        if (signer != authorizer) revert PaymentChannelsInvalidVoucherSigner(channelId, signer, authorizer);

        uint256 balance = ch.balance;
        paid = cumulative - claimed;
        if (paid > balance) paid = balance; // pay only what is there; the rest stays claimable after a top-up
        if (paid == 0) return (0, address(0));
        // paid <= balance, and claimed + paid <= cumulative: no overflow or underflow.
        unchecked {
            ch.balance = uint96(balance - paid);
            claimed += paid;
        }
        _lanes[channelId][adapterId] = claimed;
        node = ch.node;
        emit LaneSettled(channelId, adapterId, claimed, paid);
    }

    function _payerChannel(bytes32 channelId) private view returns (Channel storage ch) {
        ch = _channels[channelId];
        if (ch.payer == address(0)) revert PaymentChannelsUnknownChannel(channelId);
        if (ch.payer != msg.sender) revert PaymentChannelsNotPayer(channelId, msg.sender);
    }

    function _checkProtocolFee(uint16 bps) private pure {
        if (bps > MAX_PROTOCOL_FEE_BPS) revert PaymentChannelsFeeTooHigh(bps, MAX_PROTOCOL_FEE_BPS);
    }

    function _setTreasury(address treasury_) private {
        if (treasury_ == address(0)) revert PaymentChannelsZeroAddress();
        emit TreasuryChanged(treasury, treasury_);
        treasury = treasury_;
    }
}
