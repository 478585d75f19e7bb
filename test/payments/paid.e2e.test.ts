import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hex } from 'viem';
import { registerAdapterOnChain } from '../../src/attribution/register.ts';
import { buildAttributionTree, getAttributionProof } from '../../src/chain/merkle.ts';
import { splitPayment } from '../../src/chain/split.ts';
import { createPaidClient, openChannel, type PaidClient } from '../../src/client/index.ts';
import { setupChain, type Chain } from '../contracts/fixture.ts';
import { createTinyModel } from '../fixtures/model.ts';
import { startTestNode, type TestNode } from '../fixtures/node.ts';

const NODE = 1;
const PAYER = 3;
const OWNER = 5;
const TREASURY = 9;
const ROYALTY = 1000;
const CONTRIBUTOR = 5000;

let c: Chain;
let t: TestNode;
let channelId: Hex;
let paid: PaidClient;
let openai: OpenAI;
const laneIds = new Map<string, Hex>();

beforeAll(async () => {
  c = await setupChain({ protocolFeeBps: 200 });
  t = await startTestNode({
    account: c.accounts[NODE],
    adapterOwner: c.accounts[OWNER].address,
    overrides: { 'payments.mode': 'paid', 'payments.creditLimit': '1000000', 'payments.settleEpochMs': 3_600_000 },
    components: { deployment: c.deployment, chain: { publicClient: c.publicClient, walletClient: c.wallets[NODE] } },
  });
  const model = await createTinyModel();
  for (const a of t.adapters) {
    const { adapterId } = await registerAdapterOnChain({ ctx: { publicClient: c.publicClient, walletClient: c.wallets[OWNER], deployment: c.deployment }, adapter: a.dir, model, datanetIds: [], royaltyBps: ROYALTY, contributorBps: CONTRIBUTOR });
    laneIds.set(a.name, adapterId);
  }
  // 'poet' has an attribution root over contributors 6 and 7 (weights 3 : 1).
  const tree = buildAttributionTree({ adapterId: laneIds.get('poet')!, leaves: [{ contributor: c.accounts[6].address, weight: 3n }, { contributor: c.accounts[7].address, weight: 1n }] });
  await c.wait(c.as(OWNER).adapterRegistry.write.setAttributionRoot([laneIds.get('poet')!, tree.root, tree.totalWeight]));
  ({ channelId } = await openChannel({ publicClient: c.publicClient, walletClient: c.wallets[PAYER], deployment: c.deployment }, { node: c.accounts[NODE].address, amount: 1000n * 10n ** 18n, withdrawDelay: 3600n }));
  paid = await createPaidClient({ url: t.node.url, account: c.accounts[PAYER], channelId, nodeRegistry: c.deployment.contracts.nodeRegistry });
  openai = new OpenAI({ baseURL: `${t.node.url}/v1`, apiKey: 'paid-by-voucher', fetch: paid.fetch, maxRetries: 0 });
});

afterAll(async () => {
  await t?.node.stop();
});

describe('paid inference end to end (real chain, real node, official openai client)', () => {
  it('50 paid requests over three adapters, settled, credits split per protocol.md to the wei, contributors claim', async () => {
    const models = ['poet', 'coder', 'lawyer'];
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 5 }, async (_, k) => {
          const i = round * 5 + k;
          const model = models[i % 3];
          if (i % 2 === 0) {
            const stream = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: `question ${i}` }], max_tokens: 3 + (i % 4), temperature: 0.7, seed: i, stream: true });
            for await (const chunk of stream) void chunk;
          } else {
            await openai.completions.create({ model, prompt: `prompt ${i}`, max_tokens: 2 + (i % 3), temperature: 0, seed: i });
          }
        }),
      );
    }
    await paid.payTail();
    const receipts = t.node.ledger.list({ channelId, limit: 1000 }).receipts;
    expect(receipts.length).toBe(50);
    const perLane = new Map<Hex, bigint>();
    for (const r of receipts) perLane.set(r.receipt.adapterId, (perLane.get(r.receipt.adapterId) ?? 0n) + r.receipt.amount);
    for (const lane of paid.lanes()) expect(lane.charged).toBe(perLane.get(lane.adapterId));

    const settledPaid = await t.node.paid!.settlement.settleNow();
    const total = [...perLane.values()].reduce((a, b) => a + b, 0n);
    expect(settledPaid).toBe(total);
    let node = 0n;
    let owner = 0n;
    let treasury = 0n;
    let contributors = 0n;
    for (const [name, laneId] of laneIds) {
      const amount = perLane.get(laneId)!;
      expect(await c.contracts.paymentChannels.read.laneClaimed([channelId, laneId])).toBe(amount);
      const s = splitPayment({ paid: amount, protocolFeeBps: 200, royaltyBps: ROYALTY, contributorBps: CONTRIBUTOR, hasRoot: name === 'poet' });
      node += s.node;
      owner += s.owner;
      treasury += s.treasury;
      contributors += s.contributors;
    }
    expect(await c.contracts.paymentChannels.read.creditOf([c.accounts[NODE].address])).toBe(node);
    expect(await c.contracts.paymentChannels.read.creditOf([c.accounts[OWNER].address])).toBe(owner);
    expect(await c.contracts.paymentChannels.read.creditOf([c.accounts[TREASURY].address])).toBe(treasury);
    expect(await c.contracts.attributionRewards.read.poolOf([laneIds.get('poet')!])).toBe(contributors);

    // A repeated settlement pays nothing.
    expect(await t.node.paid!.settlement.settleNow()).toBe(0n);

    const tree = buildAttributionTree({ adapterId: laneIds.get('poet')!, leaves: [{ contributor: c.accounts[6].address, weight: 3n }, { contributor: c.accounts[7].address, weight: 1n }] });
    const before = await c.contracts.token.read.balanceOf([c.accounts[6].address]);
    const { weight, proof } = getAttributionProof(tree, c.accounts[6].address);
    await c.wait(c.as(6).attributionRewards.write.claim([[laneIds.get('poet')!], [weight], [proof]]));
    const got = (await c.contracts.token.read.balanceOf([c.accounts[6].address])) - before;
    expect(got).toBe((contributors * 3n) / 4n);
  });
});
