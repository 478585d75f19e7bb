import { isAddressEqual, type Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAdapterOnChain } from '../../src/attribution/register.ts';
import { createPaidClient, openChannel } from '../../src/client/index.ts';
import { setupChain, type Chain } from '../contracts/fixture.ts';
import { createTinyModel } from '../fixtures/model.ts';
import { startTestNode, type TestNode } from '../fixtures/node.ts';
import { registerNode, waitFor } from '../p2p/helpers.ts';

let c: Chain;
let a: TestNode;
let b: TestNode;

const p2p = (bootstrap: string[] = []) => ({ 'p2p.enabled': true, 'p2p.announceIntervalMs': 500, 'p2p.bootstrap': bootstrap });

beforeAll(async () => {
  c = await setupChain();
  await registerNode(c, 1);
  await registerNode(c, 2);
  a = await startTestNode({ account: c.accounts[1], adapterOwner: c.accounts[5].address, overrides: { 'payments.mode': 'paid', ...p2p() }, components: { deployment: c.deployment, chain: { publicClient: c.publicClient, walletClient: c.wallets[1] } } });
  // A paid node serves an adapter only once it is registered on-chain (its lane could not settle otherwise).
  const poet = a.adapters.find((x) => x.name === 'poet')!;
  await registerAdapterOnChain({ ctx: { publicClient: c.publicClient, walletClient: c.wallets[5], deployment: c.deployment }, adapter: poet.dir, model: await createTinyModel(), datanetIds: [], royaltyBps: 1000, contributorBps: 0 });
  b = await startTestNode({ account: c.accounts[2], overrides: p2p(a.node.network!.multiaddrs()), components: { deployment: c.deployment, chain: { publicClient: c.publicClient, walletClient: c.wallets[2] } } });
}, 300_000);

afterAll(async () => {
  await b?.node.stop();
  await a?.node.stop();
});

describe('nodes with p2p on', () => {
  it("gossip each paid receipt to the other node's ledger and announce what they serve", async () => {
    const { channelId } = await openChannel({ publicClient: c.publicClient, walletClient: c.wallets[3], deployment: c.deployment }, { node: c.accounts[1].address, amount: 10n ** 18n });
    const paid = await createPaidClient({ url: a.node.url, account: c.accounts[3], channelId, nodeRegistry: c.deployment.contracts.nodeRegistry });
    await waitFor('the mesh to form', () => a.node.network!.meshPeers(a.node.network!.topics.batches).length > 0, 20_000);
    for (let i = 0; i < 3; i++) {
      const response = await paid.fetch(`${a.node.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'poet', prompt: `hi ${i}`, max_tokens: 2 }) });
      expect(response.status).toBe(200);
    }
    const own = a.node.ledger.list({ channelId }).receipts;
    expect(own.length).toBe(3);
    await waitFor('the receipts at node B', () => own.every((r) => b.node.network!.store.has(r.node, r.receipt.seq, r.digest)), 20_000);

    await waitFor('announcements', async () => {
      const ranked = (await (await fetch(`${b.node.url}/v1/network/nodes?model=poet&limit=5`)).json()) as { data?: Array<{ node: Address }> };
      return (ranked.data ?? []).some((n) => isAddressEqual(n.node, c.accounts[1].address));
    }, 20_000);
  });
});
