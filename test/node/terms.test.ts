/**
 * The split terms a paid node serves at (issue 14), on a real node and chain: `GET /v1/models` shows
 * the terms in force and every announced change with its time; a paid request on a lane whose
 * adapter is not registered is refused after its voucher checks, charging nothing; a lane with an
 * announced change is settled before it takes effect, at the terms it was served at; and a node
 * that cannot read the chain for longer than a change takes to take effect stops serving paid.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublicClient, custom, zeroHash, type Hex, type PublicClient } from 'viem';
import { registerAdapterOnChain } from '../../src/attribution/register.ts';
import { splitPayment } from '../../src/chain/split.ts';
import { TERMS_DELAY_SECONDS } from '../../src/chain/terms.ts';
import { createPaidClient, openChannel, type PaidClient } from '../../src/client/index.ts';
import { createLogger } from '../../src/log.ts';
import { createTermsBook } from '../../src/node/terms.ts';
import { setupChain, type Chain } from '../contracts/fixture.ts';
import { createTinyModel } from '../fixtures/model.ts';
import { startTestNode, type TestNode } from '../fixtures/node.ts';
import { waitFor } from '../p2p/helpers.ts';

const [NODE, PAYER, OWNER, ADMIN] = [1, 3, 5, 0];
const FEE_BPS = 200;
const SPLIT = { royaltyBps: 1000, contributorBps: 5000 };

let c: Chain;
let t: TestNode;
let model: string;
let paid: PaidClient;
let channelId: Hex;
const lanes = new Map<string, Hex>();

interface ModelsBody {
  data: Array<{ id: string; openlora: { kind: string; adapter_id?: Hex; terms?: null | { registered: boolean; protocol_fee_bps: number; royalty_bps: number; contributor_bps: number; pending: Array<{ effective_at: number; protocol_fee_bps: number; royalty_bps: number; contributor_bps: number }>; read_at: number } } }>;
}
const models = async () => ((await (await fetch(`${t.node.url}/v1/models`)).json()) as ModelsBody).data;
const termsOf = async (name: string) => (await models()).find((m) => m.id === name)!.openlora.terms;
const register = async (name: string) => {
  const a = t.adapters.find((x) => x.name === name)!;
  const { adapterId } = await registerAdapterOnChain({ ctx: { publicClient: c.publicClient, walletClient: c.wallets[OWNER], deployment: c.deployment }, adapter: a.dir, model, datanetIds: [], ...SPLIT });
  lanes.set(name, adapterId);
};
const complete = (name: string, i: number) =>
  paid.fetch(`${t.node.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: name, prompt: `terms ${i}`, max_tokens: 2 }) });

beforeAll(async () => {
  c = await setupChain({ protocolFeeBps: FEE_BPS });
  model = await createTinyModel();
  t = await startTestNode({
    account: c.accounts[NODE],
    adapterOwner: c.accounts[OWNER].address,
    overrides: { 'payments.mode': 'paid', 'payments.creditLimit': '1000000', 'payments.settleEpochMs': 3_600_000 },
    components: { deployment: c.deployment, chain: { publicClient: c.publicClient, walletClient: c.wallets[NODE] } },
  });
  await register('poet');
  await register('coder'); // 'lawyer' stays unregistered for now
  ({ channelId } = await openChannel({ publicClient: c.publicClient, walletClient: c.wallets[PAYER], deployment: c.deployment }, { node: c.accounts[NODE].address, amount: 10n ** 18n, withdrawDelay: 3600n }));
  paid = await createPaidClient({ url: t.node.url, account: c.accounts[PAYER], channelId, nodeRegistry: c.deployment.contracts.nodeRegistry });
  await t.node.paid!.terms.refresh();
});

afterAll(async () => {
  await t?.node.stop();
});

describe('split terms on a paid node', () => {
  it('GET /v1/models shows the terms in force and each announced change with its time', async () => {
    const base = (await models()).find((m) => m.openlora.kind === 'base')!;
    expect(base.openlora.terms).toMatchObject({ registered: true, protocol_fee_bps: FEE_BPS, royalty_bps: 0, contributor_bps: 0, pending: [] });
    expect(await termsOf('poet')).toMatchObject({ registered: true, protocol_fee_bps: FEE_BPS, royalty_bps: 1000, contributor_bps: 5000, pending: [] });
    expect(await termsOf('lawyer')).toMatchObject({ registered: false });

    const { blockNumber } = await c.wait(c.as(OWNER).adapterRegistry.write.setRoyalty([lanes.get('poet')!, 3000, 0]));
    const [royaltyEvent] = await c.contracts.adapterRegistry.getEvents.RoyaltyChangeScheduled({ adapterId: lanes.get('poet')! }, { fromBlock: blockNumber, toBlock: blockNumber });
    await c.wait(c.as(ADMIN).paymentChannels.write.setProtocolFee([500]));
    const [, feeAt] = await c.contracts.paymentChannels.read.pendingProtocolFee();
    await t.node.paid!.terms.refresh();
    const poet = (await termsOf('poet'))!;
    // Still the old terms, with both changes announced, earliest first.
    expect(poet).toMatchObject({ royalty_bps: 1000, protocol_fee_bps: FEE_BPS });
    expect(poet.pending).toEqual([
      { effective_at: Number(royaltyEvent.args.effectiveAt), protocol_fee_bps: FEE_BPS, royalty_bps: 3000, contributor_bps: 0 },
      { effective_at: Number(feeAt), protocol_fee_bps: 500, royalty_bps: 3000, contributor_bps: 0 },
    ]);
    expect(Number(royaltyEvent.args.effectiveAt) - poet.read_at).toBeGreaterThan(TERMS_DELAY_SECONDS - 60);
    // The admin takes its fee change back: gone from what the node announces.
    await c.wait(c.as(ADMIN).paymentChannels.write.setProtocolFee([FEE_BPS]));
    await t.node.paid!.terms.refresh();
    expect((await termsOf('coder'))!.pending).toEqual([]);
  });

  it('refuses a paid request on an adapter not registered on-chain, charging nothing, and serves it once registered', async () => {
    const refused = await complete('lawyer', 1);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('OPENLORA_NODE_ADAPTER_NOT_ON_CHAIN');
    expect(t.node.ledger.count()).toBe(0);
    await register('lawyer');
    expect((await complete('lawyer', 2)).status).toBe(200);
    expect(await termsOf('lawyer')).toMatchObject({ registered: true, royalty_bps: 1000 });
    await paid.payTail();
    await t.node.paid!.settlement.settleNow();
  });

  it('settles a lane before an announced change takes effect, at the terms it served at', async () => {
    for (let i = 0; i < 3; i++) expect((await complete('coder', i)).status).toBe(200);
    await paid.payTail();
    const lane = paid.lanes().find((l) => l.adapterId === lanes.get('coder'))!;
    await c.wait(c.as(OWNER).adapterRegistry.write.setRoyalty([lanes.get('coder')!, 5000, 0]));
    // Half an hour before the change: inside the worker's two-epoch window (epoch 1 h).
    await c.increaseTime(TERMS_DELAY_SECONDS - 1800);
    await t.node.paid!.terms.refresh();
    const ownerBefore = await c.contracts.paymentChannels.read.creditOf([c.accounts[OWNER].address]);
    await waitFor('the lane to settle before the change', async () => (await c.contracts.paymentChannels.read.laneClaimed([channelId, lane.adapterId])) === lane.charged, 120_000);
    const owner = (await c.contracts.paymentChannels.read.creditOf([c.accounts[OWNER].address])) - ownerBefore;
    expect(owner).toBe(splitPayment({ paid: lane.charged, protocolFeeBps: FEE_BPS, ...SPLIT, hasRoot: false }).owner);
  });
});

describe('terms book', () => {
  it('serves at the last terms read while the chain is unreachable, until a change could have taken effect unseen', async () => {
    let down = false;
    let clock = Date.now();
    const publicClient = createPublicClient({
      chain: c.publicClient.chain,
      transport: custom({
        request: async (args: { method: string; params?: unknown }) => {
          if (down) throw new Error('RPC unreachable (test switch)');
          return c.connection.provider.request(args as never);
        },
      }),
    }) as PublicClient;
    const poet = lanes.get('poet')!;
    const unknown = `0x${'ab'.repeat(32)}` as Hex;
    const book = createTermsBook({ refreshMs: 60_000 }, { publicClient, contracts: c.deployment.contracts, lanes: () => [poet], log: createLogger({ name: 'test' }), now: () => clock });
    await book.start();
    book.stop();
    expect(book.announced(zeroHash)?.inForce.protocolFeeBps).toBe(FEE_BPS);
    await expect(book.require({ laneId: unknown, name: 'nobody' })).rejects.toMatchObject({ code: 'OPENLORA_NODE_ADAPTER_NOT_ON_CHAIN' });
    down = true;
    clock += 10 * 60_000; // stale, and the chain cannot be read: what was read still holds
    expect((await book.require({ laneId: poet, name: 'poet' })).registered).toBe(true);
    await expect(book.require({ laneId: unknown, name: 'nobody' })).rejects.toMatchObject({ code: 'OPENLORA_NODE_ADAPTER_NOT_ON_CHAIN' });
    clock += TERMS_DELAY_SECONDS * 1000; // a change announced right after the read could be in force now
    await expect(book.require({ laneId: poet, name: 'poet' })).rejects.toMatchObject({ code: 'OPENLORA_NODE_TERMS_UNKNOWN' });
    down = false;
    expect((await book.require({ laneId: poet, name: 'poet' })).registered).toBe(true);
  });
});
