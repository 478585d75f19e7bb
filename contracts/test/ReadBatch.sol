// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title ReadBatch
/// @notice Test helper: many view calls in one `eth_call`, so the contract invariant tests can read
/// every balance, credit, stake and pool after each step cheaply. Not deployed by `openlora chain deploy`.
contract ReadBatch {
    /// @notice One view call.
    struct Call {
        address target;
        bytes data;
    }

    /// @notice A call in the batch failed.
    error ReadBatchCallFailed(uint256 index, bytes reason);

    /// @notice The timestamp the calls see (`eth_call` runs them in a block of its own).
    function timestamp() external view returns (uint256) {
        return block.timestamp;
    }

    /// @notice The return data of each call, in order.
    function read(Call[] calldata calls) external view returns (bytes[] memory results) {
        results = new bytes[](calls.length);
        for (uint256 i; i < calls.length; ++i) {
            (bool ok, bytes memory data) = calls[i].target.staticcall(calls[i].data);
            if (!ok) revert ReadBatchCallFailed(i, data);
            results[i] = data;
        }
    }
}
