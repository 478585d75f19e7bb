// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title INodeRegistry
/// @notice Node operators stake here, publish their endpoints, and are slashed for equivocation:
/// two `UsageReceipt`s signed by the same node key with the same `seq` and different contents.
/// @dev The node key is the operator address (`msg.sender` of `register`); it signs receipts.
/// Receipts are EIP-712 typed data in the domain {name: "openlora", version: "1", chainId,
/// verifyingContract: this NodeRegistry}. Slashed stake is credited (pull payment): `proverRewardBps`
/// (at most half) to the prover, the rest to the treasury. The prover reward goes to the first prover
/// who is not the slashed node: a node that proves its own equivocation is slashed all the same, and
/// its reward is held for the next prover of that equivocation (burned if none comes).
interface INodeRegistry {
    /// @notice A node's signed account of one request (protocol.md, "Receipt").
    struct UsageReceipt {
        bytes32 channelId;
        bytes32 adapterId;
        bytes32 requestId;
        uint64 seq;
        uint32 promptTokens;
        uint32 completionTokens;
        uint256 amount;
        uint256 laneCharged;
        bytes32 voucherDigest;
        bytes32 attributionDigest;
        uint64 timestamp;
    }

    /// @notice A node's signed commitment to a batch of its receipts (docs/p2p.md "Batches"): one
    /// signature over the Merkle root of the receipts' EIP-712 digests (sorted-pair keccak256, the
    /// OpenZeppelin {MerkleProof} tree). `batchSeq` is unique per node key (the node uses the unix
    /// milliseconds of the commit, so it survives the loss of the node's disk).
    struct ReceiptBatch {
        uint64 batchSeq;
        bytes32 root;
        uint32 count;
        uint64 timestamp;
    }

    /// @notice A receipt as its node vouched for it: signed on its own (`batch.root == 0`, `signature`
    /// over the receipt's digest), or committed in a batch (`signature` over `batch`, `proof` the
    /// Merkle path from the receipt's digest to `batch.root`).
    struct ReceiptEvidence {
        UsageReceipt receipt;
        bytes signature;
        ReceiptBatch batch;
        bytes32[] proof;
    }

    /// @notice A node's public record.
    struct Node {
        bool registered;
        uint128 stake;
        uint128 unbonding;
        uint64 unbondingReadyAt;
        string url;
        string[] multiaddrs;
    }

    /// @notice `node` is already registered.
    error NodeRegistryAlreadyRegistered(address node);
    /// @notice `node` is not registered.
    error NodeRegistryNotRegistered(address node);
    /// @notice A stake of `stake` is below the minimum `minStake`.
    error NodeRegistryStakeTooLow(uint256 stake, uint256 minStake);
    /// @notice An amount of zero was given where tokens must move.
    error NodeRegistryZeroAmount();
    /// @notice Asked to unbond `requested` but only `available` is staked.
    error NodeRegistryInsufficientStake(uint256 requested, uint256 available);
    /// @notice Nothing is unbonding, or it is not ready until `readyAt`.
    error NodeRegistryUnbondingNotReady(uint256 unbonding, uint64 readyAt);
    /// @notice `account` has no credit to withdraw.
    error NodeRegistryNothingToWithdraw(address account);
    /// @notice The two receipts have different `seq` values: not an equivocation.
    error NodeRegistrySeqMismatch(uint64 seqA, uint64 seqB);
    /// @notice The two receipts are the same receipt (struct hash `receiptHash`): not an equivocation.
    error NodeRegistryNotEquivocation(bytes32 receiptHash);
    /// @notice The two receipts were signed by different keys.
    error NodeRegistrySignerMismatch(address signerA, address signerB);
    /// @notice `node` was already slashed for `seq` (and no reward is held for this caller).
    error NodeRegistryAlreadySlashed(address node, uint64 seq);
    /// @notice The two batches have different `batchSeq` values: not an equivocation.
    error NodeRegistryBatchSeqMismatch(uint64 batchSeqA, uint64 batchSeqB);
    /// @notice The receipt with digest `receiptDigest` is not in the batch with root `root` (bad proof).
    error NodeRegistryNotInBatch(bytes32 receiptDigest, bytes32 root);
    /// @notice `node` was already slashed for batch `batchSeq` (and no reward is held for this caller).
    error NodeRegistryBatchAlreadySlashed(address node, uint64 batchSeq);
    /// @notice `node` has no stake left to slash.
    error NodeRegistryNothingToSlash(address node);
    /// @notice A basis-point value above 10000.
    error NodeRegistryInvalidBps(uint256 bps);
    /// @notice The zero address was given for a required address.
    error NodeRegistryZeroAddress();
    /// @notice An unbonding delay of `delay` seconds is above the maximum `max`.
    error NodeRegistryDelayTooLong(uint64 delay, uint64 max);

