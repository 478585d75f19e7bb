/** A node that signs two receipts with one seq is slashed by the watchers, with no manual step. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN, type Chain } from '../contracts/fixture.ts';
import { openReceipt, registerNode, setupChain, startNetwork, waitFor, type TestNetwork } from './helpers.ts';

describe('watcher', () => {
  let c: Chain;
  const nets: TestNetwork[] = [];

  beforeAll(async () => {
    c = await setupChain();
    for (const i of [1, 2, 3]) await registerNode(c, i);
    nets.push(await startNetwork(c, 1));
    const boot = nets[0].network.multiaddrs()[0];
    nets.push(await startNetwork(c, 2, { options: { bootstrap: [boot] } }));
    nets.push(await startNetwork(c, 3, { options: { bootstrap: [boot], slash: false } }));
    await waitFor('meshes', () => nets.every((n) => n.network.meshPeers(n.network.topics.receipts).length >= 1));
  });

  afterAll(async () => {
    await Promise.all(nets.map((n) => n.network.stop()));
  });

  it('slashes an equivocating node and credits the prover', async () => {
    const [liar, watcher, passive] = nets;
    const stakeBefore = (await c.contracts.nodeRegistry.read.nodeOf([c.accounts[1].address])).stake;
    await liar.network.publishReceipt(await openReceipt(c, 1, 5n, { amount: 30n, laneCharged: 30n }));
    await liar.network.publishReceipt(await openReceipt(c, 1, 5n, { amount: 31n, laneCharged: 31n }));
    await waitFor('the slash', async () => (await c.contracts.nodeRegistry.read.nodeOf([c.accounts[1].address])).stake < stakeBefore, 15_000);
    const stakeAfter = (await c.contracts.nodeRegistry.read.nodeOf([c.accounts[1].address])).stake;
    expect(stakeBefore - stakeAfter).toBe(50n * TOKEN); // slashBps 5000 of 100 tokens
    expect(await c.contracts.nodeRegistry.read.creditOf([c.accounts[2].address])).toBe(5n * TOKEN); // proverRewardBps 1000
    await waitFor('the record', () => watcher.network.store.equivocations()[0]?.status === 'slashed');
    expect(watcher.network.store.get(c.accounts[1].address, 5n)).toHaveLength(2);
    // The watcher with slashing off records the equivocation and sends nothing.
    await waitFor('the passive record', () => passive.network.store.equivocations().length === 1);
    expect(passive.network.store.equivocations()[0].status).toBe('disabled');
    expect(await c.contracts.nodeRegistry.read.creditOf([c.accounts[3].address])).toBe(0n);
  });
});
