import { beforeAll, describe, expect, it } from 'vitest';
import { getAddress, keccak256, numberToHex, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { signVoucher } from '../../src/chain/eip712.ts';
import { buildAttributionTree, getAttributionProof, type AttributionTree } from '../../src/chain/merkle.ts';
import { splitPayment } from '../../src/chain/split.ts';
import { expectRevert, id, SEND_AS_IS, setupChain, TOKEN, type Chain } from './fixture.ts';

describe('AttributionRewards', () => {
  let c: Chain;
  const authorizer = privateKeyToAccount(generatePrivateKey());
  let channelId: Hex;
  const adapters: Hex[] = [];
  const trees: AttributionTree[] = [];
  // 1,000 contributors: accounts 2..8 (which can send transactions) plus 993 synthetic addresses.
  let contributors: Address[];
  const weightOf = (i: number) => BigInt(1 + (i % 17));

  beforeAll(async () => {
    c = await setupChain({ protocolFeeBps: 0 });
    contributors = [
      ...[2, 3, 4, 5, 6, 7, 8].map((i) => c.accounts[i].address),
      ...Array.from({ length: 993 }, (_, i) => getAddress(keccak256(numberToHex(i, { size: 32 })).slice(0, 42))),
    ];
    await c.wait(c.as(3).token.write.approve([c.deployment.contracts.paymentChannels, 10n ** 30n]));
    await c.wait(c.as(3).paymentChannels.write.open([c.accounts[1].address, c.deployment.contracts.token, authorizer.address, 1_000_000n * TOKEN, 900n, id('s')]));
    channelId = await c.contracts.paymentChannels.read.channelIdFor([c.accounts[3].address, c.accounts[1].address, c.deployment.contracts.token, id('s')]);
    for (let k = 0; k < 3; k += 1) {
      await c.wait(c.as(0).adapterRegistry.write.register([{ salt: id(`a${k}`), baseModelHash: id('b'), weightsHash: id('w'), uri: '', datanetIds: [], royaltyBps: 5000, contributorBps: 10_000 }]));
      const adapterId = await c.contracts.adapterRegistry.read.adapterIdFor([c.accounts[0].address, id(`a${k}`)]);
      adapters.push(adapterId);
      trees.push(buildAttributionTree({ adapterId, leaves: contributors.map((contributor, i) => ({ contributor, weight: weightOf(i) })) }));
    }
  });

  it('sends the contributor share to the owner while no root is set', async () => {
    const voucher = { channelId, adapterId: adapters[0], cumulativeAmount: 1000n };
    const signature = await signVoucher({ account: authorizer, voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels });
    await c.wait(c.as(1).paymentChannels.write.settle([[{ voucher, signature }]]));
    expect(await c.contracts.paymentChannels.read.creditOf([c.accounts[0].address])).toBe(500n);
    expect(await c.contracts.attributionRewards.read.poolOf([adapters[0]])).toBe(0n);
    const { weight, proof } = getAttributionProof(trees[0], c.accounts[2].address);
    await expectRevert(c.as(2).attributionRewards.write.claim([[adapters[0]], [weight], [proof]]), 'AttributionRewardsNoRoot', [adapters[0]]);
  });

  it('pays 1,000 contributors by weight with Merkle proofs, never more than the pool', async () => {
    for (let k = 0; k < 3; k += 1) {
      await c.wait(c.as(0).adapterRegistry.write.setAttributionRoot([adapters[k], trees[k].root, trees[k].totalWeight]));
    }
    const amount = 10n ** 21n + 7n;
    // Lanes are per adapter, so each adapter's voucher total is tracked on its own.
    const laneTotals = new Map<Hex, bigint>();
    const settleLane = async (adapterId: Hex, add: bigint) => {
      const total = (laneTotals.get(adapterId) ?? (await c.contracts.paymentChannels.read.laneClaimed([channelId, adapterId]))) + add;
      laneTotals.set(adapterId, total);
      const voucher = { channelId, adapterId, cumulativeAmount: total };
      const signature = await signVoucher({ account: authorizer, voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels });
      await c.wait(c.as(1).paymentChannels.write.settle([[{ voucher, signature }]]));
    };
    for (const adapterId of adapters) await settleLane(adapterId, amount);
    const contributorsShare = splitPayment({ paid: amount, protocolFeeBps: 0, royaltyBps: 5000, contributorBps: 10_000, hasRoot: true }).contributors;
    expect(await c.contracts.attributionRewards.read.poolOf([adapters[1]])).toBe(contributorsShare);
    expect(await c.contracts.attributionRewards.read.notifiedOf([adapters[1]])).toBe(contributorsShare);

    const total = trees[1].totalWeight;
    // Every contributor's claimable amount is its weight's share, rounded down, and they sum to at most the pool.
    let sum = 0n;
    for (let i = 0; i < contributors.length; i += 1) {
      const claimable = await c.contracts.attributionRewards.read.claimable([adapters[1], contributors[i], weightOf(i)]);
      expect(claimable).toBeLessThanOrEqual((contributorsShare * weightOf(i)) / total);
      expect(claimable).toBeGreaterThanOrEqual((contributorsShare * weightOf(i)) / total - 1n);
      sum += claimable;
    }
    expect(sum).toBeLessThanOrEqual(contributorsShare);

    // Account 2 claims on two adapters at once.
    const who = c.accounts[2].address;
    const p1 = getAttributionProof(trees[1], who);
    const p2 = getAttributionProof(trees[2], who);
    const expected = (await c.contracts.attributionRewards.read.claimable([adapters[1], who, p1.weight])) * 2n;
    const before = await c.contracts.token.read.balanceOf([who]);
    await c.wait(c.as(2).attributionRewards.write.claim([[adapters[1], adapters[2]], [p1.weight, p2.weight], [p1.proof, p2.proof]]));
    expect(await c.contracts.token.read.balanceOf([who])).toBe(before + expected);
    // Claiming again pays nothing until more is notified.
    await expectRevert(c.as(2).attributionRewards.write.claim([[adapters[1]], [p1.weight], [p1.proof]]), 'AttributionRewardsNothingToClaim', [who]);
    await settleLane(adapters[1], amount);
    await c.wait(c.as(2).attributionRewards.write.claim([[adapters[1]], [p1.weight], [p1.proof]]));
    expect(await c.contracts.attributionRewards.read.claimedOf([adapters[1], who])).toBe(await c.contracts.attributionRewards.read.claimable([adapters[1], who, p1.weight]) + expected);

    // Every other contributor claims too (impersonated): each gets exactly its claimable amount, and the
    // pool keeps only rounding dust (less than one unit per contributor: exactly sum(w * N mod W) / W).
    for (let i = 1; i < contributors.length; i += 1) {
      const account = contributors[i];
      await c.testClient.impersonateAccount({ address: account });
      await c.testClient.setBalance({ address: account, value: 10n ** 18n });
      const wallet = await c.viem.getWalletClient(account);
      const { weight, proof } = getAttributionProof(trees[1], account);
      const owed = await c.contracts.attributionRewards.read.claimable([adapters[1], account, weight]);
      await c.wait(wallet.writeContract({ address: c.deployment.contracts.attributionRewards, abi: c.contracts.attributionRewards.abi, functionName: 'claim', args: [[adapters[1]], [weight], [proof]], ...SEND_AS_IS }));
      expect(await c.contracts.attributionRewards.read.claimedOf([adapters[1], account])).toBe(owed);
    }
    expect(await c.contracts.attributionRewards.read.poolOf([adapters[1]])).toBeLessThan(BigInt(contributors.length));

    // A wrong weight, a proof for someone else, or mismatched arrays are refused.
    await expectRevert(c.as(2).attributionRewards.write.claim([[adapters[1]], [p1.weight + 1n], [p1.proof]]), 'AttributionRewardsInvalidProof', [adapters[1], who, p1.weight + 1n]);
    const p3 = getAttributionProof(trees[1], c.accounts[3].address);
    await expectRevert(c.as(2).attributionRewards.write.claim([[adapters[1]], [p3.weight], [p3.proof]]), 'AttributionRewardsInvalidProof');
    await expectRevert(c.as(2).attributionRewards.write.claim([[adapters[1]], [], [p1.proof]]), 'AttributionRewardsLengthMismatch');
  });

  it('only PaymentChannels may notify and only AdapterRegistry may set roots', async () => {
    await expectRevert(c.as(2).attributionRewards.write.notify([adapters[1], 1n]), 'AttributionRewardsNotPaymentChannels', [c.accounts[2].address]);
    await expectRevert(c.as(2).attributionRewards.write.setRoot([adapters[1], id('evil'), 1n]), 'AttributionRewardsNotAdapterRegistry', [c.accounts[2].address]);
    expect(await c.contracts.attributionRewards.read.totalWeightOf([adapters[1]])).toBe(trees[1].totalWeight);
    expect(await c.contracts.attributionRewards.read.rootOf([adapters[1]])).toBe(trees[1].root);
  });

  it('loses less than one wei per contributor with a total weight near 2^64, however small the notifications', async () => {
    // The attack of issue 14: with totalWeight near 2^64 each small notification used to round to a zero
    // accumulator step, so the pool kept it for ever. Two contributors, weights 2^64 - 3 and 1.
    const [big, small] = [c.accounts[2].address, c.accounts[3].address];
    await c.wait(c.as(0).adapterRegistry.write.register([{ salt: id('heavy'), baseModelHash: id('b'), weightsHash: id('w'), uri: '', datanetIds: [], royaltyBps: 5000, contributorBps: 10_000 }]));
    const adapterId = await c.contracts.adapterRegistry.read.adapterIdFor([c.accounts[0].address, id('heavy')]);
    const tree = buildAttributionTree({ adapterId, leaves: [{ contributor: big, weight: 2n ** 64n - 3n }, { contributor: small, weight: 1n }] });
    expect(tree.totalWeight).toBe(2n ** 64n - 2n);
    await c.wait(c.as(0).adapterRegistry.write.setAttributionRoot([adapterId, tree.root, tree.totalWeight]));
    const rounds = 40;
    for (let i = 1; i <= rounds; i += 1) {
      const voucher = { channelId, adapterId, cumulativeAmount: 3n * BigInt(i) }; // 1 wei to the contributors each time
      const signature = await signVoucher({ account: authorizer, voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels });
      await c.wait(c.as(1).paymentChannels.write.settle([[{ voucher, signature }]]));
    }
    const notified = await c.contracts.attributionRewards.read.notifiedOf([adapterId]);
    expect(notified).toBe(BigInt(rounds));
    const p = getAttributionProof(tree, big);
    expect(await c.contracts.attributionRewards.read.claimable([adapterId, big, p.weight])).toBe((p.weight * notified) / tree.totalWeight);
    await c.wait(c.as(2).attributionRewards.write.claim([[adapterId], [p.weight], [p.proof]]));
    const claimed = await c.contracts.attributionRewards.read.claimedOf([adapterId, big]);
    expect(claimed).toBe(BigInt(rounds) - 1n); // its exact share, 39.99..., rounded down
    expect(await c.contracts.attributionRewards.read.poolOf([adapterId])).toBe(1n);
  });

  it('a pool that would pass 2^96 - 1 base units leaves the contributors\' part to the owner instead of blocking the lane', async () => {
    await c.wait(c.as(0).adapterRegistry.write.register([{ salt: id('huge'), baseModelHash: id('b'), weightsHash: id('w'), uri: '', datanetIds: [], royaltyBps: 5000, contributorBps: 10_000 }]));
    const adapterId = await c.contracts.adapterRegistry.read.adapterIdFor([c.accounts[0].address, id('huge')]);
    await c.wait(c.as(0).adapterRegistry.write.setAttributionRoot([adapterId, id('root'), 1n]));
    const max = 2n ** 96n - 1n;
    await c.wait(c.as(0).token.write.mint([c.accounts[4].address, 3n * max]));
    await c.wait(c.as(4).token.write.approve([c.deployment.contracts.paymentChannels, 3n * max]));
    const settleAll = async (salt: string) => {
      await c.wait(c.as(4).paymentChannels.write.open([c.accounts[1].address, c.deployment.contracts.token, authorizer.address, max, 900n, id(salt)]));
      const cid = await c.contracts.paymentChannels.read.channelIdFor([c.accounts[4].address, c.accounts[1].address, c.deployment.contracts.token, id(salt)]);
      const voucher = { channelId: cid, adapterId, cumulativeAmount: max };
      const signature = await signVoucher({ account: authorizer, voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels });
      const ownerBefore = await c.contracts.paymentChannels.read.creditOf([c.accounts[0].address]);
      await c.wait(c.as(1).paymentChannels.write.settle([[{ voucher, signature }]]));
      return (await c.contracts.paymentChannels.read.creditOf([c.accounts[0].address])) - ownerBefore;
    };
    const half = max / 2n; // the royalty, all of it the contributors'
    expect(await settleAll('huge-1')).toBe(0n);
    expect(await settleAll('huge-2')).toBe(0n);
    expect(await c.contracts.attributionRewards.read.notifiedOf([adapterId])).toBe(2n * half);
    // The third would pass the cap: the pool accounts nothing, the owner is credited, the lane is paid.
    expect(await settleAll('huge-3')).toBe(half);
    expect(await c.contracts.attributionRewards.read.notifiedOf([adapterId])).toBe(2n * half);
    expect(await c.contracts.token.read.balanceOf([c.deployment.contracts.attributionRewards])).toBeGreaterThanOrEqual(half);
  });
});
