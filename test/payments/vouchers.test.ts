import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublicClient, createWalletClient, custom, keccak256, toHex, type Hex, type LocalAccount, type PublicClient } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { registerAdapterOnChain } from '../../src/attribution/register.ts';
import { signUsageReceipt, signVoucher } from '../../src/chain/eip712.ts';
import { createPaidClient, openChannel, proveEquivocation, type ReceiptJson } from '../../src/client/index.ts';
import { paymentChannelsAbi } from '../../src/chain/generated/abis.ts';
import { briefChainError } from '../../src/payments/settlement.ts';
import { encodeVoucherHeader } from '../../src/payments/voucher.ts';
import { setupChain, type Chain } from '../contracts/fixture.ts';
import { createTinyModel, makeTempDir } from '../fixtures/model.ts';
import { createTestAdapters, startTestNode, type TestNode } from '../fixtures/node.ts';

const NODE = 1;
const PAYER = 3;
const OWNER = 5;
const CREDIT = 5000n;
const CHANNEL_CREDIT = 7500n;
const ADMIN = 'admin-token-for-tests-0123456789';

let c: Chain;
let t: TestNode;
let dataDir: string;
let channelId: Hex;
let rpcDown = false;
const lanes = new Map<string, Hex>();

/** The real in-process chain behind a switch that makes every RPC call fail while `rpcDown`. */
function switchableClients() {
  const transport = custom({
    request: async (args: { method: string; params?: unknown }) => {
      if (rpcDown) throw new Error('RPC unreachable (test switch)');
      return c.connection.provider.request(args as never);
    },
  });
  const chain = c.publicClient.chain;
  return {
    publicClient: createPublicClient({ chain, transport }) as PublicClient,
    walletClient: createWalletClient({ chain, transport, account: c.accounts[NODE] }),
  };
}

async function start(): Promise<TestNode> {
  return startTestNode({
    dataDir,
    account: c.accounts[NODE],
    adapterOwner: c.accounts[OWNER].address,
    overrides: {
      'payments.mode': 'paid',
      'payments.creditLimit': CREDIT.toString(),
      'payments.channelCreditLimit': CHANNEL_CREDIT.toString(),
      'payments.settleEpochMs': 3_600_000,
      'payments.channelCacheSize': 100,
      'payments.channelLookupsPerSecond': 20,
      'api.rateLimitPerMinute': 1_000_000,
      'api.adminToken': ADMIN,
    },
    components: { deployment: c.deployment, chain: switchableClients() },
  });
}

async function request(model: string, voucher: { channelId: Hex; adapterId: Hex; cumulativeAmount: bigint } | undefined, sign: LocalAccount = c.accounts[PAYER], domain = { chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels }, maxTokens = 2) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (voucher) headers['x-openlora-voucher'] = encodeVoucherHeader({ voucher, signature: await signVoucher({ account: sign, voucher, ...domain }) });
  const response = await fetch(`${t.node.url}/v1/completions`, { method: 'POST', headers, body: JSON.stringify({ model, prompt: 'hello', max_tokens: maxTokens, temperature: 0 }) });
  const body = (await response.json()) as { error?: { code: string; payment?: { reason: string; node: string; chainId: number; price: unknown; lane?: { charged: string } } } };
  return { status: response.status, body, reason: body.error?.payment?.reason };
}

beforeAll(async () => {
  c = await setupChain({ protocolFeeBps: 200 });
  dataDir = await makeTempDir('openlora-paid-');
  t = await start();
  const model = await createTinyModel();
  for (const a of t.adapters) {
    const { adapterId } = await registerAdapterOnChain({ ctx: { publicClient: c.publicClient, walletClient: c.wallets[OWNER], deployment: c.deployment }, adapter: a.dir, model, datanetIds: [], royaltyBps: 1000, contributorBps: 0 });
    lanes.set(a.name, adapterId);
  }
  ({ channelId } = await openChannel({ publicClient: c.publicClient, walletClient: c.wallets[PAYER], deployment: c.deployment }, { node: c.accounts[NODE].address, amount: 10n ** 18n }));
});

afterAll(async () => {
  await t?.node.stop();
});

