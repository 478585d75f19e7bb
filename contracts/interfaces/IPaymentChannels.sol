// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title IPaymentChannels
/// @notice One-way cumulative payment channels from a payer to a node, with one lane per adapter.
/// @dev `channelId = keccak256(abi.encode(chainId, address(this), payer, node, token, salt))`.
/// Vouchers are EIP-712 typed data in the domain {name: "openlora", version: "1", chainId,
/// verifyingContract: this PaymentChannels}, signed by the channel's authorizer. Settlement pays
/// `cumulativeAmount - lane.claimed` (capped by the channel balance) and splits it into credits
/// (pull payments): protocol fee and dust to the treasury, royalty to the adapter owner and the
/// adapter's `AttributionRewards` pool, the rest to the node. The fee and the royalty split are those
/// in force when `settle` runs; a change of either takes effect `TERMS_DELAY` after it is announced.
interface IPaymentChannels {
    /// @notice A payment channel. `withdrawReadyAt == 0` means no withdrawal requested.
    struct Channel {
        address payer;
        uint64 withdrawReadyAt;
        address node;
        uint64 withdrawDelay;
        address authorizer;
        uint96 balance;
    }

    /// @notice The payer's acknowledgement of the total it owes on lane `(channelId, adapterId)`.
    struct Voucher {
        bytes32 channelId;
        bytes32 adapterId;
        uint256 cumulativeAmount;
    }

    /// @notice A voucher with the authorizer's 65-byte signature, as passed to `settle`.
    struct SignedVoucher {
        Voucher voucher;
        bytes signature;
    }

    /// @notice Only the deployment's payment token `expected` is accepted, not `token`.
    error PaymentChannelsUnsupportedToken(address token, address expected);
    /// @notice Channel `channelId` already exists.
    error PaymentChannelsChannelExists(bytes32 channelId);
    /// @notice No channel `channelId`.
    error PaymentChannelsUnknownChannel(bytes32 channelId);
    /// @notice `caller` is not the payer of `channelId`.
    error PaymentChannelsNotPayer(bytes32 channelId, address caller);
    /// @notice A withdraw delay of `delay` seconds is outside `[min, max]`.
    error PaymentChannelsWithdrawDelayOutOfRange(uint64 delay, uint64 min, uint64 max);
    /// @notice An amount of zero was given where tokens must move.
    error PaymentChannelsZeroAmount();
    /// @notice The zero address was given for a required address.
    error PaymentChannelsZeroAddress();
    /// @notice No withdrawal was requested on `channelId`.
    error PaymentChannelsWithdrawNotRequested(bytes32 channelId);
    /// @notice The withdrawal on `channelId` is not ready until `readyAt`.
    error PaymentChannelsWithdrawNotReady(bytes32 channelId, uint64 readyAt);
    /// @notice A voucher on `channelId` was signed by `signer`, not the channel's `authorizer`.
    error PaymentChannelsInvalidVoucherSigner(bytes32 channelId, address signer, address authorizer);
    /// @notice A voucher names adapter `adapterId`, which is not registered (lane zero, the base model, needs none).
    error PaymentChannelsUnknownAdapter(bytes32 adapterId);
    /// @notice A protocol fee of `bps` is above the cap `maxBps`.
    error PaymentChannelsFeeTooHigh(uint16 bps, uint16 maxBps);
    /// @notice `account` has no credit to withdraw.
    error PaymentChannelsNothingToWithdraw(address account);

    /// @notice Channel `channelId` was opened with `amount` tokens.
    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed node,
        address token,
        address authorizer,
        uint256 amount,
        uint64 withdrawDelay
    );
    /// @notice `amount` was added to `channelId`, whose balance is now `balance`.
    event ChannelToppedUp(bytes32 indexed channelId, uint256 amount, uint256 balance);
    /// @notice The payer asked to withdraw `channelId`; allowed from `readyAt`.
    event WithdrawRequested(bytes32 indexed channelId, uint64 readyAt);
    /// @notice The payer withdrew `amount`, the whole balance of `channelId`.
    event ChannelWithdrawn(bytes32 indexed channelId, uint256 amount);
    /// @notice Lane `(channelId, adapterId)` now has `claimed` paid out; `paid` in this settlement.
    /// @dev The split of `paid` follows the formula in `settle` with the fee and royalty in force.
    event LaneSettled(bytes32 indexed channelId, bytes32 indexed adapterId, uint256 claimed, uint256 paid);
    /// @notice `account` withdrew `amount` of credit.
    event CreditWithdrawn(address indexed account, uint256 amount);
    /// @notice The protocol fee becomes `bps` at `effectiveAt` (unix seconds); replaces any earlier pending change.
    event ProtocolFeeChangeScheduled(uint16 bps, uint64 effectiveAt);
    /// @notice The treasury changed.
    event TreasuryChanged(address previousTreasury, address newTreasury);

    /// @notice Opens a channel to `node`, pulling `amount` of `token` from the caller (approve first).
    function open(address node, address token, address authorizer, uint256 amount, uint64 withdrawDelay, bytes32 salt)
        external
        returns (bytes32 channelId);
    /// @notice `open` with an EIP-2612 permit for `amount`, in one transaction.
    function openWithPermit(
        address node,
        address token,
        address authorizer,
        uint256 amount,
        uint64 withdrawDelay,
        bytes32 salt,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (bytes32 channelId);
    /// @notice Adds `amount` to the caller's channel `channelId`.
    function topUp(bytes32 channelId, uint256 amount) external;
    /// @notice Starts the withdraw delay of the caller's channel `channelId`.
    function requestWithdraw(bytes32 channelId) external;
    /// @notice Pays the whole balance of `channelId` back to its payer once the delay has passed.
    /// The channel stays usable: its lanes keep their claimed totals.
    function withdraw(bytes32 channelId) external;
    /// @notice Settles one voucher per lane. Anyone may call; the node is credited. Vouchers not above
    /// the lane's claimed total pay nothing; a voucher above the balance pays what is there.
    function settle(SignedVoucher[] calldata vouchers) external returns (uint256 paid);
    /// @notice Withdraws the caller's credit.
    function withdrawCredit() external;
    /// @notice Announces a protocol fee, at most `MAX_PROTOCOL_FEE_BPS`, in force `TERMS_DELAY` from now
    /// (admin). Setting the fee in force cancels a pending change at once.
    function setProtocolFee(uint16 bps) external;
    /// @notice Sets the treasury (admin).
    function setTreasury(address treasury) external;

    /// @notice The protocol fee in force now, basis points.
    function protocolFeeBps() external view returns (uint16);
    /// @notice The announced protocol fee and when it takes effect (`effectiveAt == 0`: none pending).
    function pendingProtocolFee() external view returns (uint16 bps, uint64 effectiveAt);
    /// @notice The EIP-712 digest of `voucher` in this contract's domain.
    function hashVoucher(Voucher calldata voucher) external view returns (bytes32);
    /// @notice The id of the channel `payer` opens to `node` with `token` and `salt`.
    function channelIdFor(address payer, address node, address token, bytes32 salt) external view returns (bytes32);
    /// @notice Channel `channelId` (zero payer when unknown).
    function channelOf(bytes32 channelId) external view returns (Channel memory);
    /// @notice The total paid out on lane `(channelId, adapterId)`.
    function laneClaimed(bytes32 channelId, bytes32 adapterId) external view returns (uint256);
    /// @notice The withdrawable credit of `account`.
    function creditOf(address account) external view returns (uint256);
}
