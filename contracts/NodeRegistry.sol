// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {INodeRegistry} from "./interfaces/INodeRegistry.sol";

/// @title NodeRegistry
/// @notice Stake, endpoints and equivocation slashing of openlora nodes. See {INodeRegistry}.
/// @dev Admin (owner, two-step transfer) powers: treasury, minimum stake, unbonding delay (at most
/// `MAX_UNBONDING_DELAY`), slash fraction and prover reward (at most `MAX_PROVER_REWARD_BPS`).
/// Nothing else.
contract NodeRegistry is INodeRegistry, EIP712, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice EIP-712 type of {INodeRegistry-UsageReceipt}; the TS definition in src/chain/eip712.ts matches it.
    bytes32 public constant USAGE_RECEIPT_TYPEHASH = keccak256(
        "UsageReceipt(bytes32 channelId,bytes32 adapterId,bytes32 requestId,uint64 seq,uint32 promptTokens,uint32 completionTokens,uint256 amount,uint256 laneCharged,bytes32 voucherDigest,bytes32 attributionDigest,uint64 timestamp)"
    );
    /// @notice EIP-712 type of {INodeRegistry-ReceiptBatch}; the TS definition in src/chain/receiptBatch.ts matches it.
    bytes32 public constant RECEIPT_BATCH_TYPEHASH =
        keccak256("ReceiptBatch(uint64 batchSeq,bytes32 root,uint32 count,uint64 timestamp)");
    /// @notice Upper bound on the unbonding delay the admin can set.
    uint64 public constant MAX_UNBONDING_DELAY = 90 days;
    /// @notice Upper bound on `proverRewardBps`: at least half of every slash goes to the treasury, so
    /// a node that slashes itself through another address still loses half of what is slashed.
    uint16 public constant MAX_PROVER_REWARD_BPS = 5_000;

    /// @notice The staking token.
    IERC20 public immutable stakeToken;

    address public treasury;
    uint256 public minStake;
    uint64 public unbondingDelay;
    /// @notice Part of a node's stake (stake + unbonding) taken per proven equivocation.
    uint16 public slashBps;
    /// @notice Part of the slashed amount credited to the prover; the rest goes to the treasury.
    uint16 public proverRewardBps;

    mapping(address node => mapping(uint64 seq => uint256)) private _heldRewards;
    mapping(address node => mapping(uint64 batchSeq => uint256)) private _heldBatchRewards;

    mapping(address node => Node) private _nodes;
    mapping(address node => mapping(uint64 seq => bool)) public slashedAt;
    mapping(address node => mapping(uint64 batchSeq => bool)) public batchSlashedAt;
    mapping(address account => uint256) private _credits;

    constructor(
        IERC20 stakeToken_,
        address admin,
        address treasury_,
        uint256 minStake_,
        uint64 unbondingDelay_,
        uint16 slashBps_,
        uint16 proverRewardBps_
    ) EIP712("openlora", "1") Ownable(admin) {
        if (address(stakeToken_) == address(0)) revert NodeRegistryZeroAddress();
        stakeToken = stakeToken_;
        _setTreasury(treasury_);
        _setMinStake(minStake_);
        _setUnbondingDelay(unbondingDelay_);
        _setSlashParams(slashBps_, proverRewardBps_);
    }

    // ---------------------------------------------------------------- nodes

    /// @inheritdoc INodeRegistry
    function register(uint256 stake, string calldata url, string[] calldata multiaddrs) external nonReentrant {
        Node storage node = _nodes[msg.sender];
        if (node.registered) revert NodeRegistryAlreadyRegistered(msg.sender);
        if (stake < minStake || stake == 0) revert NodeRegistryStakeTooLow(stake, minStake);
        node.registered = true;
        node.stake = SafeCast.toUint128(stake);
        _setEndpoints(node, url, multiaddrs);
        stakeToken.safeTransferFrom(msg.sender, address(this), stake);
        emit NodeRegistered(msg.sender, stake, url, multiaddrs);
    }

    /// @inheritdoc INodeRegistry
    function updateEndpoints(string calldata url, string[] calldata multiaddrs) external {
        Node storage node = _registered(msg.sender);
        _setEndpoints(node, url, multiaddrs);
        emit NodeEndpointsUpdated(msg.sender, url, multiaddrs);
    }

    /// @inheritdoc INodeRegistry
    function addStake(uint256 amount) external nonReentrant {
        if (amount == 0) revert NodeRegistryZeroAmount();
        Node storage node = _registered(msg.sender);
        uint256 stake = node.stake + amount;
        node.stake = SafeCast.toUint128(stake);
        stakeToken.safeTransferFrom(msg.sender, address(this), amount);
        emit StakeAdded(msg.sender, amount, stake);
    }

    /// @inheritdoc INodeRegistry
    function requestUnbond(uint256 amount) external {
        if (amount == 0) revert NodeRegistryZeroAmount();
        Node storage node = _registered(msg.sender);
        uint256 stake = node.stake;
        if (amount > stake) revert NodeRegistryInsufficientStake(amount, stake);
        // amount <= stake < 2^128, and unbonding + amount <= total deposits < 2^128 (SafeCast on the way in).
        node.stake = uint128(stake - amount);
        node.unbonding += uint128(amount);
        uint64 readyAt = uint64(block.timestamp) + unbondingDelay;
        node.unbondingReadyAt = readyAt;
        emit UnbondRequested(msg.sender, amount, node.unbonding, readyAt);
    }

    /// @inheritdoc INodeRegistry
    function withdrawUnbonded() external nonReentrant {
        Node storage node = _registered(msg.sender);
        uint256 amount = node.unbonding;
        if (amount == 0 || block.timestamp < node.unbondingReadyAt) {
            revert NodeRegistryUnbondingNotReady(amount, node.unbondingReadyAt);
        }
        node.unbonding = 0;
        node.unbondingReadyAt = 0;
        stakeToken.safeTransfer(msg.sender, amount);
        emit Unbonded(msg.sender, amount);
    }

    // ---------------------------------------------------------------- slashing

    /// @inheritdoc INodeRegistry
    function slash(UsageReceipt calldata receiptA, bytes calldata sigA, UsageReceipt calldata receiptB, bytes calldata sigB)
        external
        nonReentrant
    {
        if (receiptA.seq != receiptB.seq) revert NodeRegistrySeqMismatch(receiptA.seq, receiptB.seq);
        bytes32 structA = _structHash(receiptA);
        bytes32 structB = _structHash(receiptB);
        if (structA == structB) revert NodeRegistryNotEquivocation(structA);
        // ECDSA.recoverCalldata rejects high-s and malformed signatures.
        address signer = ECDSA.recoverCalldata(_hashTypedDataV4(structA), sigA);
        address signerB = ECDSA.recoverCalldata(_hashTypedDataV4(structB), sigB);
        if (signer != signerB) revert NodeRegistrySignerMismatch(signer, signerB);
        _registered(signer);
        _slashSeq(signer, receiptA.seq);
    }

    /// @inheritdoc INodeRegistry
    function slashBatch(ReceiptBatch calldata batchA, bytes calldata sigA, ReceiptBatch calldata batchB, bytes calldata sigB)
        external
        nonReentrant
    {
        if (batchA.batchSeq != batchB.batchSeq) revert NodeRegistryBatchSeqMismatch(batchA.batchSeq, batchB.batchSeq);
        bytes32 digestA = _hashTypedDataV4(_batchStructHash(batchA));
        bytes32 digestB = _hashTypedDataV4(_batchStructHash(batchB));
        if (digestA == digestB) revert NodeRegistryNotEquivocation(digestA);
        address signer = ECDSA.recoverCalldata(digestA, sigA);
        address signerB = ECDSA.recoverCalldata(digestB, sigB);
        if (signer != signerB) revert NodeRegistrySignerMismatch(signer, signerB);
        _registered(signer);
        uint64 batchSeq = batchA.batchSeq;
        if (batchSlashedAt[signer][batchSeq]) {
            uint256 held = _heldBatchRewards[signer][batchSeq];
            if (held == 0 || _isSlashedParty(signer, msg.sender)) revert NodeRegistryBatchAlreadySlashed(signer, batchSeq);
            _heldBatchRewards[signer][batchSeq] = 0;
            _credits[msg.sender] += held;
            emit BatchProverRewarded(signer, batchSeq, msg.sender, held);
            return;
        }
        batchSlashedAt[signer][batchSeq] = true;
        (uint256 amount, uint256 reward) = _take(signer);
        if (_isSlashedParty(signer, msg.sender)) {
            _heldBatchRewards[signer][batchSeq] = reward;
            emit BatchSlashed(signer, batchSeq, amount, msg.sender, 0);
            if (reward != 0) emit BatchProverRewardHeld(signer, batchSeq, reward);
        } else {
            _credits[msg.sender] += reward;
            emit BatchSlashed(signer, batchSeq, amount, msg.sender, reward);
        }
    }

    /// @inheritdoc INodeRegistry
    function slashReceipts(ReceiptEvidence calldata a, ReceiptEvidence calldata b) external nonReentrant {
        if (a.receipt.seq != b.receipt.seq) revert NodeRegistrySeqMismatch(a.receipt.seq, b.receipt.seq);
        bytes32 digestA = _hashTypedDataV4(_structHash(a.receipt));
        bytes32 digestB = _hashTypedDataV4(_structHash(b.receipt));
        if (digestA == digestB) revert NodeRegistryNotEquivocation(digestA);
        address signer = _voucher(a, digestA);
        address signerB = _voucher(b, digestB);
        if (signer != signerB) revert NodeRegistrySignerMismatch(signer, signerB);
        _registered(signer);
        _slashSeq(signer, a.receipt.seq);
    }

    /// @inheritdoc INodeRegistry
    function withdrawCredit() external nonReentrant {
        uint256 amount = _credits[msg.sender];
        if (amount == 0) revert NodeRegistryNothingToWithdraw(msg.sender);
        _credits[msg.sender] = 0;
        stakeToken.safeTransfer(msg.sender, amount);
        emit CreditWithdrawn(msg.sender, amount);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Sets the treasury that receives the non-prover part of slashes.
    function setTreasury(address treasury_) external onlyOwner {
        _setTreasury(treasury_);
    }

    /// @notice Sets the minimum stake for new registrations and `isActive`.
    function setMinStake(uint256 minStake_) external onlyOwner {
        _setMinStake(minStake_);
    }

    /// @notice Sets the unbonding delay, at most `MAX_UNBONDING_DELAY`.
    function setUnbondingDelay(uint64 delay) external onlyOwner {
        _setUnbondingDelay(delay);
    }

    /// @notice Sets the slash fraction and the prover's part of it, in basis points.
    function setSlashParams(uint16 slashBps_, uint16 proverRewardBps_) external onlyOwner {
        _setSlashParams(slashBps_, proverRewardBps_);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc INodeRegistry
    function hashUsageReceipt(UsageReceipt calldata receipt) external view returns (bytes32) {
        return _hashTypedDataV4(_structHash(receipt));
    }

    /// @inheritdoc INodeRegistry
    function nodeOf(address node) external view returns (Node memory) {
        return _nodes[node];
    }

    /// @inheritdoc INodeRegistry
    function isActive(address node) external view returns (bool) {
        Node storage n = _nodes[node];
        return n.registered && n.stake >= minStake && n.stake > 0;
    }

    /// @inheritdoc INodeRegistry
    function creditOf(address account) external view returns (uint256) {
        return _credits[account];
    }

    /// @inheritdoc INodeRegistry
    function heldRewardOf(address node, uint64 seq) external view returns (uint256) {
        return _heldRewards[node][seq];
    }

    /// @inheritdoc INodeRegistry
    function heldBatchRewardOf(address node, uint64 batchSeq) external view returns (uint256) {
        return _heldBatchRewards[node][batchSeq];
    }

    /// @inheritdoc INodeRegistry
    function hashReceiptBatch(ReceiptBatch calldata batch) external view returns (bytes32) {
        return _hashTypedDataV4(_batchStructHash(batch));
    }

    // ---------------------------------------------------------------- internal

    /// @dev Slashes `signer` once for `seq` (the two receipt paths share it); a proof of an equivocation
    /// already slashed pays the reward a self-slash left held, if any.
    function _slashSeq(address signer, uint64 seq) private {
        if (slashedAt[signer][seq]) {
            _payHeldReward(signer, seq);
            return;
        }
        slashedAt[signer][seq] = true;
        (uint256 amount, uint256 reward) = _take(signer);
        if (_isSlashedParty(signer, msg.sender)) {
            // A node proving its own equivocation earns nothing: the reward waits for the first other prover.
            _heldRewards[signer][seq] = reward;
            emit Slashed(signer, seq, amount, msg.sender, 0);
            if (reward != 0) emit ProverRewardHeld(signer, seq, reward);
        } else {
            _credits[msg.sender] += reward;
            emit Slashed(signer, seq, amount, msg.sender, reward);
        }
    }

    /// @dev Takes `slashBps` of `signer`'s stake (active first, then unbonding, so unbonding cannot
    /// dodge a slash) and credits the treasury all but the prover's `reward`, which the caller routes.
    function _take(address signer) private returns (uint256 amount, uint256 reward) {
        Node storage node = _nodes[signer];
        uint256 stake = node.stake;
        uint256 unbonding = node.unbonding;
        amount = (stake + unbonding) * slashBps / 10_000;
        if (amount == 0) revert NodeRegistryNothingToSlash(signer);
        // amount <= stake + unbonding (slashBps <= 10000): neither subtraction underflows.
        if (amount <= stake) {
            node.stake = uint128(stake - amount);
        } else {
            node.stake = 0;
            node.unbonding = uint128(unbonding - (amount - stake));
        }
        reward = amount * proverRewardBps / 10_000;
        _credits[treasury] += amount - reward;
    }

    /// @dev The key that vouched for `e.receipt` (whose digest is `digest`): the receipt's own signer,
    /// or the signer of the batch it is proven to be in.
    function _voucher(ReceiptEvidence calldata e, bytes32 digest) private view returns (address) {
        if (e.batch.root == bytes32(0)) return ECDSA.recoverCalldata(digest, e.signature);
        if (!MerkleProof.verifyCalldata(e.proof, e.batch.root, digest)) revert NodeRegistryNotInBatch(digest, e.batch.root);
        return ECDSA.recoverCalldata(_hashTypedDataV4(_batchStructHash(e.batch)), e.signature);
    }

    function _batchStructHash(ReceiptBatch calldata b) private pure returns (bytes32) {
        return keccak256(abi.encode(RECEIPT_BATCH_TYPEHASH, b.batchSeq, b.root, b.count, b.timestamp));
    }

    /// @dev Pays the reward a self-slash left held to the first prover who is not the slashed node.
    function _payHeldReward(address node, uint64 seq) private {
        uint256 held = _heldRewards[node][seq];
        if (held == 0 || _isSlashedParty(node, msg.sender)) revert NodeRegistryAlreadySlashed(node, seq);
        _heldRewards[node][seq] = 0;
        _credits[msg.sender] += held;
        emit ProverRewarded(node, seq, msg.sender, held);
    }

    /// @dev Whether `prover` is the slashed node itself. Its key is its operator: the address that
    /// registered, staked and withdraws, so excluding it excludes both.
    function _isSlashedParty(address node, address prover) private pure returns (bool) {
        return prover == node;
    }

    function _registered(address account) private view returns (Node storage node) {
        node = _nodes[account];
        if (!node.registered) revert NodeRegistryNotRegistered(account);
    }

    function _setEndpoints(Node storage node, string calldata url, string[] calldata multiaddrs) private {
        node.url = url;
        delete node.multiaddrs;
        for (uint256 i; i < multiaddrs.length; ++i) {
            node.multiaddrs.push(multiaddrs[i]);
        }
    }

    function _structHash(UsageReceipt calldata r) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                USAGE_RECEIPT_TYPEHASH,
                r.channelId,
                r.adapterId,
                r.requestId,
                r.seq,
                r.promptTokens,
                r.completionTokens,
                r.amount,
                r.laneCharged,
                r.voucherDigest,
                r.attributionDigest,
                r.timestamp
            )
        );
    }

    function _setTreasury(address treasury_) private {
        if (treasury_ == address(0)) revert NodeRegistryZeroAddress();
        emit TreasuryChanged(treasury, treasury_);
        treasury = treasury_;
    }

    function _setMinStake(uint256 minStake_) private {
        minStake = minStake_;
        emit MinStakeChanged(minStake_);
    }

    function _setUnbondingDelay(uint64 delay) private {
        if (delay > MAX_UNBONDING_DELAY) revert NodeRegistryDelayTooLong(delay, MAX_UNBONDING_DELAY);
        unbondingDelay = delay;
        emit UnbondingDelayChanged(delay);
    }

    function _setSlashParams(uint16 slashBps_, uint16 proverRewardBps_) private {
        if (slashBps_ > 10_000) revert NodeRegistryInvalidBps(slashBps_);
        if (proverRewardBps_ > MAX_PROVER_REWARD_BPS) revert NodeRegistryInvalidBps(proverRewardBps_);
        slashBps = slashBps_;
        proverRewardBps = proverRewardBps_;
        emit SlashParamsChanged(slashBps_, proverRewardBps_);
    }
}