describe('vouchers: each bad voucher is refused with 402 and a clear reason', () => {
  it('refuses missing, forged, wrong-authorizer, wrong-chain, wrong-contract, unknown-channel and wrong-lane vouchers', async () => {
    const poet = lanes.get('poet')!;
    const missing = await request('poet', undefined);
    expect(missing.status).toBe(402);
    expect(missing.body.error?.code).toBe('OPENLORA_PAYMENT_REQUIRED');
    expect(missing.body.error?.payment).toMatchObject({ reason: 'voucher_missing', node: c.accounts[NODE].address, chainId: c.chainId });
    expect((await request('poet', { channelId, adapterId: poet, cumulativeAmount: 0n }, privateKeyToAccount(generatePrivateKey()))).reason).toBe('bad_signature');
    expect((await request('poet', { channelId, adapterId: poet, cumulativeAmount: 0n }, c.accounts[4])).reason).toBe('bad_signature');
    expect((await request('poet', { channelId, adapterId: poet, cumulativeAmount: 0n }, c.accounts[PAYER], { chainId: c.chainId + 1, paymentChannels: c.deployment.contracts.paymentChannels })).reason).toBe('bad_signature');
    expect((await request('poet', { channelId, adapterId: poet, cumulativeAmount: 0n }, c.accounts[PAYER], { chainId: c.chainId, paymentChannels: c.deployment.contracts.nodeRegistry })).reason).toBe('bad_signature');
    expect((await request('poet', { channelId: keccak256(toHex('no such channel')), adapterId: poet, cumulativeAmount: 0n })).reason).toBe('unknown_channel');
    expect((await request('poet', { channelId, adapterId: lanes.get('coder')!, cumulativeAmount: 0n })).reason).toBe('wrong_lane');
    // A valid signature on a lane this node does not serve keeps nothing either.
    const stray = { channelId, adapterId: keccak256(toHex('not served here')), cumulativeAmount: 5n };
    const posted = await fetch(`${t.node.url}/v1/vouchers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...stray, cumulativeAmount: '5', signature: await signVoucher({ account: c.accounts[PAYER], voucher: stray, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels }) }) });
    expect(posted.status).toBe(402);
    expect(((await posted.json()) as { error: { payment: { reason: string } } }).error.payment.reason).toBe('wrong_lane');
    expect(t.node.ledger.count()).toBe(0);
  });

  it('lets concurrent requests on one lane together stay within the credit limit', async () => {
    const lawyer = lanes.get('lawyer')!;
    const results = await Promise.all(Array.from({ length: 6 }, () => request('lawyer', { channelId, adapterId: lawyer, cumulativeAmount: 0n }, c.accounts[PAYER], undefined, 1000)));
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThan(0);
    expect(results.some((r) => r.reason === 'credit_exhausted')).toBe(true);
    const charged = t.node.ledger.list({ channelId, adapterId: lawyer }).receipts.reduce((s, r) => s + r.receipt.amount, 0n);
    expect(charged).toBeLessThanOrEqual(CREDIT);
  });

  it('refuses a stale (replayed) voucher once a larger one was acknowledged', async () => {
    const paid = await createPaidClient({ url: t.node.url, account: c.accounts[PAYER], channelId, nodeRegistry: c.deployment.contracts.nodeRegistry });
    for (let i = 0; i < 3; i++) await paid.fetch(`${t.node.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'poet', prompt: `p${i}`, max_tokens: 2 }) });
    await paid.payTail();
    const stale = await request('poet', { channelId, adapterId: lanes.get('poet')!, cumulativeAmount: 0n });
    expect(stale.reason).toBe('stale_voucher');
    expect(BigInt(stale.body.error!.payment!.lane!.charged)).toBeGreaterThan(0n);
  });
});

