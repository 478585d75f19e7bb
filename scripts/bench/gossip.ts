/**
 * `npm run bench:gossip`: receipts committed in signed batches and checked by every node that
 * follows the committer, each node in its own process (scripts/bench/lib/gossipNode.ts: the p2p
 * layer, no model), one Hardhat chain served over JSON-RPC by this process.
 *
 *   throughput (default): 3 nodes, each committing `--rate` receipts/s for `--seconds`; every node
 *     follows both others. Prints receipts/s committed and verified at every other node, and the
 *     latency from commit to verified everywhere (p50/p99).
 *   --scale 5,20,50: for each network size, each node commits `--scale-rate` receipts/s and follows
 *     `--follow` ring successors. Prints per node bytes/s and CPU ms per 1,000 receipts it
 *     committed, and how much they moved across sizes (flat = the cost does not grow with the network).
 *
 * `--out FILE` writes the figures as JSON.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { availableParallelism, loadavg } from 'node:os';
import hre from 'hardhat';
import { parseEther } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createChainClients } from '../../src/chain/clients.ts';
import { getContracts } from '../../src/chain/contracts.ts';
import { devDeploy } from '../../src/chain/deploy.ts';
import type { Deployment } from '../../src/chain/deployment.ts';
import { waitForSuccess } from '../../src/chain/waitForSuccess.ts';
import { ringNeighbours } from '../../src/p2p/ring.ts';
import type { FromNode, ToNode } from './lib/gossipNode.ts';
import { percentile } from './lib/stats.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';

const args = benchArgs(import.meta.url, {
  nodes: { type: 'string', default: '3' },
  rate: { type: 'string', default: '3500' },
  seconds: { type: 'string', default: '10' },
  'batch-ms': { type: 'string', default: '200' },
  scale: { type: 'string' },
  'scale-rate': { type: 'string', default: '20' },
  'scale-seconds': { type: 'string', default: '20' },
  follow: { type: 'string', default: '4' },
  out: { type: 'string' },
});
const TOKEN = 10n ** 18n;

// The chain: Hardhat's in-process EDR, served to the node processes over HTTP JSON-RPC.
const connection = await hre.network.connect();
const { viem, provider } = connection;
const publicClient = await viem.getPublicClient();
const [deployer] = await viem.getWalletClients();
const testClient = await viem.getTestClient();
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    const body = JSON.parse(Buffer.concat(chunks).toString()) as { id: unknown; method: string; params?: unknown[] } | Array<{ id: unknown; method: string; params?: unknown[] }>;
    const one = async (r: { id: unknown; method: string; params?: unknown[] }) => {
      try {
        return { jsonrpc: '2.0', id: r.id, result: await provider.request({ method: r.method, params: r.params }) };
      } catch (e) {
        const err = e as { code?: number; message: string; data?: unknown };
        return { jsonrpc: '2.0', id: r.id, error: { code: err.code ?? -32000, message: err.message, data: err.data } };
      }
    };
    const out = Array.isArray(body) ? await Promise.all(body.map(one)) : await one(body);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)));
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const rpcUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
/**
 * Deploys fresh contracts, registers `n` fresh node keys (staked) on them and starts one process
 * per node. Each network gets its own NodeRegistry: the ring of registered nodes is exactly these
 * `n`, not the nodes of an earlier, stopped network.
 */
