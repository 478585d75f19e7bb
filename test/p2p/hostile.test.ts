/**
 * Hostile peers cost little (docs/p2p.md "Hostile peers"): the rules a batch's receipts are sorted
 * by, one by one; then a flood from many fresh peer ids and keys (forged headers, strangers'
 * announcements, garbage, batch-protocol requests) while an honest node's receipts keep arriving:
 * they are all delivered, the victim's chain look-ups and storage stay bounded, and the flooders
 * end up graylisted.
 */
import { randomBytes } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromString } from '@libp2p/peer-id';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { hexToBytes, zeroHash } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageReceiptDigest, voucherDigest, type UsageReceipt, type Voucher } from '../../src/chain/eip712.ts';
import { buildReceiptTree, signReceiptBatch, type ReceiptBatch } from '../../src/chain/receiptBatch.ts';
import { encodeBatchEntry, encodeBatchHeader, type BatchEntry } from '../../src/p2p/batchCodec.ts';
import { requestBatch } from '../../src/p2p/batchProtocol.ts';
import { createChainView } from '../../src/p2p/chainView.ts';
import { announcementHash, encodeAnnouncement } from '../../src/p2p/codec.ts';
import { batchProtocol } from '../../src/p2p/constants.ts';
import { createHost, type Host } from '../../src/p2p/host.ts';
import { SCORE_THRESHOLDS } from '../../src/p2p/scoring.ts';
import { createSignatureVerifier } from '../../src/p2p/signatures.ts';
import { createBatchVerifier } from '../../src/p2p/verifyBatch.ts';
import { id, receipt as makeReceipt, TOKEN, type Chain } from '../contracts/fixture.ts';
import { openReceipt, registerNode, setupChain, startNetwork, waitFor, type TestNetwork } from './helpers.ts';

let c: Chain;
beforeAll(async () => {
  c = await setupChain();
  for (const i of [1, 2]) await registerNode(c, i);
});

describe('receipt rules in a batch', () => {
  it('sorts every receipt into open, backed or refused, with one reason per rule', async () => {
    const verify = createBatchVerifier({ deployment: c.deployment, chainView: createChainView({ publicClient: c.publicClient, deployment: c.deployment }), verifier: createSignatureVerifier(), creditLimitOf: () => 100n });
    const pc = c.deployment.contracts.paymentChannels;
    await c.wait(c.as(8).token.write.approve([pc, 1000n * TOKEN]));
    await c.wait(c.as(8).paymentChannels.write.open([c.accounts[1].address, c.deployment.contracts.token, c.accounts[8].address, 10n * TOKEN, 900n, id('salt')]));
    const channelId = await c.contracts.paymentChannels.read.channelIdFor([c.accounts[8].address, c.accounts[1].address, c.deployment.contracts.token, id('salt')]);
    const lane = id('adapter');
    const paid = async (p: { voucher?: Partial<Voucher>; receipt?: Partial<UsageReceipt>; authorizer?: number; digestOf?: Voucher }): Promise<BatchEntry> => {
      const voucher: Voucher = { channelId, adapterId: lane, cumulativeAmount: 1000n, ...p.voucher };
      const vd = voucherDigest({ voucher: p.digestOf ?? voucher, chainId: c.chainId, paymentChannels: pc });
      const receipt = makeReceipt({ channelId, adapterId: lane, voucherDigest: vd, amount: 50n, laneCharged: 1050n, timestamp: 1n, ...p.receipt });
      return { receipt, voucher, voucherSignature: await c.signVoucherAs(p.authorizer ?? 8, voucher) };
    };
    const open = (o: Partial<UsageReceipt> = {}): BatchEntry => ({ receipt: makeReceipt({ channelId: id('open-key'), voucherDigest: zeroHash, timestamp: 1n, ...o }) });
    const cases: Array<[BatchEntry, string]> = [
      [open(), 'open'],
      [await paid({}), 'backed'],
      [await paid({ voucher: { cumulativeAmount: 900n }, receipt: { laneCharged: 1050n } }), 'backed'], // 1050 - 50 = 900 + 100 credit, covered by the lane's best voucher
      [await paid({ receipt: { laneCharged: 1151n } }), 'beyond voucher plus credit limit'],
      [await paid({ digestOf: { channelId, adapterId: lane, cumulativeAmount: 1n } }), 'voucher does not match voucherDigest'],
      [await paid({ voucher: { adapterId: id('other') } }), 'voucher for another lane'],
      [{ ...(await paid({})), voucher: undefined, voucherSignature: undefined, receipt: { ...(await paid({})).receipt, voucherDigest: zeroHash } }, 'open-mode receipt on an on-chain channel'],
      [open({ voucherDigest: id('x') }), 'voucher for an unknown channel'],
      [open({ amount: 10n, laneCharged: 5n }), 'laneCharged below amount'],
      [open({ timestamp: BigInt(Math.floor(Date.now() / 1000) + 3600) }), 'timestamp in the future'],
    ];
    const entries = cases.map(([e]) => encodeBatchEntry(e));
    const digests = cases.map(([e]) => hexToBytes(usageReceiptDigest({ receipt: e.receipt, chainId: c.chainId, nodeRegistry: c.deployment.contracts.nodeRegistry })));
    const batch: ReceiptBatch = { batchSeq: 1n, root: buildReceiptTree(digests).root, count: entries.length, timestamp: 1n };
    const check = await verify(c.accounts[1].address, batch, entries);
    if (!check.ok) throw new Error(check.reason);
    const refusedReasons = cases.filter(([, want]) => want !== 'open' && want !== 'backed').map(([, want]) => want).sort();
    expect(check.receipts.map((r) => r.status)).toEqual(cases.map(([, want]) => (want === 'open' || want === 'backed' ? want : 'refused')));
    expect(Object.keys(check.refused).sort()).toEqual(refusedReasons);
    // Another node's receipts on this channel, and an authorizer that is not the channel's.
    const other = await verify(c.accounts[2].address, { ...batch, count: 1, root: buildReceiptTree([digests[1]]).root }, [entries[1]]);
    expect(other.ok && other.refused).toEqual({ 'channel of another node': 1 });
    const forged = await paid({ authorizer: 7 });
    const fd = hexToBytes(usageReceiptDigest({ receipt: forged.receipt, chainId: c.chainId, nodeRegistry: c.deployment.contracts.nodeRegistry }));
    const f = await verify(c.accounts[1].address, { ...batch, count: 1, root: buildReceiptTree([fd]).root }, [encodeBatchEntry(forged)]);
    expect(f.ok && f.refused).toEqual({ 'voucher not signed by the authorizer': 1 });
    // A body that is not the batch.
    expect(await verify(c.accounts[1].address, batch, entries.slice(1))).toEqual({ ok: false, reason: `${entries.length - 1} receipts for a batch of ${entries.length}` });
    expect(await verify(c.accounts[1].address, batch, [entries[2], entries[1], entries[0], ...entries.slice(3)])).toEqual({ ok: false, reason: 'receipts do not match the root' });
  });
});