describe('settlement across a restart and an RPC outage', () => {
  it('settles after a restart exactly what was acknowledged, once; serves within credit while the RPC is down', async () => {
    const paid = await createPaidClient({ url: t.node.url, account: c.accounts[PAYER], channelId, nodeRegistry: c.deployment.contracts.nodeRegistry });
    const body = (i: number) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'coder', prompt: `q${i}`, max_tokens: 2 }) });
    for (let i = 0; i < 4; i++) expect((await paid.fetch(`${t.node.url}/v1/completions`, body(i))).status).toBe(200);
    rpcDown = true;
    const served = await paid.fetch(`${t.node.url}/v1/completions`, body(99)); // the channel is cached: still served
    expect(served.status).toBe(200);
    await paid.payTail();
    await expect(t.node.paid!.settlement.settleNow()).rejects.toThrow();
    await t.node.stop(); // the node goes away between serving and settling
    rpcDown = false;
    t = await start();
    await t.node.paid!.settlement.settleNow();
    for (const lane of paid.lanes()) {
      expect(await c.contracts.paymentChannels.read.laneClaimed([channelId, lane.adapterId])).toBe(lane.charged);
    }
    expect(await t.node.paid!.settlement.settleNow()).toBe(0n);
  });
});

describe('equivocation', () => {
  it('a node that signs two receipts with one seq is slashed by a script using only the client SDK', async () => {
    const stake = 100n * 10n ** 18n;
    await c.wait(c.as(NODE).token.write.approve([c.deployment.contracts.nodeRegistry, stake]));
    await c.wait(c.as(NODE).nodeRegistry.write.register([stake, t.node.url, []]));
    // The "patched" node: its key signs two different receipts with the same seq.
    const base = { channelId, adapterId: lanes.get('poet')!, requestId: keccak256(toHex('r')), seq: 7n, promptTokens: 3, completionTokens: 2, amount: 10n, laneCharged: 10n, voucherDigest: keccak256(toHex('v')), attributionDigest: keccak256(toHex('a')), timestamp: 1_700_000_000n };
    const sign = async (receipt: typeof base): Promise<ReceiptJson> => ({
      node: c.accounts[NODE].address,
      payer: c.accounts[PAYER].address,
      digest: '0x',
      signature: await signUsageReceipt({ account: c.accounts[NODE], receipt, chainId: c.chainId, nodeRegistry: c.deployment.contracts.nodeRegistry }),
      receipt: { ...receipt, seq: receipt.seq.toString(), amount: receipt.amount.toString(), laneCharged: receipt.laneCharged.toString(), timestamp: receipt.timestamp.toString() },
    });
    const a = await sign(base);
    const b = await sign({ ...base, amount: 99n, laneCharged: 99n });
    await expect(proveEquivocation({ publicClient: c.publicClient, walletClient: c.wallets[PAYER], deployment: c.deployment, a, b: a })).rejects.toThrow(/same receipt/);
    await proveEquivocation({ publicClient: c.publicClient, walletClient: c.wallets[PAYER], deployment: c.deployment, a, b });
    const after = await c.contracts.nodeRegistry.read.nodeOf([c.accounts[NODE].address]);
    expect(after.stake).toBeLessThan(stake);
  });
});

