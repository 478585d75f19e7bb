import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseSignature, zeroAddress, zeroHash, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { signVoucher, voucherDigest, type TypedDataSigner, type Voucher } from '../../src/chain/eip712.ts';
import { buildAttributionTree } from '../../src/chain/merkle.ts';
import { splitPayment } from '../../src/chain/split.ts';
import { expectRevert, highSTwin, id, setupChain, TOKEN, type Chain } from './fixture.ts';

const DELAY = 900n;
const FEE_BPS = 200;

describe('PaymentChannels', () => {
  let c: Chain;
  let restore: () => Promise<void>;
  const node = 1;
  const payer = 3;
  const owner = 5;
  const treasury = 9;
  const authorizer = privateKeyToAccount(generatePrivateKey());
  let channelId: Hex;
  let plain: Hex; // adapter without attribution root
  let rooted: Hex; // adapter with a root over accounts 6 and 7

  const sign = (voucher: Voucher, account: TypedDataSigner = authorizer) =>
    signVoucher({ account, voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels });
  const settle = async (vouchers: Voucher[], caller = node) =>
    c.wait(c.as(caller).paymentChannels.write.settle([await Promise.all(vouchers.map(async (voucher) => ({ voucher, signature: await sign(voucher) })))]));
  const credit = (i: number) => c.contracts.paymentChannels.read.creditOf([c.accounts[i].address]);

  beforeAll(async () => {
    c = await setupChain({ protocolFeeBps: FEE_BPS });
    const pc = c.deployment.contracts.paymentChannels;
    await c.wait(c.as(payer).token.write.approve([pc, 10n ** 30n]));
    await c.wait(c.as(owner).adapterRegistry.write.register([{ salt: id('plain'), baseModelHash: id('base'), weightsHash: id('w1'), uri: 'hf://a', datanetIds: [], royaltyBps: 1000, contributorBps: 5000 }]));
    await c.wait(c.as(owner).adapterRegistry.write.register([{ salt: id('rooted'), baseModelHash: id('base'), weightsHash: id('w2'), uri: 'hf://b', datanetIds: [], royaltyBps: 1500, contributorBps: 4000 }]));
    plain = await c.contracts.adapterRegistry.read.adapterIdFor([c.accounts[owner].address, id('plain')]);
    rooted = await c.contracts.adapterRegistry.read.adapterIdFor([c.accounts[owner].address, id('rooted')]);
    const tree = buildAttributionTree({ adapterId: rooted, leaves: [{ contributor: c.accounts[6].address, weight: 3n }, { contributor: c.accounts[7].address, weight: 1n }] });
    await c.wait(c.as(owner).adapterRegistry.write.setAttributionRoot([rooted, tree.root, tree.totalWeight]));
    await c.wait(c.as(payer).paymentChannels.write.open([c.accounts[node].address, c.deployment.contracts.token, authorizer.address, 1_000n * TOKEN, DELAY, id('salt')]));
    channelId = await c.contracts.paymentChannels.read.channelIdFor([c.accounts[payer].address, c.accounts[node].address, c.deployment.contracts.token, id('salt')]);
    restore = await c.snapshot();
  });
  beforeEach(async () => {
    await restore();
    restore = await c.snapshot();
  });

  it('opens a channel with the documented id', async () => {
    const ch = await c.contracts.paymentChannels.read.channelOf([channelId]);
    expect(ch).toMatchObject({ payer: c.accounts[payer].address, node: c.accounts[node].address, authorizer: authorizer.address, balance: 1_000n * TOKEN, withdrawDelay: DELAY, withdrawReadyAt: 0n });
    const { encodeAbiParameters, keccak256 } = await import('viem');
    const expected = keccak256(encodeAbiParameters(
      [{ type: 'uint256' }, { type: 'address' }, { type: 'address' }, { type: 'address' }, { type: 'address' }, { type: 'bytes32' }],
      [BigInt(c.chainId), c.deployment.contracts.paymentChannels, c.accounts[payer].address, c.accounts[node].address, c.deployment.contracts.token, id('salt')],
    ));
    expect(channelId).toBe(expected);
  });

  it('refuses bad opens', async () => {
    const pc = c.as(payer).paymentChannels;
    const n = c.accounts[node].address;
    const t = c.deployment.contracts.token;
    await expectRevert(pc.write.open([n, t, authorizer.address, 1n, DELAY, id('salt')]), 'PaymentChannelsChannelExists', [channelId]);
    await expectRevert(pc.write.open([n, c.deployment.contracts.nodeRegistry, authorizer.address, 1n, DELAY, id('x')]), 'PaymentChannelsUnsupportedToken', [c.deployment.contracts.nodeRegistry, t]);
    await expectRevert(pc.write.open([zeroAddress, t, authorizer.address, 1n, DELAY, id('x')]), 'PaymentChannelsZeroAddress');
    await expectRevert(pc.write.open([n, t, authorizer.address, 0n, DELAY, id('x')]), 'PaymentChannelsZeroAmount');
    await expectRevert(pc.write.open([n, t, authorizer.address, 1n, 899n, id('x')]), 'PaymentChannelsWithdrawDelayOutOfRange', [899n, 900n, 30n * 86400n]);
  });

  it('opens with an EIP-2612 permit in one transaction', async () => {
    const who = c.accounts[4];
    const token = c.contracts.token;
    const pc = c.deployment.contracts.paymentChannels;
    const deadline = 2n ** 40n;
    const signature = await who.signTypedData({
      domain: { name: 'openlora Test Token', version: '1', chainId: c.chainId, verifyingContract: c.deployment.contracts.token },
      types: { Permit: [{ name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'value', type: 'uint256' }, { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] },
      primaryType: 'Permit',
      message: { owner: who.address, spender: pc, value: 5n, nonce: await token.read.nonces([who.address]), deadline },
    });
    const { r, s, v } = parseSignature(signature);
    await c.wait(c.as(4).paymentChannels.write.openWithPermit([c.accounts[node].address, c.deployment.contracts.token, who.address, 5n, DELAY, id('p'), deadline, Number(v), r, s]));
    const cid = await c.contracts.paymentChannels.read.channelIdFor([who.address, c.accounts[node].address, c.deployment.contracts.token, id('p')]);
    expect((await c.contracts.paymentChannels.read.channelOf([cid])).balance).toBe(5n);
  });

  it('tops up; only the payer; not unknown channels', async () => {
    await c.wait(c.as(payer).paymentChannels.write.topUp([channelId, 7n]));
    expect((await c.contracts.paymentChannels.read.channelOf([channelId])).balance).toBe(1_000n * TOKEN + 7n);
    await expectRevert(c.as(payer).paymentChannels.write.topUp([channelId, 0n]), 'PaymentChannelsZeroAmount');
    await expectRevert(c.as(node).paymentChannels.write.topUp([channelId, 1n]), 'PaymentChannelsNotPayer', [channelId, c.accounts[node].address]);
    await expectRevert(c.as(payer).paymentChannels.write.topUp([id('nope'), 1n]), 'PaymentChannelsUnknownChannel', [id('nope')]);
  });

  it('withdraws only after the delay, and the node can settle until then', async () => {
    const pc = c.as(payer).paymentChannels;
    await expectRevert(pc.write.withdraw([channelId]), 'PaymentChannelsWithdrawNotRequested', [channelId]);
    await c.wait(pc.write.requestWithdraw([channelId]));
    const readyAt = (await c.contracts.paymentChannels.read.channelOf([channelId])).withdrawReadyAt;
    await expectRevert(pc.write.withdraw([channelId]), 'PaymentChannelsWithdrawNotReady', [channelId, readyAt]);
    await settle([{ channelId, adapterId: plain, cumulativeAmount: 100n }]);
    await c.increaseTime(Number(DELAY) - 5);
    await expectRevert(pc.write.withdraw([channelId]), 'PaymentChannelsWithdrawNotReady', [channelId, readyAt]);
    await c.increaseTime(5);
    const before = await c.contracts.token.read.balanceOf([c.accounts[payer].address]);
    await c.wait(pc.write.withdraw([channelId]));
    expect(await c.contracts.token.read.balanceOf([c.accounts[payer].address])).toBe(before + 1_000n * TOKEN - 100n);
    // A node that missed the window gets nothing more; the old lane total still stands.
    await settle([{ channelId, adapterId: plain, cumulativeAmount: 200n }]);
    expect(await c.contracts.paymentChannels.read.laneClaimed([channelId, plain])).toBe(100n);
    await expectRevert(c.as(node).paymentChannels.write.requestWithdraw([channelId]), 'PaymentChannelsNotPayer', [channelId, c.accounts[node].address]);
  });

  it('hashes vouchers exactly like the shared TS definition', async () => {
    const voucher = { channelId, adapterId: plain, cumulativeAmount: 123n };
    expect(await c.contracts.paymentChannels.read.hashVoucher([voucher])).toBe(
      voucherDigest({ voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels }),
    );
  });

  describe('settle', () => {
    it('pays the delta and splits it per protocol.md, dust to the treasury', async () => {
      const paid = 12_345_679n; // not a multiple of 10000: rounding dust
      await settle([{ channelId, adapterId: plain, cumulativeAmount: paid }]);
      const s = splitPayment({ paid, protocolFeeBps: FEE_BPS, royaltyBps: 1000, contributorBps: 5000, hasRoot: false });
      expect(s.treasury).toBeGreaterThan((paid * BigInt(FEE_BPS)) / 10_000n); // dust went to the treasury
      expect(await credit(node)).toBe(s.node);
      expect(await credit(owner)).toBe(s.owner); // no root: contributor share to the owner
      expect(await credit(treasury)).toBe(s.treasury);
      expect(s.node + s.owner + s.treasury).toBe(paid);
      expect((await c.contracts.paymentChannels.read.channelOf([channelId])).balance).toBe(1_000n * TOKEN - paid);
    });

    it('settles lane zero (the base model, no adapter): no royalty, fee to the treasury', async () => {
      const paid = 1_000_001n;
      await settle([{ channelId, adapterId: zeroHash, cumulativeAmount: paid }]);
      const s = splitPayment({ paid, protocolFeeBps: FEE_BPS, royaltyBps: 0, contributorBps: 0, hasRoot: false });
      expect(s.owner).toBe(0n);
      expect(await credit(node)).toBe(s.node);
      expect(await credit(treasury)).toBe(s.treasury);
      expect(await c.contracts.paymentChannels.read.laneClaimed([channelId, zeroHash])).toBe(paid);
    });

    it('sends the contributor share of a rooted adapter to AttributionRewards', async () => {
      const paid = 1_000_003n;
      await settle([{ channelId, adapterId: rooted, cumulativeAmount: paid }]);
      const s = splitPayment({ paid, protocolFeeBps: FEE_BPS, royaltyBps: 1500, contributorBps: 4000, hasRoot: true });
      expect(await c.contracts.attributionRewards.read.poolOf([rooted])).toBe(s.contributors);
      expect(await c.contracts.token.read.balanceOf([c.deployment.contracts.attributionRewards])).toBe(s.contributors);
      expect(await credit(owner)).toBe(s.owner);
      expect(await credit(node)).toBe(s.node);
      expect(await credit(treasury)).toBe(s.treasury);
    });

    it('pays nothing for a repeated or smaller voucher; lanes are independent', async () => {
      await settle([{ channelId, adapterId: plain, cumulativeAmount: 500n }]);
      const nodeCredit = await credit(node);
      await settle([{ channelId, adapterId: plain, cumulativeAmount: 500n }]);
      await settle([{ channelId, adapterId: plain, cumulativeAmount: 499n }]);
      expect(await credit(node)).toBe(nodeCredit);
      expect(await c.contracts.paymentChannels.read.laneClaimed([channelId, plain])).toBe(500n);
      await settle([{ channelId, adapterId: rooted, cumulativeAmount: 500n }, { channelId, adapterId: plain, cumulativeAmount: 800n }]);
      expect(await c.contracts.paymentChannels.read.laneClaimed([channelId, rooted])).toBe(500n);
      expect(await c.contracts.paymentChannels.read.laneClaimed([channelId, plain])).toBe(800n);
    });

    it('pays only what the channel holds for a voucher above the balance, the rest after a top-up', async () => {
      const balance = 1_000n * TOKEN;
      await settle([{ channelId, adapterId: plain, cumulativeAmount: balance + 50n }]);
      expect(await c.contracts.paymentChannels.read.laneClaimed([channelId, plain])).toBe(balance);
      expect((await c.contracts.paymentChannels.read.channelOf([channelId])).balance).toBe(0n);
      await settle([{ channelId, adapterId: plain, cumulativeAmount: balance + 50n }]); // nothing there: pays nothing
      await c.wait(c.as(payer).paymentChannels.write.topUp([channelId, 100n]));
      await settle([{ channelId, adapterId: plain, cumulativeAmount: balance + 50n }]);
      expect(await c.contracts.paymentChannels.read.laneClaimed([channelId, plain])).toBe(balance + 50n);
      expect((await c.contracts.paymentChannels.read.channelOf([channelId])).balance).toBe(50n);
    });

    it('rejects replay across lane, channel, chain and contract', async () => {
      const voucher = { channelId, adapterId: plain, cumulativeAmount: 10n };
      const signature = await sign(voucher);
      const pc = c.as(node).paymentChannels;
      // Another lane (same channel, other adapter): the signature recovers to someone else.
      await expectRevert(pc.write.settle([[{ voucher: { ...voucher, adapterId: rooted }, signature }]]), 'PaymentChannelsInvalidVoucherSigner');
      // Another channel of the same payer and authorizer.
      await c.wait(c.as(payer).paymentChannels.write.open([c.accounts[node].address, c.deployment.contracts.token, authorizer.address, 100n, DELAY, id('salt2')]));
      const other = await c.contracts.paymentChannels.read.channelIdFor([c.accounts[payer].address, c.accounts[node].address, c.deployment.contracts.token, id('salt2')]);
      await expectRevert(pc.write.settle([[{ voucher: { ...voucher, channelId: other }, signature }]]), 'PaymentChannelsInvalidVoucherSigner');
      // Signed for another chain id, or another verifying contract.
      const otherChain = await signVoucher({ account: authorizer, voucher, chainId: c.chainId + 1, paymentChannels: c.deployment.contracts.paymentChannels });
      await expectRevert(pc.write.settle([[{ voucher, signature: otherChain }]]), 'PaymentChannelsInvalidVoucherSigner');
      const otherContract = await signVoucher({ account: authorizer, voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.nodeRegistry });
      await expectRevert(pc.write.settle([[{ voucher, signature: otherContract }]]), 'PaymentChannelsInvalidVoucherSigner');
      // Signed by someone other than the authorizer (here, the payer itself).
      await expectRevert(pc.write.settle([[{ voucher, signature: await sign(voucher, c.accounts[payer]) }]]), 'PaymentChannelsInvalidVoucherSigner', [channelId, c.accounts[payer].address, authorizer.address]);
      // The genuine one pays.
      await c.wait(pc.write.settle([[{ voucher, signature }]]));
      expect(await c.contracts.paymentChannels.read.laneClaimed([channelId, plain])).toBe(10n);
    });

    it('rejects a high-s signature', async () => {
      const voucher = { channelId, adapterId: plain, cumulativeAmount: 10n };
      const highS = highSTwin(await sign(voucher));
      await expectRevert(c.as(node).paymentChannels.write.settle([[{ voucher, signature: highS }]]), 'ECDSAInvalidSignatureS');
    });

    it('rejects unknown channels and adapters', async () => {
      const unknownChannel = { channelId: id('nope'), adapterId: plain, cumulativeAmount: 10n };
      await expectRevert(c.as(node).paymentChannels.write.settle([[{ voucher: unknownChannel, signature: await sign(unknownChannel) }]]), 'PaymentChannelsUnknownChannel', [id('nope')]);
      const unknownAdapter = { channelId, adapterId: id('never-registered'), cumulativeAmount: 10n };
      await expectRevert(c.as(node).paymentChannels.write.settle([[{ voucher: unknownAdapter, signature: await sign(unknownAdapter) }]]), 'PaymentChannelsUnknownAdapter', [id('never-registered')]);
    });
  });

  it('pays credits by pull', async () => {
    await settle([{ channelId, adapterId: plain, cumulativeAmount: 10_000n }]);
    const owed = await credit(node);
    const before = await c.contracts.token.read.balanceOf([c.accounts[node].address]);
    await c.wait(c.as(node).paymentChannels.write.withdrawCredit());
    expect(await c.contracts.token.read.balanceOf([c.accounts[node].address])).toBe(before + owed);
    await expectRevert(c.as(node).paymentChannels.write.withdrawCredit(), 'PaymentChannelsNothingToWithdraw', [c.accounts[node].address]);
  });

  it('admin: fee within the cap, treasury, owner only, two-step ownership', async () => {
    const pc = c.contracts.paymentChannels;
    await c.wait(pc.write.setProtocolFee([1000]));
    expect((await pc.read.pendingProtocolFee())[0]).toBe(1000); // in force after TERMS_DELAY (SplitTerms.test.ts)
    await expectRevert(pc.write.setProtocolFee([1001]), 'PaymentChannelsFeeTooHigh', [1001, 1000]);
    await c.wait(pc.write.setTreasury([c.accounts[8].address]));
    expect(await pc.read.treasury()).toBe(c.accounts[8].address);
    await expectRevert(pc.write.setTreasury([zeroAddress]), 'PaymentChannelsZeroAddress');
    await expectRevert(c.as(2).paymentChannels.write.setProtocolFee([0]), 'OwnableUnauthorizedAccount', [c.accounts[2].address]);
    await c.wait(pc.write.transferOwnership([c.accounts[2].address]));
    expect(await pc.read.owner()).toBe(c.accounts[0].address);
    await c.wait(c.as(2).paymentChannels.write.acceptOwnership());
    expect(await pc.read.owner()).toBe(c.accounts[2].address);
  });
});
