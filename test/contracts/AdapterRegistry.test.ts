import { beforeAll, describe, expect, it } from 'vitest';
import { zeroAddress, zeroHash } from 'viem';
import { expectRevert, id, setupChain, type Chain } from './fixture.ts';

describe('AdapterRegistry', () => {
  let c: Chain;
  beforeAll(async () => {
    c = await setupChain();
    await c.wait(c.as(1).datanetRegistry.write.createDatanet([id('meta'), 'ipfs://d']));
  });
  const params = (overrides = {}) => ({
    salt: id('a1'),
    baseModelHash: id('base'),
    weightsHash: id('weights'),
    uri: 'hf://org/adapter',
    datanetIds: [1n],
    royaltyBps: 1000,
    contributorBps: 5000,
    ...overrides,
  });

  it('registers, updates, sets the root once, transfers; refuses what it must', async () => {
    const owner = c.as(2).adapterRegistry;
    const read = c.contracts.adapterRegistry.read;
    await c.wait(owner.write.register([params()]));
    const adapterId = await read.adapterIdFor([c.accounts[2].address, id('a1')]);
    const a = await read.adapterOf([adapterId]);
    expect(a).toMatchObject({ owner: c.accounts[2].address, royaltyBps: 1000, contributorBps: 5000, totalWeight: 0n, attributionRoot: zeroHash, uri: 'hf://org/adapter', datanetIds: [1n] });
    expect(await read.splitOf([adapterId])).toEqual([c.accounts[2].address, 1000, 5000, 0n]);

    await expectRevert(owner.write.register([params()]), 'AdapterRegistryAdapterExists', [adapterId]);
    await expectRevert(owner.write.register([params({ salt: id('a2'), royaltyBps: 5001 })]), 'AdapterRegistryRoyaltyTooHigh', [5001, 5000]);
    await expectRevert(owner.write.register([params({ salt: id('a2'), contributorBps: 10_001 })]), 'AdapterRegistryInvalidBps', [10_001]);
    await expectRevert(owner.write.register([params({ salt: id('a2'), datanetIds: [1n, 9n] })]), 'AdapterRegistryUnknownDatanet', [9n]);

    await c.wait(owner.write.setRoyalty([adapterId, 2000, 2500]));
    // Announced, in force after TERMS_DELAY (SplitTerms.test.ts).
    expect(await read.splitOf([adapterId])).toEqual([c.accounts[2].address, 1000, 5000, 0n]);
    expect((await read.termsOf([adapterId])).slice(0, 4)).toEqual([1000, 5000, 2000, 2500]);
    await expectRevert(owner.write.setRoyalty([adapterId, 5001, 0]), 'AdapterRegistryRoyaltyTooHigh', [5001, 5000]);
    await c.wait(owner.write.setUri([adapterId, 'hf://v2']));
    expect((await read.adapterOf([adapterId])).uri).toBe('hf://v2');

    await expectRevert(owner.write.setAttributionRoot([adapterId, zeroHash, 5n]), 'AdapterRegistryInvalidAttribution', [zeroHash, 5n]);
    await expectRevert(owner.write.setAttributionRoot([adapterId, id('root'), 0n]), 'AdapterRegistryInvalidAttribution', [id('root'), 0n]);
    await c.wait(owner.write.setAttributionRoot([adapterId, id('root'), 5n]));
    expect(await read.attributionOf([adapterId])).toEqual([id('root'), 5n]);
    await expectRevert(owner.write.setAttributionRoot([adapterId, id('root2'), 6n]), 'AdapterRegistryRootAlreadySet', [adapterId]);

    const stranger = c.as(3).adapterRegistry;
    await expectRevert(stranger.write.setRoyalty([adapterId, 0, 0]), 'AdapterRegistryNotOwner', [adapterId, c.accounts[3].address]);
    await expectRevert(stranger.write.setUri([id('none'), 'x']), 'AdapterRegistryUnknownAdapter', [id('none')]);
    await expectRevert(owner.write.transferAdapter([adapterId, zeroAddress]), 'AdapterRegistryZeroAddress');
    await c.wait(owner.write.transferAdapter([adapterId, c.accounts[3].address]));
    expect((await read.adapterOf([adapterId])).owner).toBe(c.accounts[3].address);
    const events = await c.contracts.adapterRegistry.getEvents.AdapterTransferred({ adapterId }, { fromBlock: 0n });
    expect(events[0].args).toMatchObject({ previousOwner: c.accounts[2].address, newOwner: c.accounts[3].address });
  });
});