describe('credit per channel, and what unverified vouchers cost', () => {
  it('bounds what a payer who never acknowledges owes over all the lanes of a channel', async () => {
    const { channelId: ch } = await openChannel({ publicClient: c.publicClient, walletClient: c.wallets[PAYER], deployment: c.deployment }, { node: c.accounts[NODE].address, amount: 10n ** 18n });
    const refusals: string[] = [];
    for (const model of ['poet', 'coder', 'lawyer']) {
      for (let i = 0; i < 40; i++) {
        const r = await request(model, { channelId: ch, adapterId: lanes.get(model)!, cumulativeAmount: 0n }, c.accounts[PAYER], undefined, 400);
        if (r.status !== 200) {
          refusals.push(r.reason!);
          break;
        }
      }
    }
    expect(refusals[0]).toBe('credit_exhausted');
    expect(refusals).toContain('channel_credit_exhausted');
    const owed = t.node.ledger.list({ channelId: ch, limit: 1000 }).receipts.reduce((s, r) => s + r.receipt.amount, 0n);
    expect(owed).toBeLessThanOrEqual(CHANNEL_CREDIT);
    expect(owed).toBeGreaterThan(CREDIT);
  });

  it('keeps no state and makes a bounded number of chain reads for a flood of unverified vouchers', async () => {
    const gate = t.node.paid!.gate;
    const before = gate.stats();
    const statuses = new Map<string, number>();
    const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
    const poet = lanes.get('poet')!;
    for (let round = 0; round < 15; round++) {
      await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const forger = privateKeyToAccount(generatePrivateKey());
          // Made-up channels, and the real channel signed by the wrong key.
          const ch = i % 4 === 0 ? channelId : keccak256(toHex(`bogus-${round}-${i}`));
          const r = await request('poet', { channelId: ch, adapterId: poet, cumulativeAmount: 0n }, forger);
          count(`${r.status}:${r.reason ?? r.body.error?.code}`);
        }),
      );
    }
    expect([...statuses.keys()].every((k) => ['402:unknown_channel', '402:bad_signature', '429:OPENLORA_PAYMENT_LOOKUPS_LIMITED'].includes(k))).toBe(true);
    expect(statuses.get('429:OPENLORA_PAYMENT_LOOKUPS_LIMITED')).toBeGreaterThan(0);
    const after = gate.stats();
    expect(after.accounts).toBe(before.accounts);
    expect(after.channels).toBeLessThanOrEqual(200); // payments.channelCacheSize 100 known + 100 unknown
    // The payer is served as before.
    const paid = await createPaidClient({ url: t.node.url, account: c.accounts[PAYER], channelId, nodeRegistry: c.deployment.contracts.nodeRegistry });
    expect((await paid.fetch(`${t.node.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'poet', prompt: 'still served', max_tokens: 2 }) })).status).toBe(200);
  });
});

describe('adapters registered at run time', () => {
  const admin = (body: unknown) => fetch(`${t.node.url}/admin/adapters`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body: JSON.stringify(body) });

  it('take an owner, and a lane that could never settle is refused', async () => {
    const poet = t.adapters.find((a) => a.name === 'poet')!;
    const noOwner = await admin({ path: poet.dir, name: 'poet' });
    expect(noOwner.status).toBe(409);
    expect(((await noOwner.json()) as { error: { code: string; message: string } }).error.message).toMatch(/no owner/);
    const registered = await admin({ path: poet.dir, name: 'poet', owner: c.accounts[OWNER].address });
    expect(registered.status).toBe(201);
    expect(((await registered.json()) as { adapter_id: string }).adapter_id).toBe(lanes.get('poet'));

    const [stray] = await createTestAdapters(await createTinyModel(), [{ name: 'stray', rank: 4, seed: 99 }]);
    const unsettleable = await admin({ path: stray.dir, name: 'stray', owner: c.accounts[OWNER].address });
    expect(unsettleable.status).toBe(409);
    const body = (await unsettleable.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('OPENLORA_NODE_ADAPTER_UNSETTLEABLE');
    expect(body.error.message).toMatch(/AdapterRegistry has no adapter/);
    const models = (await (await fetch(`${t.node.url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((m) => m.id)).not.toContain('stray');
  });

  it('answer bad paths with a 400 naming the path', async () => {
    for (const path of ['/etc', '/proc/self', '/no/such/adapter', '/dev/null']) {
      const response = await admin({ path, owner: c.accounts[OWNER].address });
      expect(response.status, path).toBe(400);
      expect(((await response.json()) as { error: { param: string } }).error.param).toBe('path');
    }
  });

  it('log a failed settlement in a few hundred bytes, not the whole ABI', async () => {
    const unknownLane = keccak256(toHex('no such adapter'));
    const voucher = { channelId, adapterId: unknownLane, cumulativeAmount: 1n };
    const signature = await signVoucher({ account: c.accounts[PAYER], voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels });
    const error = await c.publicClient.simulateContract({ address: c.deployment.contracts.paymentChannels, abi: paymentChannelsAbi, functionName: 'settle', args: [[{ voucher, signature }]], account: c.accounts[NODE] }).catch((e: unknown) => e);
    const brief = JSON.stringify(briefChainError(error));
    expect(brief).toContain('PaymentChannelsUnknownAdapter');
    expect(brief.length).toBeLessThan(1000);
    expect(String((error as Error).message).length + JSON.stringify(error, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)).length).toBeGreaterThan(5000);
  });
});