    /// @notice `node` registered with `stake` tokens and its endpoints.
    event NodeRegistered(address indexed node, uint256 stake, string url, string[] multiaddrs);
    /// @notice `node` changed its endpoints.
    event NodeEndpointsUpdated(address indexed node, string url, string[] multiaddrs);
    /// @notice `node` added `amount` to its stake, now `stake`.
    event StakeAdded(address indexed node, uint256 amount, uint256 stake);
    /// @notice `node` moved `amount` from stake to unbonding, withdrawable at `readyAt`.
    event UnbondRequested(address indexed node, uint256 amount, uint256 unbonding, uint64 readyAt);
    /// @notice `node` withdrew `amount` of unbonded stake.
    event Unbonded(address indexed node, uint256 amount);
    /// @notice `node` was slashed `amount` for equivocating at `seq`; `prover` is credited `proverReward`.
    event Slashed(address indexed node, uint64 indexed seq, uint256 amount, address indexed prover, uint256 proverReward);
    /// @notice `node` proved its own equivocation at `seq`: the prover reward `amount` is held for the next prover.
    event ProverRewardHeld(address indexed node, uint64 indexed seq, uint256 amount);
    /// @notice `prover`, the first prover of `node`'s equivocation at `seq` after its self-slash, is credited `amount`.
    event ProverRewarded(address indexed node, uint64 indexed seq, address indexed prover, uint256 amount);
    /// @notice `node` was slashed `amount` for signing two batches with one `batchSeq`; `prover` is credited `proverReward`.
    event BatchSlashed(address indexed node, uint64 indexed batchSeq, uint256 amount, address indexed prover, uint256 proverReward);
    /// @notice `node` proved its own batch equivocation at `batchSeq`: the prover reward `amount` is held for the next prover.
    event BatchProverRewardHeld(address indexed node, uint64 indexed batchSeq, uint256 amount);
    /// @notice `prover`, the first prover of `node`'s batch equivocation at `batchSeq` after its self-slash, is credited `amount`.
    event BatchProverRewarded(address indexed node, uint64 indexed batchSeq, address indexed prover, uint256 amount);
    /// @notice `account` withdrew `amount` of credit.
    event CreditWithdrawn(address indexed account, uint256 amount);
    /// @notice The treasury changed.
    event TreasuryChanged(address previousTreasury, address newTreasury);
    /// @notice The slash fraction and the prover's part of it changed.
    event SlashParamsChanged(uint16 slashBps, uint16 proverRewardBps);
    /// @notice The minimum stake changed.
    event MinStakeChanged(uint256 minStake);
    /// @notice The unbonding delay changed.
    event UnbondingDelayChanged(uint64 unbondingDelay);

    /// @notice Registers `msg.sender` as a node, pulling `stake` tokens (approve first).
    function register(uint256 stake, string calldata url, string[] calldata multiaddrs) external;
    /// @notice Replaces the caller's endpoints.
    function updateEndpoints(string calldata url, string[] calldata multiaddrs) external;
    /// @notice Adds `amount` to the caller's stake.
    function addStake(uint256 amount) external;
    /// @notice Moves `amount` of stake to unbonding; restarts the unbonding clock.
    function requestUnbond(uint256 amount) external;
    /// @notice Withdraws all unbonded stake once the delay has passed.
    function withdrawUnbonded() external;
    /// @notice Proves that one node key signed two different receipts with the same `seq`, and slashes it.
    /// Proving an equivocation already slashed pays the held reward of a self-slash, if any.
    function slash(UsageReceipt calldata receiptA, bytes calldata sigA, UsageReceipt calldata receiptB, bytes calldata sigB)
        external;
    /// @notice Proves that one node key signed two different batches with the same `batchSeq`, and slashes it.
    /// Proving a batch equivocation already slashed pays the held reward of a self-slash, if any.
    function slashBatch(ReceiptBatch calldata batchA, bytes calldata sigA, ReceiptBatch calldata batchB, bytes calldata sigB) external;
    /// @notice Proves that one node key vouched for two different receipts with the same `seq` (each
    /// signed on its own or included in a signed batch), and slashes it; a `seq` is slashed once,
    /// whichever of `slash` and `slashReceipts` proves it.
    function slashReceipts(ReceiptEvidence calldata a, ReceiptEvidence calldata b) external;
    /// @notice Withdraws the caller's credit (slash rewards, treasury share).
    function withdrawCredit() external;

    /// @notice The EIP-712 digest of `receipt` in this registry's domain.
    function hashUsageReceipt(UsageReceipt calldata receipt) external view returns (bytes32);
    /// @notice The EIP-712 digest of `batch` in this registry's domain (what a node signs to commit it).
    function hashReceiptBatch(ReceiptBatch calldata batch) external view returns (bytes32);
    /// @notice The public record of `node`.
    function nodeOf(address node) external view returns (Node memory);
    /// @notice True when `node` is registered with at least the minimum stake.
    function isActive(address node) external view returns (bool);
    /// @notice The withdrawable credit of `account`.
    function creditOf(address account) external view returns (uint256);
    /// @notice The prover reward of `node`'s self-slash at `seq` waiting for another prover.
    function heldRewardOf(address node, uint64 seq) external view returns (uint256);
    /// @notice The prover reward held after `node` proved its own batch equivocation at `batchSeq`.
    function heldBatchRewardOf(address node, uint64 batchSeq) external view returns (uint256);
}
