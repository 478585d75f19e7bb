/**
 * Five real nodes over loopback TCP: each commits its receipts in signed batches, the nodes that
 * follow it fetch and check every batch, announcements update routing, and a restarted node
 * rejoins and catches up.
 */
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiContext } from '../../src/api/context.ts';
import { networkRoutes } from '../../src/api/routes/network.ts';
import { hexToBytes, recoverTypedDataAddress, type Hex } from 'viem';
import { usageReceiptDomain } from '../../src/chain/eip712.ts';
import { processReceiptProof, receiptBatchTypes } from '../../src/chain/receiptBatch.ts';
import { pickNode } from '../../src/p2p/pickNode.ts';
import { ringNeighbours } from '../../src/p2p/ring.ts';
import type { NodeStatus } from '../../src/p2p/network.ts';
import { id, type Chain } from '../contracts/fixture.ts';
import { connectAll, openReceipt, registerNode, setupChain, startNetwork, waitFor, waitForMeshes, type TestNetwork } from './helpers.ts';

const NODES = [1, 2, 3, 4, 5];

describe('batches between five nodes', () => {
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
  const holders = (i: number) => nets.filter((n) => n.network.following().includes(c.accounts[i].address));

  beforeAll(async () => {
    c = await setupChain();
    for (const i of NODES) await registerNode(c, i);
    // Each follows 2 ring successors: every node is audited by 2 others, and does 2 nodes' work.
    for (const i of NODES) nets.push(await startNetwork(c, i, { options: { follow: 2 }, status: status(i, i === 3 ? 0 : 5) }));
    await connectAll(nets.map((n) => n.network));
    await waitForMeshes(nets.map((n) => n.network));
  });

  afterAll(async () => {
    await Promise.all(nets.map((n) => n.network.stop()));
  });

  it('each node follows its ring successors', () => {
    const all = NODES.map((i) => c.accounts[i].address);
    for (const n of nets) {
      expect(n.network.following().sort()).toEqual(ringNeighbours(c.accounts[n.index].address, all, 2).followees.sort());
      expect(holders(n.index)).toHaveLength(2);
    }
  });

  it('delivers every node’s batched receipts to the nodes that follow it, checked against the signed root', async () => {
    for (const n of nets) for (const seq of [1n, 2n, 3n]) await n.network.publishReceipt(await openReceipt(c, n.index, seq));
    await waitFor('3 receipts of 2 nodes at every node', () => nets.every((n) => n.network.store.count() === 6), 120_000);
    for (const n of nets) {
      expect(n.network.counts().batches.reject).toBe(0);
      for (const f of n.network.following()) expect(n.network.store.get(f, 2n)).toHaveLength(1);
    }
  });

  it('routes by announcements', async () => {
    await waitFor('every node to know all five', () => nets.every((n) => n.network.routing.list().length === 5), 120_000);
    const ranked = nets[0].network.routing.rank({ model: 'poet' });
    expect(ranked[0].node).toBe(c.accounts[3].address); // GPU-resident and idle
    expect(ranked.map((r) => r.node).sort()).toEqual(NODES.map((i) => c.accounts[i].address).sort());
    const app = Fastify();
    await app.register(networkRoutes({ network: nets[1].network } as unknown as ApiContext));
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      expect((await pickNode({ url, model: 'poet' }))?.node).toBe(c.accounts[3].address);
      expect((await pickNode({ url, model: 'poet', exclude: [c.accounts[3].address] }))?.node).not.toBe(c.accounts[3].address);
      expect(await pickNode({ url, model: 'nobody-serves-this' })).toBeUndefined();
      // Anyone can audit a node this one follows: its usage per adapter, and each receipt with its batch proof.
      const followed = nets[1].network.following()[0];
      const usage = (await (await fetch(`${url}/v1/network/usage?node=${followed}`)).json()) as { following: boolean; data: Array<{ adapterId: Hex; status: string; receipts: number; promptTokens: number; amount: string }> };
      expect(usage.following).toBe(true);
      expect(usage.data).toEqual([{ adapterId: id('adapter'), status: 'open', receipts: 3, promptTokens: 30, completionTokens: 60, amount: '90' }]);
      const held = (await (await fetch(`${url}/v1/network/receipts?node=${followed}&seq=2`)).json()) as { data: Array<{ digest: Hex; evidence: { batch: { batchSeq: string; root: Hex; count: number; timestamp: string }; signature: Hex; proof: Hex[] } }> };
      expect(held.data).toHaveLength(1);
      const e = held.data[0].evidence;
      expect(processReceiptProof(hexToBytes(held.data[0].digest), e.proof)).toBe(e.batch.root);
      const batch = { ...e.batch, batchSeq: BigInt(e.batch.batchSeq), timestamp: BigInt(e.batch.timestamp) };
      expect(await recoverTypedDataAddress({ domain: usageReceiptDomain({ chainId: c.chainId, nodeRegistry: c.deployment.contracts.nodeRegistry }), types: receiptBatchTypes, primaryType: 'ReceiptBatch', message: batch, signature: e.signature })).toBe(followed);
      expect((await fetch(`${url}/v1/network/usage?node=nobody`)).status).toBe(400);
    } finally {
      await app.close();
    }
  });

  it('audits a node it does not follow by sampling receipts with their Merkle paths', async () => {
    const auditor = nets[0].network;
    const before = auditor.store.count();
    expect(await auditor.sample()).toBe('ok');
    expect(await auditor.sample()).toBe('ok');
    // Sampling checks receipts without storing them.
    expect(auditor.store.count()).toBe(before);
  });

  it('a restarted node rejoins and fetches new batches of the nodes it follows', async () => {
    const k = nets.findIndex((n) => n.index === 5);
    const old = nets.splice(k, 1)[0];
    await old.network.stop();
    const before = old.network.peerId;
    const back = await startNetwork(c, 5, { dataDir: old.dataDir, options: { follow: 2, bootstrap: nets.map((n) => n.network.multiaddrs()[0]) } });
    nets.push(back);
    expect(back.network.peerId).toBe(before); // persistent peer key
    await waitForMeshes([back.network]);
    const stored = back.network.store.count();
    for (const f of back.network.following()) {
      const n = nets.find((x) => c.accounts[x.index].address === f)!;
      await n.network.publishReceipt(await openReceipt(c, n.index, 4n));
    }
    await waitFor('the restarted node to receive the new receipts', () => back.network.store.count() === stored + 2, 120_000);
    await waitFor('its followers in a mesh with it', () => holders(5).every((h) => h.network.meshPeers(h.network.topicOf(c.accounts[5].address)).length >= 1));
    await back.network.publishReceipt(await openReceipt(c, 5, 4n));
    await waitFor('its followers to receive its receipt', () => holders(5).every((h) => h.network.store.get(c.accounts[5].address, 4n).length === 1), 120_000);
  });
});