async function startNodes(n: number, follow: number, batchIntervalMs: number) {
  const deployment: Deployment = await devDeploy({ walletClient: deployer, publicClient });
  // Many processes on one machine: small heaps (a 2 MiB young generation saves ~30 MiB each at scale).
  const heapFlags = n > 3 ? ['--max-old-space-size=128', '--max-semi-space-size=2'] : ['--max-old-space-size=192'];
  const keys = Array.from({ length: n }, () => generatePrivateKey());
  for (const key of keys) {
    const account = privateKeyToAccount(key);
    await testClient.setBalance({ address: account.address, value: parseEther('10') });
    await waitForSuccess(publicClient, await getContracts({ deployment, publicClient, walletClient: deployer }).token.write.mint([account.address, 1000n * TOKEN]));
    const { walletClient } = await createChainClients({ rpcUrl, account, chainId: deployment.chainId });
    const c = getContracts({ deployment, publicClient, walletClient: walletClient! });
    await waitForSuccess(publicClient, await c.token.write.approve([deployment.contracts.nodeRegistry, 1000n * TOKEN]));
    await waitForSuccess(publicClient, await c.nodeRegistry.write.register([100n * TOKEN, 'http://127.0.0.1:1', []]));
  }
  const children: ChildProcess[] = [];
  alive.push(children);
  const inbox: FromNode[][] = [];
  const next = (i: number, type: FromNode['type']) =>
    new Promise<FromNode>((resolve, reject) => {
      const check = () => {
        const k = inbox[i].findIndex((m) => m.type === type);
        if (k >= 0) return resolve(inbox[i].splice(k, 1)[0]);
        setTimeout(check, 20);
      };
      children[i].once('exit', (code) => reject(new Error(`node process ${i} exited with ${code}`)));
      check();
    });
  const addrs: string[] = [];
  // Start a few at a time: 2 CPUs, and each process compiles its imports.
  for (let i = 0; i < n; i++) {
    const child = fork(new URL('./lib/gossipNode.ts', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...heapFlags, ...(process.env.OPENLORA_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.OPENLORA_BENCH_CPU_PROF}`] : [])] });
    children.push(child);
    inbox.push([]);
    child.on('message', (m: FromNode) => inbox[i].push(m));
    child.send({ type: 'init', index: i, rpcUrl, deployment, privateKey: keys[i], follow, batchIntervalMs } satisfies ToNode);
    if (i % 4 === 3 || i === n - 1) for (let j = i - (i % 4); j <= i; j++) addrs[j] = ((await next(j, 'ready')) as { multiaddr: string }).multiaddr;
  }
  // Each node dials its ring neighbours: the nodes it follows and those that follow it.
  const nodes = keys.map((k) => privateKeyToAccount(k).address);
  for (let i = 0; i < n; i++) {
    const ring = ringNeighbours(nodes[i], nodes, follow);
    const peers = [...ring.followees, ...ring.followers].map((a) => addrs[nodes.indexOf(a)]);
    children[i].send({ type: 'connect', addrs: [...new Set(peers)] } satisfies ToNode);
  }
  for (let i = 0; i < n; i++) {
    const m = (await next(i, 'meshed')) as Extract<FromNode, { type: 'meshed' }>;
    if (m.gaps.length > 0) console.log(`warning: node ${i} (${m.peers} peers) has no mesh peer yet on ${m.gaps.join(', ')}`);
  }
  return {
    nodes,
    async run(rate: number, seconds: number, drainMs = 2_000) {
      for (const c of children) c.send({ type: 'run', rate, seconds, drainMs } satisfies ToNode);
      const reports: Array<Extract<FromNode, { type: 'report' }>> = [];
      for (let i = 0; i < n; i++) reports.push((await next(i, 'report')) as Extract<FromNode, { type: 'report' }>);
      return reports;
    },
    async stop() {
      for (const c of children) c.send({ type: 'stop' } satisfies ToNode);
      await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    },
  };
}

/** Node processes started, killed when this process exits for any reason. */
const alive: ChildProcess[][] = [];
process.on('exit', () => {
  for (const list of alive) for (const c of list) if (c.exitCode === null) c.kill();
});

const out: Record<string, unknown> = { cpus: availableParallelism() };
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

if (!args.scale) {
  const n = positiveNumber('nodes', args.nodes);
  const rate = positiveNumber('rate', args.rate);
  const seconds = positiveNumber('seconds', args.seconds);
  const net = await startNodes(n, n - 1, positiveNumber('batch-ms', args['batch-ms']));
  console.log(`${n} node processes, each committing ${rate} receipts/s for ${seconds} s, batches every ${args['batch-ms']} ms; every node follows all others`);
  await net.run(rate, 3); // warm-up (JIT, caches), not measured
  const loadBefore = loadavg()[0];
  const drainMs = 10_000;
  const reports = await net.run(rate, seconds, drainMs);
  const loadAfter = loadavg()[0];
  await net.stop();
  // A receipt is verifiable everywhere when every other node checked it; its latency is the slowest of them.
  const slowest = new Map<string, { count: number; latency: number }>();
  for (const r of reports) {
    for (let k = 0; k < r.verified.seq.length; k++) {
      const key = `${r.verified.sender[k]}:${r.verified.seq[k]}`;
      const e = slowest.get(key) ?? { count: 0, latency: 0 };
      e.count += 1;
      e.latency = Math.max(e.latency, r.verified.latencyMs[k]);
      slowest.set(key, e);
    }
  }
  const committed = reports.reduce((a, r) => a + r.committed, 0);
  const everywhere = [...slowest.values()].filter((e) => e.count === n - 1);
  // Receipts not checked everywhere by the end of the drain count as infinitely late.
  const latencies = [...everywhere.map((e) => e.latency), ...Array.from({ length: committed - everywhere.length }, () => Infinity)];
  // Sustained: what was committed over the run and checked everywhere, per second of the run (the drain only lets the tail arrive).
  const receiptsPerSecond = everywhere.length / seconds;
  Object.assign(out, {
    mode: 'throughput',
    nodes: n,
    offeredPerSecond: rate * n,
    committed,
    verifiedEverywhere: everywhere.length,
    receiptsPerSecond: Math.round(receiptsPerSecond),
    p50Ms: Math.round(percentile(latencies, 0.5)),
    p99Ms: Math.round(percentile(latencies, 0.99)),
    maxMs: Math.round(percentile(latencies, 1)),
    drainMs,
    cpuMsPerSecondPerNode: Math.round(mean(reports.map((r) => r.cpuMs / r.seconds))),
    // CPU of all node processes (committing, serving, fetching, checking, storing) per 1,000 receipts made verifiable everywhere.
    cpuMsPer1kReceipts: Math.round((reports.reduce((a, r) => a + r.cpuMs, 0) / Math.max(1, everywhere.length)) * 1000),
    rssMiBPerNode: Math.round(mean(reports.map((r) => r.rssMiB))),
    loadAverage: [Number(loadBefore.toFixed(1)), Number(loadAfter.toFixed(1))],
  });
  console.log(`committed: ${committed} receipts (${rate * n}/s offered)`);
  console.log(`verified at every other node: ${everywhere.length} of ${committed}`);
  console.log(`throughput (committed and verifiable everywhere): ${out.receiptsPerSecond} receipts/s`);
  const ms = (x: unknown) => (Number.isFinite(x) ? `${x} ms` : `> ${seconds * 1000 + drainMs} ms (not checked everywhere by the end)`);
  console.log(`latency commit -> verifiable everywhere: p50 ${ms(out.p50Ms)}, p99 ${ms(out.p99Ms)}, max ${ms(out.maxMs)}`);
  console.log(`CPU, all node processes: ${out.cpuMsPer1kReceipts} ms per 1,000 receipts (${Math.round((availableParallelism() * 1e6) / (out.cpuMsPer1kReceipts as number))} receipts/s would fill ${availableParallelism()} idle cores); per node ${out.cpuMsPerSecondPerNode} ms CPU per second, ${out.rssMiBPerNode} MiB RSS`);
  console.log(`machine load average (1 min) before / after the run: ${loadBefore.toFixed(1)} / ${loadAfter.toFixed(1)} on ${availableParallelism()} CPUs`);
} else {
  const sizes = args.scale.split(',').map(Number);
  const rate = positiveNumber('scale-rate', args['scale-rate']);
  const seconds = positiveNumber('scale-seconds', args['scale-seconds']);
  const follow = positiveNumber('follow', args.follow);
  const runs = [];
  for (const n of sizes) {
    const net = await startNodes(n, follow, positiveNumber('batch-ms', args['batch-ms']));
    await net.run(rate, 3, 5_000); // warm-up (JIT, caches), not measured
    const loadBefore = loadavg()[0];
    const reports = await net.run(rate, seconds, 5_000);
    const loadAfter = loadavg()[0];
    await net.stop();
    const k = Math.min(follow, n - 1);
    const per1k = (x: (r: (typeof reports)[number]) => number) => mean(reports.map((r) => (x(r) / r.committed) * 1000));
    const run = {
      nodes: n,
      follow: k,
      bytesPerSecondPerNode: Math.round(mean(reports.map((r) => r.bytes / r.seconds))),
      bytesPer1kReceiptsPerNode: Math.round(per1k((r) => r.bytes)),
      cpuMsPerSecondPerNode: Math.round(mean(reports.map((r) => r.cpuMs / r.seconds))),
      cpuMsPer1kReceiptsPerNode: Math.round(per1k((r) => r.cpuMs)),
      // Every node should check k nodes' receipts: the figures compare like with like only when it did.
      checkedFraction: Number((reports.reduce((a, r) => a + r.verified.seq.length, 0) / reports.reduce((a, r) => a + k * r.committed, 0)).toFixed(3)),
      rssMiBPerNode: Math.round(mean(reports.map((r) => r.rssMiB))),
      loadAverage: [Number(loadBefore.toFixed(1)), Number(loadAfter.toFixed(1))],
    };
    runs.push(run);
    console.log(
      `${n} nodes (${rate} receipts/s each, follow ${k}): per node ${run.bytesPerSecondPerNode} B/s and ${run.cpuMsPerSecondPerNode} ms CPU/s = ${run.bytesPer1kReceiptsPerNode} B and ${run.cpuMsPer1kReceiptsPerNode} ms CPU per 1,000 receipts committed; ${(run.checkedFraction * 100).toFixed(1)}% of followed receipts checked; ${run.rssMiBPerNode} MiB RSS (load ${run.loadAverage.join(' / ')})`,
    );
  }
  const spread = (xs: number[]) => Math.max(...xs) / Math.min(...xs);
  Object.assign(out, {
    mode: 'scale',
    ratePerNode: rate,
    runs,
    bytesSpread: Number(spread(runs.map((r) => r.bytesPer1kReceiptsPerNode)).toFixed(3)),
    cpuSpread: Number(spread(runs.map((r) => r.cpuMsPer1kReceiptsPerNode)).toFixed(3)),
  });
  console.log(`bytes per 1,000 receipts per node, largest / smallest across ${sizes.join(', ')} nodes: ${out.bytesSpread}`);
  console.log(`CPU per 1,000 receipts per node, largest / smallest across ${sizes.join(', ')} nodes: ${out.cpuSpread}`);
}

if (args.out) await writeFile(args.out, `${JSON.stringify(out, null, 2)}\n`);
server.close();
await connection.close?.();
process.exit(0);

