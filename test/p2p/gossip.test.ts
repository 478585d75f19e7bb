/**
 * Five real nodes over loopback TCP: receipts from each reach all others within a few
 * heartbeats, announcements update routing, and a restarted node rejoins and catches up.
 */
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiContext } from '../../src/api/context.ts';
import { networkRoutes } from '../../src/api/routes/network.ts';
import { pickNode } from '../../src/p2p/pickNode.ts';
import type { NodeStatus } from '../../src/p2p/network.ts';
import { id, type Chain } from '../contracts/fixture.ts';
import { openReceipt, registerNode, setupChain, startNetwork, waitFor, type TestNetwork } from './helpers.ts';

const NODES = [1, 2, 3, 4, 5];

describe('gossip between five nodes', () => {
  let c: Chain;
  const nets: TestNetwork[] = [];
  const status = (i: number, queueDepth: number) => (): NodeStatus => ({
    url: `http://127.0.0.1:${8000 + i}`,
    adapters: [{ id: id('poet'), name: 'poet', resident: i === 3 ? 'gpu' : 'host', inputPer1k: 1000n, outputPer1k: 2000n }],
    queueDepth,
    running: 1,
    freeKvBlocks: 200,
    totalKvBlocks: 256,
  });

  beforeAll(async () => {
    c = await setupChain();
    for (const i of NODES) await registerNode(c, i);
    // Node 1 is the bootstrap peer of the others.
    nets.push(await startNetwork(c, 1, { status: status(1, 5) }));
    const boot = nets[0].network.multiaddrs()[0];
    for (const i of NODES.slice(1)) nets.push(await startNetwork(c, i, { options: { bootstrap: [boot] }, status: status(i, i === 3 ? 0 : 5) }));
    await waitFor('every node to have a mesh', () => nets.every((n) => n.network.meshPeers(n.network.topics.receipts).length >= 1));
  });

  afterAll(async () => {
    await Promise.all(nets.map((n) => n.network.stop()));
    await c?.connection.close?.();
  });

  it('delivers every node’s receipts to all others', async () => {
    for (const n of nets) await n.network.publishReceipt(await openReceipt(c, n.index, 1n));
    await waitFor('4 receipts at every node', () => nets.every((n) => n.network.store.count() === 4), 20_000);
    for (const n of nets) expect(n.network.counts()[n.network.topics.receipts].reject).toBe(0);
  });

  it('routes by announcements', async () => {
    await waitFor('every node to know all five', () => nets.every((n) => n.network.routing.list().length === 5), 20_000);
    const ranked = nets[0].network.routing.rank({ model: 'poet' });
    expect(ranked[0].node).toBe(c.accounts[3].address); // GPU-resident and idle
    expect(ranked.map((r) => r.node).sort()).toEqual(NODES.map((i) => c.accounts[i].address).sort());
    // The discovery API and the SDK's pick over it.
    const app = Fastify();
    await app.register(networkRoutes({ network: nets[1].network } as unknown as ApiContext));
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      expect((await pickNode({ url, model: 'poet' }))?.node).toBe(c.accounts[3].address);
      expect((await pickNode({ url, model: 'poet', exclude: [c.accounts[3].address] }))?.node).not.toBe(c.accounts[3].address);
      expect(await pickNode({ url, model: 'nobody-serves-this' })).toBeUndefined();
    } finally {
      await app.close();
    }
  });

  it('a restarted node rejoins the mesh and receives new receipts', async () => {
    const old = nets.splice(4, 1)[0];
    await old.network.stop();
    const before = old.network.peerId;
    const boot = nets[0].network.multiaddrs()[0];
    const back = await startNetwork(c, 5, { dataDir: old.dataDir, options: { bootstrap: [boot] } });
    nets.push(back);
    expect(back.network.peerId).toBe(before); // persistent peer key
    await waitFor('the restarted node in a mesh', () => back.network.meshPeers(back.network.topics.receipts).length >= 1);
    const stored = back.network.store.count();
    for (const n of nets.slice(0, 4)) await n.network.publishReceipt(await openReceipt(c, n.index, 2n));
    await waitFor('the restarted node to receive the 4 new receipts', () => back.network.store.count() === stored + 4, 20_000);
    await back.network.publishReceipt(await openReceipt(c, 5, 2n));
    await waitFor('the others to receive its receipt', () => nets.slice(0, 4).every((n) => n.network.store.get(c.accounts[5].address, 2n).length === 1), 20_000);
  });
});
