/**
 * Gas benchmark of the openlora contracts on Hardhat's in-process chain (not a test):
 * open, settle with 1, 10 and 100 lanes (per lane), claim for 1 and 10 adapters against 1,000-leaf
 * trees, node registration and slash. Prints a table; `--out FILE` also writes JSON.
 *
 *   npm run bench:gas [-- --out gas.json]
 *
 * Goals (issues 5 and 14): settle <= 45k gas per lane at 100 lanes; every claim <= 80k gas for one
 * adapter, a first claim (new storage slot) included.
 */
import { writeFile } from 'node:fs/promises';
import hre from 'hardhat';
import { getAddress, keccak256, numberToHex, toHex, type Address, type Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { getContracts } from '../../src/chain/contracts.ts';
import { devDeploy } from '../../src/chain/deploy.ts';
import { signUsageReceipt, signVoucher } from '../../src/chain/eip712.ts';
import { buildAttributionTree, getAttributionProof, type AttributionTree } from '../../src/chain/merkle.ts';
import { waitForSuccess } from '../../src/chain/waitForSuccess.ts';
import { benchArgs } from './lib/args.ts';

const values = benchArgs(import.meta.url, { out: { type: 'string' } });
const id = (label: string): Hex => keccak256(toHex(label));
const TOKEN = 10n ** 18n;
const MNEMONIC = 'test test test test test test test test test test test junk';

const { viem } = await hre.network.connect();
const publicClient = await viem.getPublicClient();
const wallets = await viem.getWalletClients();
const accounts = wallets.map((_, i) => mnemonicToAccount(MNEMONIC, { addressIndex: i }));
const deployment = await devDeploy({ walletClient: wallets[0], publicClient, fund: accounts.map((a) => a.address), params: { protocolFeeBps: 200 } });
const chainId = await publicClient.getChainId();
const as = (i: number) => getContracts({ deployment, publicClient, walletClient: wallets[i] });
const gasOf = async (hash: Promise<Hex>) => {
  return (await waitForSuccess(publicClient, await hash)).gasUsed;
};

interface Row {
  name: string;
  gas: bigint;
  perUnit?: bigint;
  unit?: string;
  goal?: bigint;
  note?: string;
}
const rows: Row[] = [];

// ---- node registration and slash
const NODE = 1;
await gasOf(as(NODE).token.write.approve([deployment.contracts.nodeRegistry, 1_000n * TOKEN]));
rows.push({ name: 'NodeRegistry.register', gas: await gasOf(as(NODE).nodeRegistry.write.register([1_000n * TOKEN, 'http://node-1.example:8080', ['/ip4/203.0.113.7/tcp/9000']])) });
const receipt = (amount: bigint) => ({
  channelId: id('c'), adapterId: id('a'), requestId: id('r'), seq: 1n, promptTokens: 100, completionTokens: 200,
  amount, laneCharged: amount, voucherDigest: id('v'), attributionDigest: id('d'), timestamp: 1_700_000_000n,
});
const [ra, rb] = [receipt(1n), receipt(2n)];
const sign = (r: ReturnType<typeof receipt>) => signUsageReceipt({ account: accounts[NODE], receipt: r, chainId, nodeRegistry: deployment.contracts.nodeRegistry });
rows.push({ name: 'NodeRegistry.slash', gas: await gasOf(as(2).nodeRegistry.write.slash([ra, await sign(ra), rb, await sign(rb)])) });

// ---- adapters: 100, with 1,000-leaf attribution trees, owners cycling over 10 accounts
const OWNERS = Array.from({ length: 10 }, (_, i) => 10 + i);
const CLAIMANT = 3;
const contributors: Address[] = [accounts[CLAIMANT].address, ...Array.from({ length: 999 }, (_, i) => getAddress(keccak256(numberToHex(i, { size: 32 })).slice(0, 42)))];
const adapters: Hex[] = [];
const trees: AttributionTree[] = [];
for (let k = 0; k < 100; k += 1) {
  const owner = OWNERS[k % OWNERS.length];
  await gasOf(as(owner).adapterRegistry.write.register([{ salt: id(`bench-${k}`), baseModelHash: id('base'), weightsHash: id(`w${k}`), uri: `hf://bench/${k}`, datanetIds: [], royaltyBps: 1500, contributorBps: 4000 }]));
  const adapterId = await as(0).adapterRegistry.read.adapterIdFor([accounts[owner].address, id(`bench-${k}`)]);
  adapters.push(adapterId);
  if (k < 10) {
    // Only the first 10 need a tree for the claim benchmark; the rest get a root with the same shape.
    trees.push(buildAttributionTree({ adapterId, leaves: contributors.map((contributor, i) => ({ contributor, weight: BigInt(1 + (i % 13)) })) }));
    await gasOf(as(owner).adapterRegistry.write.setAttributionRoot([adapterId, trees[k].root, trees[k].totalWeight]));
  } else {
    await gasOf(as(owner).adapterRegistry.write.setAttributionRoot([adapterId, id(`root-${k}`), 1_000_000n]));
  }
}

// ---- open
const PAYER = 2;
await gasOf(as(PAYER).token.write.approve([deployment.contracts.paymentChannels, 2n ** 255n]));
const openChannel = async (salt: string) => {
  const gas = await gasOf(as(PAYER).paymentChannels.write.open([accounts[NODE].address, deployment.contracts.token, accounts[PAYER].address, 100_000n * TOKEN, 900n, id(salt)]));
  return { gas, channelId: await as(0).paymentChannels.read.channelIdFor([accounts[PAYER].address, accounts[NODE].address, deployment.contracts.token, id(salt)]) };
};
const first = await openChannel('bench-0');
rows.push({ name: 'PaymentChannels.open', gas: first.gas });

// ---- settle: one channel, N lanes (one per adapter). "new lanes" is a fresh channel's first settlement
// (each lane's claimed total goes from zero: one new storage slot per lane); "existing lanes" raises them.
// Adapters are already earning (their pools and owners' credits exist), as on a live network.
const settleGas = async (channelId: Hex, lanes: number, cumulativeAmount: bigint) => {
  const vouchers = await Promise.all(adapters.slice(0, lanes).map(async (adapterId) => {
    const voucher = { channelId, adapterId, cumulativeAmount };
    return { voucher, signature: await signVoucher({ account: accounts[PAYER], voucher, chainId, paymentChannels: deployment.contracts.paymentChannels }) };
  }));
  return gasOf(as(NODE).paymentChannels.write.settle([vouchers]));
};
{
  const { channelId } = await openChannel('bench-warmup');
  await settleGas(channelId, 100, 10n ** 12n);
}
for (const lanes of [1, 10, 100]) {
  const { channelId } = await openChannel(`bench-lanes-${lanes}`);
  const firstGas = await settleGas(channelId, lanes, 1_000n * 10n ** 12n + 7n);
  rows.push({ name: `PaymentChannels.settle ${lanes} lanes (new lanes)`, gas: firstGas, perUnit: firstGas / BigInt(lanes), unit: 'lane' });
  const againGas = await settleGas(channelId, lanes, 2_000n * 10n ** 12n + 13n);
  rows.push({ name: `PaymentChannels.settle ${lanes} lanes (existing lanes)`, gas: againGas, perUnit: againGas / BigInt(lanes), unit: 'lane', goal: lanes === 100 ? 45_000n : undefined });
}

// ---- claim: 1 and 10 adapters against 1,000-leaf trees (first claim, then a claim after more revenue)
const claimGas = async (count: number) => {
  const ids = adapters.slice(0, count);
  const proofs = trees.slice(0, count).map((t) => getAttributionProof(t, accounts[CLAIMANT].address));
  return gasOf(as(CLAIMANT).attributionRewards.write.claim([ids, proofs.map((p) => p.weight), proofs.map((p) => p.proof)]));
};
const claim1 = await claimGas(1);
rows.push({ name: 'AttributionRewards.claim 1 adapter (first claim)', gas: claim1, goal: 80_000n, note: '1,000-leaf tree' });
const claim10first = await claimGas(10); // adapter 0 already claimed once; 1..9 first claims
rows.push({ name: 'AttributionRewards.claim 10 adapters (9 first claims)', gas: claim10first, perUnit: claim10first / 10n, unit: 'adapter', note: '1,000-leaf trees' });
{
  const { channelId } = await openChannel('bench-more');
  await settleGas(channelId, 10, 5_000n * 10n ** 12n);
}
const claim1again = await claimGas(1);
rows.push({ name: 'AttributionRewards.claim 1 adapter (repeat claim)', gas: claim1again, goal: 80_000n, note: '1,000-leaf tree' });
const claim10again = await claimGas(10);
rows.push({ name: 'AttributionRewards.claim 10 adapters (repeat claims)', gas: claim10again, perUnit: claim10again / 10n, unit: 'adapter', note: '1,000-leaf trees' });

// ---- report
const fmt = (n: bigint | undefined) => (n === undefined ? '' : n.toLocaleString('en-US'));
const table = [
  ['operation', 'gas', 'per unit', 'goal', 'ok'],
  ...rows.map((r) => {
    const measured = r.perUnit ?? r.gas;
    return [r.name, fmt(r.gas), r.perUnit === undefined ? '' : `${fmt(r.perUnit)} / ${r.unit}`, r.goal === undefined ? '' : `<= ${fmt(r.goal)}`, r.goal === undefined ? '' : measured <= r.goal ? 'yes' : 'NO'];
  }),
];
const widths = table[0].map((_, j) => Math.max(...table.map((row) => row[j].length)));
for (const [i, row] of table.entries()) {
  process.stdout.write(row.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j]))).join('  ') + '\n');
  if (i === 0) process.stdout.write(widths.map((w) => '-'.repeat(w)).join('  ') + '\n');
}
process.stdout.write(
  '\nSettle: one channel, one lane per adapter; every adapter has an attribution root (contributor share to AttributionRewards) and is already earning; owners cycle over 10 accounts.\n' +
    'Claim: the claimant already holds tokens; a first claim on an adapter writes one new storage slot (claimed), a repeat claim updates it.\n',
);
if (values.out) {
  const json = {
    chain: 'hardhat (EDR, in-process)',
    solc: '0.8.37',
    optimizer: { runs: 1000 },
    rows: rows.map((r) => ({ ...r, gas: Number(r.gas), perUnit: r.perUnit === undefined ? undefined : Number(r.perUnit), goal: r.goal === undefined ? undefined : Number(r.goal) })),
  };
  await writeFile(values.out, JSON.stringify(json, null, 2) + '\n');
  process.stdout.write(`wrote ${values.out}\n`);
}
process.exit(0);
