// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title ReadBatch
/// @notice Test helper: many view calls in one `eth_call`, so the contract invariant tests can read
/// every balance, credit, stake and pool after each step cheaply. Not deployed by `openlora chain deploy`.
/// @dev The calls and their results are packed and the loop is assembly: EDR spends time on every
/// instruction, and decoding a `Call[]` and encoding a `bytes[]` in Solidity took 2-3x the time of the
/// view calls themselves (50 `balanceOf` reads: 2.7-3.0 ms per `eth_call` against 0.9-1.3 ms).
contract ReadBatch {
    /// @notice A call in the batch failed.
    error ReadBatchCallFailed(uint256 index, bytes reason);

    /// @notice The timestamp the calls see (`eth_call` runs them in a block of its own).
    function timestamp() external view returns (uint256) {
        return block.timestamp;
    }

    /// @notice Runs the view calls in `calls`, each packed as its target (20 bytes), its data's length
    /// (4 bytes) and its data, one after the other.
    /// @return results Each call's return data, in order, packed as its length (32 bytes) and the data.
    function read(bytes calldata calls) external view returns (bytes memory results) {
        uint256 failed = type(uint256).max;
        assembly ("memory-safe") {
            results := mload(0x40)
            let p := add(results, 0x20)
            let end := add(calls.offset, calls.length)
            for { let i := calls.offset let n := 0 } lt(i, end) { n := add(n, 1) } {
                let target := shr(96, calldataload(i))
                let size := shr(224, calldataload(add(i, 20)))
                i := add(i, 24)
                if gt(add(i, size), end) { revert(0, 0) } // a truncated entry
                calldatacopy(p, i, size)
                if iszero(staticcall(gas(), target, p, size, 0, 0)) {
                    failed := n
                    break
                }
                mstore(p, returndatasize())
                returndatacopy(add(p, 0x20), 0, returndatasize())
                p := add(p, add(0x20, returndatasize()))
                i := add(i, size)
            }
            mstore(results, sub(p, add(results, 0x20)))
            mstore(0x40, and(add(p, 31), not(31)))
        }
        if (failed != type(uint256).max) {
            bytes memory reason;
            assembly ("memory-safe") {
                reason := mload(0x40)
                mstore(reason, returndatasize())
                returndatacopy(add(reason, 0x20), 0, returndatasize())
                mstore(0x40, add(add(reason, 0x20), and(add(returndatasize(), 31), not(31))))
            }
            revert ReadBatchCallFailed(failed, reason);
        }
    }
}
