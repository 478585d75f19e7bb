// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title TestToken
/// @notice Dev/test ERC-20 with EIP-2612 permit. The owner mints. Not for production value.
contract TestToken is ERC20, ERC20Permit, Ownable {
    constructor(string memory name_, string memory symbol_, address owner_)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
        Ownable(owner_)
    {}

    /// @notice Mints `amount` to `to` (owner only).
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