describe('a flood from many fresh peers', () => {
  const FLOODERS = 12;
  let honest: TestNetwork;
  let victim: TestNetwork;
  const hostiles: Host[] = [];
  let rpcReads = 0;

  beforeAll(async () => {
    honest = await startNetwork(c, 1, { options: { follow: 0 } });
    // The victim counts every chain read it makes.
    const counting = new Proxy(c.publicClient, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver);
        if (key === 'readContract') return (...args: unknown[]) => ((rpcReads += 1), (v as (...a: unknown[]) => unknown).apply(target, args));
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    victim = await startNetwork(c, 2, { options: { follow: 0, followNodes: [c.accounts[1].address], maxPeers: 100 }, publicClient: counting });
    await victim.network.dial(honest.network.multiaddrs()[0]);
    const topics = [honest.network.topicOf(c.accounts[1].address), victim.network.topics.batches, victim.network.topics.nodes];
    for (let k = 0; k < FLOODERS; k++) {
      const h = await createHost({ listen: ['/ip4/127.0.0.1/tcp/0'], maxPeers: 10, heartbeatMs: 200, start: true }, { privateKey: await generateKeyPair('Ed25519') });
      for (const t of topics) {
        (h.services.pubsub as unknown as { allowedTopics: Set<string> }).allowedTopics.add(t);
        h.services.pubsub.subscribe(t);
      }
      hostiles.push(h);
      // libp2p accepts at most 5 inbound connections per second from one address: pace the dials.
      await waitFor('a flooder connected', () => h.dial(victim.network.host.getMultiaddrs()[0]).then(() => true, () => new Promise((r) => setTimeout(() => r(false), 300))));
    }
    await waitFor('the victim following the honest node', () => victim.network.meshPeers(victim.network.topicOf(c.accounts[1].address)).length >= 1);
    await waitFor('flooders seeing the victim subscribed', () => hostiles.every((h) => h.services.pubsub.getSubscribers(topics[0]).length >= 1));
  });

  afterAll(async () => {
    await Promise.all(hostiles.map((h) => h.stop()));
    await victim?.network.stop();
    await honest?.network.stop();
  });

  it('delivers every honest receipt, makes no chain look-up per stranger, stores nothing of theirs, and graylists the flooders', async () => {
    const v = victim.network;
    const honestTopic = v.topicOf(c.accounts[1].address);
    const latencies: number[] = [];
    const sentAt = new Map<bigint, number>();
    v.onReceipt((r) => latencies.push(r.receivedAt - (sentAt.get(r.seq) ?? r.receivedAt)));
    const readsBefore = rpcReads;
    const lookupsBefore = v.chainView.lookups;
    // The flooders sign everything beforehand: in this test they share the victim's thread, and
    // their signing is their cost, not the victim's.
    const payloads = await Promise.all(
      hostiles.map(async (h, k) => {
        const stranger = privateKeyToAccount(generatePrivateKey());
        const domain = { chainId: c.chainId, nodeRegistry: c.deployment.contracts.nodeRegistry };
        const out: Array<[string, Uint8Array]> = [];
        for (let j = 0; j < 40; j++) {
          const batch: ReceiptBatch = { batchSeq: BigInt(j), root: id(`junk-${k}-${j}`), count: 1, timestamp: BigInt(Math.floor(Date.now() / 1000)) };
          const sig = await signReceiptBatch({ account: stranger, batch, ...domain });
          // A header claiming the honest node, signed by a stranger; one naming the stranger on the honest node's topic; garbage.
          out.push([honestTopic, encodeBatchHeader({ node: c.accounts[1].address, batch, signature: sig })]);
          out.push([honestTopic, encodeBatchHeader({ node: stranger.address, batch, signature: sig })]);
          out.push([v.topics.batches, randomBytes(300)]);
          // An announcement by a key that never registered.
          const a = { node: stranger.address, chainId: c.chainId, timestamp: BigInt(Date.now() + j), url: 'http://127.0.0.1:1', peerId: h.peerId.toString(), multiaddrs: [], adapters: [], queueDepth: 0, running: 0, freeKvBlocks: 0, totalKvBlocks: 0, creditLimit: 0n };
          out.push([v.topics.nodes, encodeAnnouncement(a, await stranger.signMessage({ message: { raw: announcementHash(a) } }))]);
        }
        return { stranger, out };
      }),
    );
    const flood = async (h: Host, k: number) => {
      const { stranger, out } = payloads[k];
      for (let j = 0; j < out.length; j++) {
        await h.services.pubsub.publish(out[j][0], out[j][1]).catch(() => {});
        // Requests for batches of made-up nodes.
        if (j % 4 === 3) await requestBatch(h, batchProtocol(c.chainId), peerIdFromString(v.peerId), { kind: 'recent', node: stranger.address }, AbortSignal.timeout(5_000)).catch(() => {});
      }
    };
    const HONEST = 60;
    const send = async (from: number, to: number) => {
      for (let seq = from; seq <= to; seq++) {
        const r = await openReceipt(c, 1, BigInt(seq));
        sentAt.set(BigInt(seq), Date.now());
        await honest.network.publishReceipt(r);
        await new Promise((res) => setTimeout(res, 20));
      }
    };
    const summary = () => {
      const l = latencies.splice(0).sort((a, b) => a - b);
      return `${l.length} receipts, p50 ${l[Math.floor(l.length / 2)]} ms, p99 ${l[Math.floor(l.length * 0.99)]} ms`;
    };
    // Side by side: honest receipts alone, then the same while the flood runs.
    await send(1, HONEST / 2);
    await waitFor('the first honest receipts at the victim', () => v.store.count() === HONEST / 2, 120_000);
    const quiet = summary();
    const flooding = Promise.all(hostiles.map((h, k) => flood(h, k)));
    await send(HONEST / 2 + 1, HONEST);
    await flooding;
    await waitFor('every honest receipt at the victim', () => v.store.count() === HONEST, 120_000);
    console.log(`honest receipts, commit to checked at the victim: without a flood ${quiet}; during the flood ${summary()}`);
    // Strangers cost no chain look-up: the topic names the signer, and the registry index answers for unknown announcers.
    expect(v.chainView.lookups - lookupsBefore).toBeLessThanOrEqual(2);
    expect(rpcReads - readsBefore).toBeLessThanOrEqual(2);
    // Nothing of theirs is stored: headers or receipts.
    expect(v.store.count()).toBe(HONEST);
    expect(v.routing.list().every((a) => a.node === c.accounts[1].address || a.node === c.accounts[2].address)).toBe(true);
    const counts = v.counts();
    expect(counts.batches.reject).toBeGreaterThan(0);
    expect(counts.nodes.ignore).toBeGreaterThan(0); // strangers' announcements: dropped before any signature check
    // The flooders fall below the graylist threshold; the honest node does not.
    await waitFor('the flooders graylisted', () => hostiles.every((h) => v.score(h.peerId.toString()) < SCORE_THRESHOLDS.graylistThreshold));
    expect(v.score(honest.network.peerId)).toBeGreaterThanOrEqual(0);
  });
});

