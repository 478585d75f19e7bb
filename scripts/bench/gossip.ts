/**
 * `npm run bench:gossip`: three nodes on loopback TCP, one Hardhat in-process chain. Each node
 * publishes `--per-node` pre-signed open-mode receipts (signing is the issuer's cost, not gossip's)
 * as fast as gossipsub takes them; every receipt is validated (decode, EIP-712 digest, node
 * signature, registration) and stored at both other nodes. Prints receipts/s fully delivered
 * (published, validated and stored at every node) and propagation latency p50/p99.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import hre from 'hardhat';
import { keccak256, toHex, type Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { getContracts } from '../../src/chain/contracts.ts';
import { devDeploy } from '../../src/chain/deploy.ts';
import { signUsageReceipt, type UsageReceipt } from '../../src/chain/eip712.ts';
import { openLedgerDatabase } from '../../src/ledger/db.ts';
import { createNetwork, type Network } from '../../src/p2p/network.ts';

const { values: args } = parseArgs({ options: { 'per-node': { type: 'string', default: '1000' }, batch: { type: 'string', default: '50' } } });
const perNode = Number(args['per-node']);
const batch = Number(args.batch);
const NODES = [1, 2, 3];
const TOKEN = 10n ** 18n;

const { viem } = await hre.network.connect();
const publicClient = await viem.getPublicClient();
const wallets = await viem.getWalletClients();
const accounts = wallets.map((_, i) => mnemonicToAccount('test test test test test test test test test test test junk', { addressIndex: i }));
const deployment = await devDeploy({ walletClient: wallets[0], publicClient, fund: NODES.map((i) => accounts[i].address) });
for (const i of NODES) {
  const c = getContracts({ deployment, publicClient, walletClient: wallets[i] });
  await publicClient.waitForTransactionReceipt({ hash: await c.token.write.approve([deployment.contracts.nodeRegistry, 1000n * TOKEN]) });
  await publicClient.waitForTransactionReceipt({ hash: await c.nodeRegistry.write.register([100n * TOKEN, `http://127.0.0.1:${8000 + i}`, []]) });
}

const dirs: string[] = [];
const nets: Network[] = [];
const dbs: ReturnType<typeof openLedgerDatabase>[] = [];
for (const i of NODES) {
  const dir = await mkdtemp(join(tmpdir(), 'openlora-bench-gossip-'));
  dirs.push(dir);
  const db = openLedgerDatabase(join(dir, 'ledger.db'));
  dbs.push(db);
  const network = await createNetwork({
    options: { peerKeyFile: join(dir, 'peer-key'), bootstrap: nets.map((n) => n.multiaddrs()[0]), dialRegistered: false, heartbeatMs: 700 },
    account: accounts[i],
    deployment,
    publicClient,
    walletClient: wallets[i],
    db,
  });
  await network.start();
  nets.push(network);
}
const deadline = Date.now() + 10_000;
while (!nets.every((n) => n.meshPeers(n.topics.receipts).length === NODES.length - 1)) {
  if (Date.now() > deadline) throw new Error('mesh did not form');
  await new Promise((r) => setTimeout(r, 50));
}

console.log(`signing ${perNode * NODES.length} receipts...`);
const now = BigInt(Math.floor(Date.now() / 1000));
const signed: Array<Array<{ receipt: UsageReceipt; signature: Hex }>> = [];
for (const i of NODES) {
  const list = [];
  for (let seq = 1; seq <= perNode; seq++) {
    const receipt: UsageReceipt = {
      channelId: keccak256(toHex(`openlora:key:bench-${i}`)),
      adapterId: keccak256(toHex('adapter')),
      requestId: keccak256(toHex(`req-${i}-${seq}`)),
      seq: BigInt(seq),
      promptTokens: 100,
      completionTokens: 200,
      amount: 500n,
      laneCharged: 500n * BigInt(seq),
      voucherDigest: `0x${'00'.repeat(32)}`,
      attributionDigest: `0x${'00'.repeat(32)}`,
      timestamp: now,
    };
    list.push({ receipt, signature: await signUsageReceipt({ account: accounts[i], receipt, chainId: deployment.chainId, nodeRegistry: deployment.contracts.nodeRegistry }) });
  }
  signed.push(list);
}

const sentAt = new Map<string, number>();
const latencies: number[] = [];
const expected = perNode * (NODES.length - 1);
let complete: () => void;
const done = new Promise<void>((r) => (complete = r));
const received = nets.map(() => 0);
nets.forEach((n, k) =>
  n.onReceipt((r) => {
    const t = sentAt.get(`${r.node}:${r.seq}`);
    if (t !== undefined) latencies.push(r.receivedAt - t);
    received[k] += 1;
    if (received.every((x) => x === expected)) complete();
  }),
);

const start = performance.now();
await Promise.all(
  nets.map(async (n, k) => {
    const list = signed[k];
    for (let j = 0; j < list.length; j += batch) {
      const chunk = list.slice(j, j + batch);
      const t = Date.now();
      for (const s of chunk) sentAt.set(`${accounts[NODES[k]].address}:${s.receipt.seq}`, t);
      await Promise.all(chunk.map((s) => n.publishReceipt(s)));
      await new Promise((r) => setImmediate(r));
    }
  }),
);
const published = performance.now();
const timeout = setTimeout(() => {
  console.error(`timed out: received ${received.join(', ')} of ${expected} each`);
  process.exit(1);
}, 120_000);
await done;
clearTimeout(timeout);
const elapsed = (performance.now() - start) / 1000;
for (const n of nets) n.store.flush();
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
const total = perNode * NODES.length;
const stored = nets.map((n) => n.store.count());
const rejects = nets.map((n) => n.counts()[n.topics.receipts].reject);

console.log(`nodes: ${NODES.length} (loopback TCP, one process, ${(await import('node:os')).availableParallelism()} CPUs)`);
console.log(`receipts published: ${total} (${(total / ((published - start) / 1000)).toFixed(0)}/s publish rate)`);
console.log(`validated and stored at every other node: ${stored.join(', ')} (rejects: ${rejects.join(', ')})`);
console.log(`throughput (published -> stored everywhere): ${(total / elapsed).toFixed(0)} receipts/s`);
console.log(`validations: ${(total * (NODES.length - 1) / elapsed).toFixed(0)}/s across the nodes`);
console.log(`propagation latency: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${latencies[latencies.length - 1]} ms`);

await Promise.all(nets.map((n) => n.stop()));
for (const db of dbs) db.close();
for (const d of dirs) await rm(d, { recursive: true, force: true });
process.exit(0);
