/**
 * Split terms cannot change under work already done (issue 14): a royalty or protocol fee change
 * takes effect only `TERMS_DELAY` (31 days, longer than the longest channel withdraw delay) after it
 * is announced, so a settlement in between splits at the terms the node served at.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import type { Hex } from 'viem';
import { signVoucher } from '../../src/chain/eip712.ts';
import { TERMS_DELAY_SECONDS } from '../../src/chain/terms.ts';
import { expectRevert, id, setupChain, TOKEN, type Chain } from './fixture.ts';

describe('split terms', () => {
  let c: Chain;
  let restore: () => Promise<void>;
  const [node, payer, owner, attacker, treasury] = [1, 3, 5, 6, 9];
  const authorizer = privateKeyToAccount(generatePrivateKey());
  let channelId: Hex;
  let adapterId: Hex;
  let cumulative = 0n;

  /** Settles `amount` more on the lane, sent by `caller` (anyone may), and returns each party's credit gain. */
  const settle = async (amount: bigint, caller = attacker) => {
    cumulative += amount;
    const voucher = { channelId, adapterId, cumulativeAmount: cumulative };
    const signature = await signVoucher({ account: authorizer, voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels });
    const credit = (i: number) => c.contracts.paymentChannels.read.creditOf([c.accounts[i].address]);
    const before = await Promise.all([node, owner, treasury].map(credit));
    await c.wait(c.as(caller).paymentChannels.write.settle([[{ voucher, signature }]]));
    const after = await Promise.all([node, owner, treasury].map(credit));
    return { node: after[0] - before[0], owner: after[1] - before[1], treasury: after[2] - before[2] };
  };

  beforeAll(async () => {
    c = await setupChain({ protocolFeeBps: 200 });
    await c.wait(c.as(owner).adapterRegistry.write.register([{ salt: id('terms'), baseModelHash: id('b'), weightsHash: id('w'), uri: '', datanetIds: [], royaltyBps: 500, contributorBps: 0 }]));
    adapterId = await c.contracts.adapterRegistry.read.adapterIdFor([c.accounts[owner].address, id('terms')]);
    await c.wait(c.as(payer).token.write.approve([c.deployment.contracts.paymentChannels, 10n ** 30n]));
    await c.wait(c.as(payer).paymentChannels.write.open([c.accounts[node].address, c.deployment.contracts.token, authorizer.address, 1_000n * TOKEN, 30n * 86400n, id('s')]));
    channelId = await c.contracts.paymentChannels.read.channelIdFor([c.accounts[payer].address, c.accounts[node].address, c.deployment.contracts.token, id('s')]);
    restore = await c.snapshot();
  });
  beforeEach(async () => {
    await restore();
    restore = await c.snapshot();
    cumulative = 0n;
  });

  it('outlasts the longest withdraw delay, in both contracts and the TS mirror', async () => {
    const delay = await c.contracts.adapterRegistry.read.TERMS_DELAY();
    expect(delay).toBe(BigInt(TERMS_DELAY_SECONDS));
    expect(await c.contracts.paymentChannels.read.TERMS_DELAY()).toBe(delay);
    expect(delay).toBeGreaterThan(await c.contracts.paymentChannels.read.MAX_WITHDRAW_DELAY());
  });

  it('an owner who raises the royalty, settles a node\'s lane and lowers it back takes nothing from the node', async () => {
    // The attack of issue 14: with a 2% fee and a 5% royalty the node is owed 93 of 100.
    await c.wait(c.as(owner).adapterRegistry.write.setRoyalty([adapterId, 5000, 0]));
    expect(await settle(100n)).toEqual({ node: 93n, owner: 5n, treasury: 2n });
    await c.wait(c.as(owner).adapterRegistry.write.setRoyalty([adapterId, 500, 0]));
    expect(await settle(100n)).toEqual({ node: 93n, owner: 5n, treasury: 2n });
    // Lowering it back cancelled the change: nothing is pending, and after the delay nothing changes.
    expect(await c.contracts.adapterRegistry.read.termsOf([adapterId])).toEqual([500, 0, 0, 0, 0n]);
    await c.increaseTime(TERMS_DELAY_SECONDS + 1);
    expect(await settle(100n)).toEqual({ node: 93n, owner: 5n, treasury: 2n });
  });

  it('a royalty change takes effect after the delay, announced with its time', async () => {
    const hash = await c.as(owner).adapterRegistry.write.setRoyalty([adapterId, 5000, 2000]);
    const { blockNumber } = await c.wait(hash);
    const { timestamp } = await c.publicClient.getBlock({ blockNumber });
    const effectiveAt = timestamp + BigInt(TERMS_DELAY_SECONDS);
    const [event] = await c.contracts.adapterRegistry.getEvents.RoyaltyChangeScheduled({ adapterId }, { fromBlock: blockNumber, toBlock: blockNumber });
    expect(event.args).toMatchObject({ royaltyBps: 5000, contributorBps: 2000, effectiveAt });
    expect(await c.contracts.adapterRegistry.read.termsOf([adapterId])).toEqual([500, 0, 5000, 2000, effectiveAt]);
    expect(await c.contracts.adapterRegistry.read.splitOf([adapterId])).toEqual([c.accounts[owner].address, 500, 0, 0n]);
    await c.increaseTime(TERMS_DELAY_SECONDS - 10);
    expect(await settle(100n)).toEqual({ node: 93n, owner: 5n, treasury: 2n }); // still the old split
    await c.increaseTime(10);
    expect(await c.contracts.adapterRegistry.read.termsOf([adapterId])).toEqual([5000, 2000, 0, 0, 0n]);
    expect((await c.contracts.adapterRegistry.read.adapterOf([adapterId])).royaltyBps).toBe(5000);
    expect(await settle(100n)).toEqual({ node: 48n, owner: 50n, treasury: 2n }); // no root: the contributor part goes to the owner
    // The next change starts from the split now in force.
    await c.wait(c.as(owner).adapterRegistry.write.setRoyalty([adapterId, 1000, 0]));
    expect((await c.contracts.adapterRegistry.read.termsOf([adapterId])).slice(0, 4)).toEqual([5000, 2000, 1000, 0]);
    await expectRevert(c.as(attacker).adapterRegistry.write.setRoyalty([adapterId, 0, 0]), 'AdapterRegistryNotOwner', [adapterId, c.accounts[attacker].address]);
  });

  it('a protocol fee change takes effect after the delay; setting the fee in force cancels it', async () => {
    const pc = c.contracts.paymentChannels;
    await c.wait(pc.write.setProtocolFee([1000]));
    const [bps, effectiveAt] = await pc.read.pendingProtocolFee();
    expect(bps).toBe(1000);
    expect(await pc.read.protocolFeeBps()).toBe(200);
    expect(await settle(100n)).toEqual({ node: 93n, owner: 5n, treasury: 2n });
    await c.increaseTime(TERMS_DELAY_SECONDS);
    expect(await pc.read.protocolFeeBps()).toBe(1000);
    expect(await pc.read.pendingProtocolFee()).toEqual([0, 0n]);
    expect(await settle(100n)).toEqual({ node: 85n, owner: 5n, treasury: 10n });
    expect((await pc.getEvents.ProtocolFeeChangeScheduled({ fromBlock: 0n })).at(-1)?.args).toEqual({ bps: 1000, effectiveAt });
    // Announce 5%, then take it back: the 10% in force stays, and nothing is pending.
    await c.wait(pc.write.setProtocolFee([500]));
    await c.wait(pc.write.setProtocolFee([1000]));
    expect(await pc.read.pendingProtocolFee()).toEqual([0, 0n]);
    await c.increaseTime(TERMS_DELAY_SECONDS);
    expect(await pc.read.protocolFeeBps()).toBe(1000);
  });
});
