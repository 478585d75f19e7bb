import { isAddressEqual, type Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MoneyStatus, NetworkStatus } from '../../src/api/statusSchemas.ts';
import { registerAdapterOnChain } from '../../src/attribution/register.ts';
import { paymentChannelsAbi } from '../../src/chain/generated/abis.ts';
import { createPaidClient, openChannel } from '../../src/client/index.ts';
import { setupChain, type Chain } from '../contracts/fixture.ts';
import { createTinyModel } from '../fixtures/model.ts';
import { startTestNode, type TestNode } from '../fixtures/node.ts';
import { registerNode, waitFor } from '../p2p/helpers.ts';

let c: Chain;
let a: TestNode;
let b: TestNode;

const ADMIN = 'p2p-admin-token-0123456789abcdef';
const p2p = (bootstrap: string[] = []) => ({ 'p2p.enabled': true, 'p2p.announceIntervalMs': 500, 'p2p.bootstrap': bootstrap, 'api.adminToken': ADMIN });
/** Node A commits its receipts' batch 10 s after the oldest: a settlement sent sooner must commit them first. */
const SLOW_BATCHES = { 'p2p.batchIntervalMs': 10_000 };
/** An admin view of the operator page (`/admin/node/*`). */
const admin = async <T>(node: TestNode, path: string) => (await (await fetch(`${node.node.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as T;

beforeAll(async () => {
  c = await setupChain();
  await registerNode(c, 1);
  await registerNode(c, 2);
  a = await startTestNode({ account: c.accounts[1], adapterOwner: c.accounts[5].address, overrides: { 'payments.mode': 'paid', ...p2p(), ...SLOW_BATCHES }, components: { deployment: c.deployment, chain: { publicClient: c.publicClient, walletClient: c.wallets[1] } } });
  // A paid node serves an adapter only once it is registered on-chain (its lane could not settle otherwise).
  const poet = a.adapters.find((x) => x.name === 'poet')!;
  await registerAdapterOnChain({ ctx: { publicClient: c.publicClient, walletClient: c.wallets[5], deployment: c.deployment }, adapter: poet.dir, model: await createTinyModel(), datanetIds: [], royaltyBps: 1000, contributorBps: 0 });
  b = await startTestNode({ account: c.accounts[2], overrides: p2p(a.node.network!.multiaddrs()), components: { deployment: c.deployment, chain: { publicClient: c.publicClient, walletClient: c.wallets[2] } } });
});

afterAll(async () => {
  await b?.node.stop();
  await a?.node.stop();
});

describe('nodes with p2p on', () => {
  it("gossip each paid receipt to the other node's ledger and announce what they serve", async () => {
    const { channelId } = await openChannel({ publicClient: c.publicClient, walletClient: c.wallets[3], deployment: c.deployment }, { node: c.accounts[1].address, amount: 10n ** 18n });
    const paid = await createPaidClient({ url: a.node.url, account: c.accounts[3], channelId, nodeRegistry: c.deployment.contracts.nodeRegistry });
    await waitFor('the mesh to form', () => a.node.network!.meshPeers(a.node.network!.topics.batches).length > 0, 120_000);
    for (let i = 0; i < 3; i++) {
      const response = await paid.fetch(`${a.node.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'poet', prompt: `hi ${i}`, max_tokens: 2 }) });
      expect(response.status).toBe(200);
    }
    const own = a.node.ledger.list({ channelId }).receipts;
    expect(own.length).toBe(3);
    await waitFor('the receipts at node B', () => own.every((r) => b.node.network!.store.has(r.node, r.receipt.seq, r.digest)), 120_000);

    await waitFor('announcements', async () => {
      const ranked = (await (await fetch(`${b.node.url}/v1/network/nodes?model=poet&limit=5`)).json()) as { data?: Array<{ node: Address }> };
      return (ranked.data ?? []).some((n) => isAddressEqual(n.node, c.accounts[1].address));
    }, 120_000);
  });

  it('money: lanes, credit in use, the settlement schedule, credits and stake; after settling, settled equals laneClaimed; network: peers, scores, gossip, known nodes', async () => {
    const { channelId } = await openChannel({ publicClient: c.publicClient, walletClient: c.wallets[3], deployment: c.deployment }, { node: c.accounts[1].address, amount: 10n ** 18n });
    const paid = await createPaidClient({ url: a.node.url, account: c.accounts[3], channelId, nodeRegistry: c.deployment.contracts.nodeRegistry });
    for (let i = 0; i < 3; i++) {
      const response = await paid.fetch(`${a.node.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'poet', prompt: `hi ${i}`, max_tokens: 2 }) });
      expect(response.status).toBe(200);
    }
    const poetLane = a.node.adapters.list().find((x) => x.name === 'poet')!.laneId;
    let money = await admin<MoneyStatus>(a, '/admin/node/money');
    expect(money.payment_mode).toBe('paid');
    const lane = money.lanes.find((l) => l.channel_id === channelId && l.adapter_id === poetLane)!;
    expect(lane.name).toBe('poet');
    expect(BigInt(lane.charged)).toBeGreaterThan(0n);
    // The last request's charge waits for the next voucher: that is the channel's credit in use.
    expect(money.channels.find((x) => x.channel_id === channelId)!.credit_in_use).toBe(lane.unacknowledged);
    expect(BigInt(lane.charged) - BigInt(lane.acknowledged)).toBe(BigInt(lane.unacknowledged));
    expect(money.settlement!.next_at).toBeGreaterThan(money.time);
    expect(money.chain).toMatchObject({ registered: true, error: null });
    expect(BigInt(money.chain!.stake)).toBeGreaterThan(0n);

    await a.node.paid!.settlement.settleNow();
    money = await admin<MoneyStatus>(a, '/admin/node/money');
    const settled = money.lanes.find((l) => l.channel_id === channelId && l.adapter_id === poetLane)!;
    const claimed = await c.publicClient.readContract({ address: c.deployment.contracts.paymentChannels, abi: paymentChannelsAbi, functionName: 'laneClaimed', args: [channelId, poetLane] });
    expect(BigInt(settled.settled)).toBe(claimed);
    expect(settled.settled).toBe(settled.acknowledged);
    expect(settled.pending_settlement).toBe('0');
    expect(money.settlement!.recent[0].status).toBe('confirmed');

    // A committed its waiting receipts before it settled (its batch timer had seconds to go), so its
    // peers can check the claim; node B may still see the settlement before those receipts (gossip
    // lags the chain on a busy machine): the settlement waits for them, so A is not flagged.
    const own = a.node.ledger.list({ channelId }).receipts;
    const committed = a.node.network!.store.recentHeaders(c.accounts[1].address, 100).reduce((n, h) => n + h.batch.count, 0);
    expect(committed).toBe(a.node.ledger.count());
    await waitFor('the receipts at node B, no settlement waiting', () => own.every((r) => b.node.network!.store.has(r.node, r.receipt.seq, r.digest)) && b.node.network!.watcher.pendingSettlements().length === 0, 120_000);
    await waitFor('node A known to node B', async () => (await admin<NetworkStatus>(b, '/admin/node/network')).nodes.some((n) => n.node === c.accounts[1].address), 120_000);
    const network = await admin<NetworkStatus>(b, '/admin/node/network');
    expect(network.enabled).toBe(true);
    expect(network.peers.map((p) => p.peer_id)).toContain(a.node.network!.peerId);
    expect(network.peers.every((p) => Number.isFinite(p.score))).toBe(true);
    const received = Object.values(network.messages).reduce((s, byVerdict) => s + (byVerdict.accept ?? 0), 0);
    expect(received).toBeGreaterThan(0);
    expect(network.flagged).toEqual([]);
    expect((await fetch(`${b.node.url}/admin/node/network`)).status).toBe(401);
  });
});
