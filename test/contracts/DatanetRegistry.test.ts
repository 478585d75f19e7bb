import { beforeAll, describe, expect, it } from 'vitest';
import { expectRevert, id, setupChain, type Chain } from './fixture.ts';

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

    await expectRevert(c.as(2).datanetRegistry.write.contribute([1n, id('doc-1'), 5n]), 'DatanetRegistryDuplicateContribution', [1n, id('doc-1')]);
    await expectRevert(c.as(2).datanetRegistry.write.contribute([1n, id('doc-3'), 0n]), 'DatanetRegistryZeroTokenCount');
    await expectRevert(c.as(2).datanetRegistry.write.contribute([7n, id('doc-3'), 1n]), 'DatanetRegistryUnknownDatanet', [7n]);
    await expectRevert(c.contracts.datanetRegistry.read.contributionOf([1n, 5n]), 'DatanetRegistryUnknownContribution', [1n, 5n]);
    await expectRevert(c.contracts.datanetRegistry.read.datanetOf([0n]), 'DatanetRegistryUnknownDatanet', [0n]);

    await c.wait(reg.write.updateDatanet([1n, id('meta2'), 'ipfs://v2']));
    expect((await c.contracts.datanetRegistry.read.datanetOf([1n])).uri).toBe('ipfs://v2');
    await expectRevert(c.as(2).datanetRegistry.write.updateDatanet([1n, id('x'), 'x']), 'DatanetRegistryNotOwner', [1n, c.accounts[2].address]);
  });
});
