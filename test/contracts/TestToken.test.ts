import { describe, expect, it } from 'vitest';
import { expectRevert, setupChain } from './fixture.ts';

describe('TestToken', () => {
  it('mints for the owner only, with EIP-2612 metadata', async () => {
    const c = await setupChain();
    await c.wait(c.contracts.token.write.mint([c.accounts[12].address, 5n]));
    expect(await c.contracts.token.read.balanceOf([c.accounts[12].address])).toBe(5n);
    await expectRevert(c.as(1).token.write.mint([c.accounts[1].address, 1n]), 'OwnableUnauthorizedAccount', [c.accounts[1].address]);
    expect(await c.contracts.token.read.nonces([c.accounts[1].address])).toBe(0n);
    const [, name, version, chainId, verifyingContract] = await c.contracts.token.read.eip712Domain();
    expect([name, version, Number(chainId), verifyingContract]).toEqual(['openlora Test Token', '1', c.chainId, c.deployment.contracts.token]);
  });
});
