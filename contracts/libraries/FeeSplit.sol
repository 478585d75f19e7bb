// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title FeeSplit
/// @notice The split of one settled payment (protocol.md, "Split"); mirrored by `splitPayment` in
/// src/chain/split.ts. Every share rounds down; the treasury takes the fee plus the rounding dust.
/// @dev With `paid` the payment, `f` the protocol fee, `r` the royalty and `c` the contributor part
/// of the royalty (all basis points):
///   royalty      = floor(paid * r / 10000)
///   contributors = hasRoot ? floor(royalty * c / 10000) : 0
///   owner        = royalty - contributors
///   node         = floor(paid * (10000 - f - r) / 10000)
///   treasury     = paid - royalty - node            (>= floor(paid * f / 10000))
/// Requires f + r <= 10000 (guaranteed by the fee and royalty caps).
///
/// The terms (f, r, c) change only `TERMS_DELAY` after the change is announced (docs/contracts.md,
/// "Split terms"): longer than `PaymentChannels.MAX_WITHDRAW_DELAY`, the longest a node may take to
/// settle, so work a node did at the terms it saw settles at those terms.
library FeeSplit {
    /// @notice Delay between announcing a change of split terms and its taking effect (31 days).
    uint64 internal constant TERMS_DELAY = 31 days;

    struct Shares {
        uint256 node;
        uint256 owner;
        uint256 contributors;
        uint256 treasury;
    }

    function split(uint256 paid, uint256 protocolBps, uint256 royaltyBps, uint256 contributorBps, bool hasRoot)
        internal
        pure
        returns (Shares memory s)
    {
        uint256 royalty = paid * royaltyBps / 10_000;
        s.contributors = hasRoot ? royalty * contributorBps / 10_000 : 0;
        s.owner = royalty - s.contributors;
        s.node = paid * (10_000 - protocolBps - royaltyBps) / 10_000;
        s.treasury = paid - royalty - s.node;
    }

    /// @notice The value in force at `block.timestamp` of a term that is `current` until `effectiveAt`
    /// (0: no change pending) and `pending` from then on.
    function inForce(uint16 current, uint16 pending, uint64 effectiveAt) internal view returns (uint16) {
        return effectiveAt != 0 && block.timestamp >= effectiveAt ? pending : current;
    }
}
