/**
 * `openlora rewards ADDRESS` and `openlora claim --credits` against a real JSON-RPC chain
 * (`hardhat node`): contracts deployed with `openlora chain deploy`, an adapter with a royalty, a
 * channel settled by the node's key, a slash paying a prover; the node operator and the adapter
 * owner see their credits per adapter and withdraw them to their token balance.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseEventLogs, toHex, zeroHash, type Address, type Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChainClients } from '../../src/chain/clients.ts';
import { adapterRegistryAbi, getContracts } from '../../src/chain/contracts.ts';
import { readDeployment } from '../../src/chain/deployment.ts';
import { signUsageReceipt, signVoucher, type UsageReceipt } from '../../src/chain/eip712.ts';
import { splitPayment } from '../../src/chain/split.ts';
import { waitForSuccess } from '../../src/chain/waitForSuccess.ts';
import { runCliInProcess } from '../fixtures/cliInProcess.ts';
import { openChannel } from '../../src/client/channel.ts';
import { HARDHAT_KEY, startHardhatNode, type HardhatNode } from '../fixtures/hardhatNode.ts';

const MNEMONIC = 'test test test test test test test test test test test junk';
const account = (i: number) => mnemonicToAccount(MNEMONIC, { addressIndex: i });
const keyOf = (i: number) => toHex(account(i).getHdKey().privateKey!);
const [NODE, PAYER, OWNER, NOBODY] = [1, 3, 5, 7];
const FEE_BPS = 200;
const ROYALTY_BPS = 1000;
const TOKEN = 10n ** 18n;

const cli = runCliInProcess;

async function json<T>(args: string[]): Promise<T> {
  const { code, stdout } = await cli([...args, '--json']);
  expect(code, stdout).toBe(0);
  return JSON.parse(stdout) as T;
}

interface RewardsJson {
  address: Address;
  paymentChannels: string;
  nodeRegistry: string;
  adapters: Array<{ adapterId: Hex; owner: boolean; settledAsNode: string; nodeShare: string; settledAsOwner: string; ownerShare: string }>;
  contributor: unknown[];
}

describe('openlora rewards / claim --credits', () => {
  let hardhat: HardhatNode | undefined;
  let chain: string[];
  const keyArgs = new Map<number, string[]>();
  let adapterId: Hex;
  let channelId: Hex;
  const paidAdapter = 3n * TOKEN;
  const paidBase = TOKEN;
  let proverReward: bigint;
  let tokenOf: (a: Address) => Promise<bigint>;

  beforeAll(async () => {
    hardhat = await startHardhatNode();
    const dir = await mkdtemp(path.join(tmpdir(), 'openlora-rewards-'));
    const pass = path.join(dir, 'pass.txt');
    const deployment = path.join(dir, 'deployment.json');
    await writeFile(pass, 'correct horse\n');
    for (const [i, raw] of [[0, `0x${HARDHAT_KEY}`], [NODE, keyOf(NODE)], [OWNER, keyOf(OWNER)], [NOBODY, keyOf(NOBODY)]] as const) {
      await writeFile(path.join(dir, `raw-${i}.txt`), `${raw}\n`);
      const keyFile = path.join(dir, `key-${i}.json`);
      expect((await cli(['key', 'import', '--private-key-file', path.join(dir, `raw-${i}.txt`), '--out', keyFile, '--passphrase-file', pass, '--light', '--json'])).code).toBe(0);
      keyArgs.set(i, ['--key-file', keyFile, '--passphrase-file', pass]);
    }
    chain = ['--rpc', hardhat.rpc, '--deployment', deployment];
    const fund = [NODE, PAYER, OWNER].map((i) => account(i).address).join(',');
    expect((await cli(['chain', 'deploy', '--rpc', hardhat.rpc, ...keyArgs.get(0)!, '--out', deployment, '--fund', fund, '--protocol-fee-bps', String(FEE_BPS), '--json'])).code).toBe(0);

    const d = await readDeployment(deployment);
    const clients = async (i: number) => ({ ...(await createChainClients({ rpcUrl: hardhat!.rpc, account: account(i) })), deployment: d });
    const [node, payer, owner] = await Promise.all([clients(NODE), clients(PAYER), clients(OWNER)]);
    const as = (c: typeof node) => getContracts({ deployment: d, publicClient: c.publicClient, walletClient: c.walletClient! });
    const wait = async (hash: Promise<Hex>) => waitForSuccess(node.publicClient, await hash);
    tokenOf = (a) => getContracts({ deployment: d, publicClient: node.publicClient }).token.read.balanceOf([a]);

    // The owner registers an adapter with a 10% royalty (no attribution root: the owner keeps all of it).
    const params = { salt: zeroHash, baseModelHash: `0x${'11'.repeat(32)}` as Hex, weightsHash: `0x${'22'.repeat(32)}` as Hex, uri: 'ipfs://adapter', datanetIds: [], royaltyBps: ROYALTY_BPS, contributorBps: 0 };
    const registered = await waitForSuccess(node.publicClient, await as(owner).adapterRegistry.write.register([params]));
    [{ args: { adapterId } }] = parseEventLogs({ abi: adapterRegistryAbi, eventName: 'AdapterRegistered', logs: registered.logs });
    // A payer's channel to the node; the node settles the adapter lane and the base-model lane.
    ({ channelId } = await openChannel({ ...payer, walletClient: payer.walletClient! }, { node: account(NODE).address, amount: 100n * TOKEN }));
    const claim = async (lane: Hex, cumulativeAmount: bigint) => {
      const voucher = { channelId, adapterId: lane, cumulativeAmount };
      return { voucher, signature: await signVoucher({ account: account(PAYER), voucher, chainId: d.chainId, paymentChannels: d.contracts.paymentChannels }) };
    };
    await wait(as(node).paymentChannels.write.settle([[await claim(adapterId, paidAdapter), await claim(zeroHash, paidBase)]]));
    // The node stakes, equivocates (two receipts with one seq), and the owner proves it: a prover reward.
    const stake = 1000n * TOKEN;
    await wait(as(node).token.write.approve([d.contracts.nodeRegistry, stake]));
    await wait(as(node).nodeRegistry.write.register([stake, 'http://node.example', []]));
    const receipt: UsageReceipt = { channelId, adapterId, requestId: zeroHash, seq: 7n, promptTokens: 1, completionTokens: 1, amount: 1n, laneCharged: 1n, voucherDigest: zeroHash, attributionDigest: zeroHash, timestamp: 1n };
    const sign = (r: UsageReceipt) => signUsageReceipt({ account: account(NODE), receipt: r, chainId: d.chainId, nodeRegistry: d.contracts.nodeRegistry });
    const other = { ...receipt, amount: 2n, laneCharged: 2n };
    await wait(as(owner).nodeRegistry.write.slash([receipt, await sign(receipt), other, await sign(other)]));
    proverReward = await getContracts({ deployment: d, publicClient: node.publicClient }).nodeRegistry.read.creditOf([account(OWNER).address]);
    expect(proverReward).toBeGreaterThan(0n);
  }, 180_000);

  afterAll(() => {
    hardhat?.stop();
  });

  it('shows the node operator and the adapter owner their credits, per adapter', async () => {
    const onAdapter = splitPayment({ paid: paidAdapter, protocolFeeBps: FEE_BPS, royaltyBps: ROYALTY_BPS, contributorBps: 0, hasRoot: false });
    const onBase = splitPayment({ paid: paidBase, protocolFeeBps: FEE_BPS, royaltyBps: 0, contributorBps: 0, hasRoot: false });

    const node = await json<RewardsJson>(['rewards', account(NODE).address, ...chain]);
    expect(node).toMatchObject({ address: account(NODE).address, paymentChannels: (onAdapter.node + onBase.node).toString(), nodeRegistry: '0', contributor: [] });
    expect(node.adapters).toHaveLength(2);
    expect(node.adapters.find((a) => a.adapterId === adapterId)).toMatchObject({ owner: false, settledAsNode: paidAdapter.toString(), nodeShare: onAdapter.node.toString(), settledAsOwner: '0' });
    expect(node.adapters.find((a) => a.adapterId === zeroHash)).toMatchObject({ settledAsNode: paidBase.toString(), nodeShare: onBase.node.toString() });

    const owner = await json<RewardsJson>(['rewards', account(OWNER).address, ...chain]);
    expect(owner).toMatchObject({ paymentChannels: onAdapter.owner.toString(), nodeRegistry: proverReward.toString() });
    expect(owner.adapters).toEqual([{ adapterId, owner: true, royaltyBps: ROYALTY_BPS, contributorBps: 0, settledAsNode: '0', nodeShare: '0', settledAsOwner: paidAdapter.toString(), ownerShare: onAdapter.owner.toString() }]);

    const text = await cli(['rewards', account(OWNER).address, ...chain]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('PaymentChannels credit');
    expect(text.stdout).toContain(`${adapterId}  as owner 0.3 of 3 settled (royalty 10%, 0% of it to contributors)`);
  });

  it('claim --credits moves every non-zero credit to the token balance, one transaction per contract, then finds nothing', async () => {
    const owner = account(OWNER).address;
    const credit = BigInt((await json<RewardsJson>(['rewards', owner, ...chain])).paymentChannels);
    const before = await tokenOf(owner);
    const claimed = await json<{ credits: Array<{ contract: string; amount: string; txHash: Hex }> }>(['claim', '--credits', ...chain, ...keyArgs.get(OWNER)!]);
    expect(claimed.credits.map((c) => [c.contract, c.amount])).toEqual([['PaymentChannels', credit.toString()], ['NodeRegistry', proverReward.toString()]]);
    expect(new Set(claimed.credits.map((c) => c.txHash)).size).toBe(2);
    expect((await tokenOf(owner)) - before).toBe(credit + proverReward);
    expect(await json<RewardsJson>(['rewards', owner, ...chain])).toMatchObject({ paymentChannels: '0', nodeRegistry: '0' });

    const nodeAddress = account(NODE).address;
    const nodeCredit = BigInt((await json<RewardsJson>(['rewards', nodeAddress, ...chain])).paymentChannels);
    const nodeBefore = await tokenOf(nodeAddress);
    const text = await cli(['claim', '--credits', ...chain, ...keyArgs.get(NODE)!]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^Withdrew 3\.62 tokens of PaymentChannels credit in 0x[0-9a-f]{64}\n$/);
    expect((await tokenOf(nodeAddress)) - nodeBefore).toBe(nodeCredit);

    for (const who of [OWNER, NOBODY]) {
      const again = await cli(['claim', '--credits', ...chain, ...keyArgs.get(who)!, '--json']);
      expect(again.code).toBe(1);
      const { error } = JSON.parse(again.stdout) as { error: { code: string; message: string; hint: string } };
      expect(error.code).toBe('OPENLORA_PAYMENTS_NOTHING_TO_WITHDRAW');
      expect(error.message).toContain(account(who).address);
      expect(error.hint).toContain('openlora rewards');
    }
  });

  it('claim needs --attribution or --credits', async () => {
    const { code } = await cli(['claim', ...chain, ...keyArgs.get(OWNER)!, '--json']);
    expect(code).not.toBe(0);
  });
});
