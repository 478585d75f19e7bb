import { beforeAll, describe, expect, it } from 'vitest';
import { hashTypedData } from 'viem';
import { contributionDomain, contributionTypes, signContribution } from '../../src/chain/eip712.ts';
import { expectRevert, highSTwin, id, setupChain, type Chain } from './fixture.ts';


describe('DatanetRegistry', () => {
  let c: Chain;
  beforeAll(async () => {
    c = await setupChain();
  });

  it('creates Datanets, records contributions, and refuses bad ones', async () => {
    const reg = c.as(1).datanetRegistry;
    await c.wait(reg.write.createDatanet([id('meta'), 'ipfs://datanet']));
    expect(await c.contracts.datanetRegistry.read.datanetCount()).toBe(1n);
    expect(await c.contracts.datanetRegistry.read.exists([1n])).toBe(true);
    expect(await c.contracts.datanetRegistry.read.exists([2n])).toBe(false);
    await c.wait(c.as(2).datanetRegistry.write.contribute([1n, id('doc-1'), 1234n]));
    await c.wait(c.as(3).datanetRegistry.write.contribute([1n, id('doc-2'), 10n]));
    expect(await c.contracts.datanetRegistry.read.contributionOf([1n, 0n])).toEqual({ contributor: c.accounts[2].address, tokenCount: 1234n, contentHash: id('doc-1') });
    const d = await c.contracts.datanetRegistry.read.datanetOf([1n]);
    expect(d).toMatchObject({ owner: c.accounts[1].address, contributionCount: 2n, metadataHash: id('meta'), uri: 'ipfs://datanet' });
    const events = await c.contracts.datanetRegistry.getEvents.ContributionAdded({ datanetId: 1n }, { fromBlock: 0n });
    expect(events.map((e) => e.args.index)).toEqual([0n, 1n]);

    await expectRevert(c.as(2).datanetRegistry.write.contribute([1n, id('doc-1'), 5n]), 'DatanetRegistryDuplicateContribution', [1n, c.accounts[2].address, id('doc-1')]);
    await expectRevert(c.as(2).datanetRegistry.write.contribute([1n, id('doc-3'), 0n]), 'DatanetRegistryZeroTokenCount');
    await expectRevert(c.as(2).datanetRegistry.write.contribute([7n, id('doc-3'), 1n]), 'DatanetRegistryUnknownDatanet', [7n]);
    await expectRevert(c.contracts.datanetRegistry.read.contributionOf([1n, 5n]), 'DatanetRegistryUnknownContribution', [1n, 5n]);
    await expectRevert(c.contracts.datanetRegistry.read.datanetOf([0n]), 'DatanetRegistryUnknownDatanet', [0n]);

    await c.wait(reg.write.updateDatanet([1n, id('meta2'), 'ipfs://v2']));
    expect((await c.contracts.datanetRegistry.read.datanetOf([1n])).uri).toBe('ipfs://v2');
    await expectRevert(c.as(2).datanetRegistry.write.updateDatanet([1n, id('x'), 'x']), 'DatanetRegistryNotOwner', [1n, c.accounts[2].address]);
  });

  it('a front-runner can neither take nor block a contribution; a curator submits with the contributor\'s signature', async () => {
    await c.wait(c.as(1).datanetRegistry.write.createDatanet([id('meta'), 'ipfs://front-run']));
    const datanetId = await c.contracts.datanetRegistry.read.datanetCount();
    const [curator, contributor, attacker] = [1, 2, 4];
    const content = id('my-essay');
    const sign = (i: number, tokenCount: bigint, datanet = datanetId) =>
      signContribution({ account: c.accounts[i], contribution: { datanetId: datanet, contentHash: content, tokenCount }, chainId: c.chainId, datanetRegistry: c.deployment.contracts.datanetRegistry });
    // The attack of issue 14: someone registers the contributor's content hash first.
    await c.wait(c.as(attacker).datanetRegistry.write.contribute([datanetId, content, 100n]));
    // It is recorded as the attacker's own entry only; the real contributor's registration still goes through.
    const signature = await sign(contributor, 100n);
    // The attacker cannot use (or replay) the signature for itself, nor change the token count.
    await expectRevert(c.as(attacker).datanetRegistry.write.contributeFor([datanetId, c.accounts[attacker].address, content, 100n, signature]), 'DatanetRegistryInvalidSignature', [datanetId, c.accounts[attacker].address, content]);
    await expectRevert(c.as(attacker).datanetRegistry.write.contributeFor([datanetId, c.accounts[contributor].address, content, 999n, signature]), 'DatanetRegistryInvalidSignature', [datanetId, c.accounts[contributor].address, content]);
    // Nor is a signature for another Datanet accepted, nor its high-s twin.
    await expectRevert(c.as(curator).datanetRegistry.write.contributeFor([datanetId, c.accounts[contributor].address, content, 100n, await sign(contributor, 100n, 1n)]), 'DatanetRegistryInvalidSignature');
    await expectRevert(c.as(curator).datanetRegistry.write.contributeFor([datanetId, c.accounts[contributor].address, content, 100n, highSTwin(signature)]), 'DatanetRegistryInvalidSignature');
    // The curator submits for the contributor with the signature.
    await c.wait(c.as(curator).datanetRegistry.write.contributeFor([datanetId, c.accounts[contributor].address, content, 100n, signature]));
    const mine = await c.contracts.datanetRegistry.read.contributionBy([datanetId, c.accounts[contributor].address, content]);
    expect(mine).toEqual([true, 1n, 100n]);
    expect(await c.contracts.datanetRegistry.read.contributionOf([datanetId, 1n])).toEqual({ contributor: c.accounts[contributor].address, tokenCount: 100n, contentHash: content });
    expect(await c.contracts.datanetRegistry.read.contributionBy([datanetId, c.accounts[attacker].address, content])).toEqual([true, 0n, 100n]);
    expect(await c.contracts.datanetRegistry.read.contributionBy([datanetId, c.accounts[3].address, content])).toEqual([false, 0n, 0n]);
    // Replaying the signature records nothing twice.
    await expectRevert(c.as(attacker).datanetRegistry.write.contributeFor([datanetId, c.accounts[contributor].address, content, 100n, signature]), 'DatanetRegistryDuplicateContribution', [datanetId, c.accounts[contributor].address, content]);
    // The digest the contract checks is the shared TS definition's.
    expect(await c.contracts.datanetRegistry.read.hashContribution([datanetId, content, 100n])).toBe(
      hashTypedData({ domain: contributionDomain({ chainId: c.chainId, datanetRegistry: c.deployment.contracts.datanetRegistry }), types: contributionTypes, primaryType: 'Contribution', message: { datanetId, contentHash: content, tokenCount: 100n } }),
    );
  });
});
