/**
 * Equivocations found among batches are slashed by the watchers with no manual step: two signed
 * headers with one batchSeq, two batches committing different receipts with one seq, and a batch
 * that contradicts a receipt the node signed on its own for a client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReceiptTree, signReceiptBatch, type ReceiptBatch } from '../../src/chain/receiptBatch.ts';
import { usageReceiptDigest } from '../../src/chain/eip712.ts';
import { encodeBatchHeader } from '../../src/p2p/batchCodec.ts';
import { TOKEN, type Chain } from '../contracts/fixture.ts';
import { connectAll, openReceipt, registerNode, setupChain, startNetwork, waitFor, waitForMeshes, type TestNetwork } from './helpers.ts';

const LIARS = [1, 4, 5];
const WATCHER = 2;
const PASSIVE = 3;

describe('watcher', () => {
  let c: Chain;
  const nets = new Map<number, TestNetwork>();
  const stake = async (i: number) => (await c.contracts.nodeRegistry.read.nodeOf([c.accounts[i].address])).stake;

  beforeAll(async () => {
    c = await setupChain();
    for (const i of [...LIARS, WATCHER, PASSIVE]) await registerNode(c, i);
    const followNodes = LIARS.map((i) => c.accounts[i].address);
    for (const i of LIARS) nets.set(i, await startNetwork(c, i, { options: { follow: 0 } }));
    nets.set(WATCHER, await startNetwork(c, WATCHER, { options: { follow: 0, followNodes } }));
    nets.set(PASSIVE, await startNetwork(c, PASSIVE, { options: { follow: 0, followNodes, slash: false } }));
    await connectAll([...nets.values()].map((n) => n.network));
    await waitForMeshes([nets.get(WATCHER)!.network, nets.get(PASSIVE)!.network]);
  });

  afterAll(async () => {
    await Promise.all([...nets.values()].map((n) => n.network.stop()));
  });

  it('slashes a node that signs two batches with one batchSeq, and credits the prover', async () => {
    const liar = nets.get(1)!.network;
    const before = await stake(1);
    const domain = { chainId: c.chainId, nodeRegistry: c.deployment.contracts.nodeRegistry };
    const header = async (amount: bigint) => {
      const r = (await openReceipt(c, 1, 9n, { amount, laneCharged: amount })).receipt;
      const tree = buildReceiptTree([Buffer.from(usageReceiptDigest({ receipt: r, ...domain }).slice(2), 'hex')]);
      const batch: ReceiptBatch = { batchSeq: 42n, root: tree.root, count: 1, timestamp: BigInt(Math.floor(Date.now() / 1000)) };
      return encodeBatchHeader({ node: c.accounts[1].address, batch, signature: await signReceiptBatch({ account: c.accounts[1], batch, ...domain }) });
    };
    await liar.host.services.pubsub.publish(liar.topics.batches, await header(30n));
    await liar.host.services.pubsub.publish(liar.topics.batches, await header(31n));
    await waitFor('the slash', async () => (await stake(1)) < before, 120_000);
    expect(before - (await stake(1))).toBe(50n * TOKEN); // slashBps 5000 of 100 tokens
    expect(await c.contracts.nodeRegistry.read.creditOf([c.accounts[WATCHER].address])).toBe(5n * TOKEN); // proverRewardBps 1000
    await waitFor('the record', () => nets.get(WATCHER)!.network.store.batchEquivocations()[0]?.status === 'slashed');
    const passive = nets.get(PASSIVE)!.network;
    await waitFor('the passive record', () => passive.store.batchEquivocations().length === 1);
    expect(passive.store.batchEquivocations()[0].status).toBe('disabled');
    expect(await c.contracts.nodeRegistry.read.creditOf([c.accounts[PASSIVE].address])).toBe(0n);
  });

  it('slashes a node whose batches commit two different receipts with one seq', async () => {
    const liar = nets.get(4)!.network;
    const before = await stake(4);
    await liar.publishReceipt(await openReceipt(c, 4, 5n, { amount: 30n, laneCharged: 30n }));
    await liar.flush();
    await liar.publishReceipt(await openReceipt(c, 4, 5n, { amount: 31n, laneCharged: 31n }));
    await liar.flush();
    await waitFor('the slash', async () => (await stake(4)) < before, 120_000);
    const watcher = nets.get(WATCHER)!.network;
    await waitFor('the record', () => watcher.store.equivocations().some((e) => e.node === c.accounts[4].address && e.status === 'slashed'));
    expect(watcher.store.get(c.accounts[4].address, 5n)).toHaveLength(2);
    expect(await c.contracts.nodeRegistry.read.slashedAt([c.accounts[4].address, 5n])).toBe(true);
  });

  it('slashes a node whose batch contradicts a receipt it signed for a client', async () => {
    const liar = nets.get(5)!.network;
    const watcher = nets.get(WATCHER)!.network;
    const given = await openReceipt(c, 5, 7n, { amount: 300n, laneCharged: 300n }); // the client's copy
    await liar.publishReceipt(await openReceipt(c, 5, 7n, { amount: 3n, laneCharged: 3n })); // what the network is shown
    await waitFor('the batch at the watcher', () => watcher.store.get(c.accounts[5].address, 7n).length === 1);
    const before = await stake(5);
    expect(await watcher.checkSigned(c.accounts[5].address, given.receipt, given.signature)).toBe(true);
    expect(await stake(5)).toBe(before / 2n);
    expect(await watcher.checkSigned(c.accounts[5].address, given.receipt, given.signature)).toBe(true); // recorded once, not slashed twice
    expect(await stake(5)).toBe(before / 2n);
    // The copy that matches the batch proves nothing.
    const matching = watcher.store.get(c.accounts[5].address, 7n)[0];
    expect(await watcher.checkSigned(c.accounts[5].address, matching.receipt, await c.signReceiptAs(5, matching.receipt))).toBe(false);
  });
});
