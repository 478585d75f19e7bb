/**
 * Voucher-flood benchmark (not a test): `npm run bench:vouchers [-- --backend cpu|webgpu --vouchers N --quick --out FILE]`.
 *
 * A paid node on the tiny model and Hardhat's in-process chain, one payer paying through
 * `createPaidClient`. First the node's heap (after a full GC) and the latency of sequential paid
 * requests (`max_tokens` 1; five rounds of 60, the median round). Then `--vouchers` (default
 * 300,000; 30,000 with --quick) bogus vouchers arrive over HTTP from a worker thread, 64 at a time:
 * nine in ten name made-up channels, one in ten the payer's real channel with a forged signature;
 * the per-client rate limit is lifted so every one reaches the payment gate. Then heap and paid
 * latency again, and the gate's cache sizes.
 *
 * Goal (issue 12): heap and paid-request p50 after the flood within 10% of before: unverified
 * vouchers leave no state and make a bounded number of chain reads.
 */
import { writeFile } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { registerAdapterOnChain } from '../../src/attribution/register.ts';
import { createPaidClient, openChannel } from '../../src/client/index.ts';
import { startBenchChain } from './lib/chain.ts';
import { drive, type Phase } from './lib/load.ts';
import { startBenchNode } from './lib/node.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';

const args = benchArgs(import.meta.url, {
  backend: { type: 'string', default: 'cpu' },
  quick: { type: 'boolean', default: false },
  vouchers: { type: 'string' },
  out: { type: 'string' },
});
const backend = args.backend as 'webgpu' | 'cpu';
if (backend !== 'webgpu' && backend !== 'cpu') throw new Error(`--backend must be webgpu or cpu, got ${args.backend}`);
const floodSize = positiveNumber('vouchers', args.vouchers, args.quick ? 30_000 : 300_000);
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
process.env.OPENLORA_LOG_LEVEL ??= 'warn';
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const NODE = 1;
const PAYER = 3;
const OWNER = 5;
const chain = await startBenchChain();
const { publicClient, accounts, deployment } = chain;
log(`starting a paid node on the tiny model (${backend}) and the in-process chain`);
const bench = await startBenchNode({
  backend,
  adapters: [{ name: 'bench', rank: 8, seed: 11, owner: accounts[OWNER].address }],
  overrides: { 'payments.mode': 'paid', 'api.rateLimitPerMinute': 10_000_000, 'payments.settleEpochMs': 7 * 24 * 3_600_000, 'engine.maxWaiting': 100_000 },
  components: { account: accounts[NODE], deployment, chain: { publicClient, walletClient: chain.wallets[NODE] } },
});
const url = bench.node.url;
const { adapterId } = await registerAdapterOnChain({ ctx: { publicClient, walletClient: chain.wallets[OWNER], deployment }, adapter: bench.adapters[0].dir, model: bench.modelDir, datanetIds: [], royaltyBps: 1000, contributorBps: 0 });
const { channelId } = await openChannel({ publicClient, walletClient: chain.wallets[PAYER], deployment }, { node: accounts[NODE].address, amount: 1000n * 10n ** 18n });
const payer = await createPaidClient({ url, account: accounts[PAYER], channelId, nodeRegistry: deployment.contracts.nodeRegistry });

async function paidRequest(): Promise<number> {
  const res = await payer.fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'bench', prompt: 'The quick brown fox', max_tokens: 1, temperature: 0 }) });
  if (res.status !== 200) throw new Error(`paid request: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens;
}

function heapMiB(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** Heap after a full GC, and paid latency: five rounds of 60 sequential requests, the round with the median p50 (a busy machine's noise spread over time). */
async function measure(label: string): Promise<{ heapMiB: number; paid: Phase }> {
  const rounds: Phase[] = [];
  for (let i = 0; i < 5; i++) rounds.push(await drive(1, 60_000, 60, paidRequest));
  rounds.sort((a, b) => a.p50Ms - b.p50Ms);
  const paid = rounds[2];
  const heap = heapMiB();
  log(`${label}: heap ${heap.toFixed(1)} MiB, paid request p50 ${paid.p50Ms.toFixed(2)} ms, p99 ${paid.p99Ms.toFixed(2)} ms`);
  return { heapMiB: heap, paid };
}

/**
 * The flood comes from a worker thread, as it would from other machines: the node's event loop is
 * what is measured. Nine in ten vouchers name made-up channels, one in ten the real channel with a
 * random (forged) signature; 64 requests in flight.
 */
function flood(count: number): Promise<{ seconds: number; outcomes: Record<string, number> }> {
  const worker = new Worker(
    `const { workerData: w, parentPort } = require('node:worker_threads');
     const hex = (n) => '0x' + Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString('hex');
     const body = JSON.stringify({ model: 'bench', prompt: 'free lunch', max_tokens: 1 });
     const outcomes = {};
     let next = 0;
     const t0 = performance.now();
     Promise.all(Array.from({ length: 64 }, async () => {
       while (next < w.count) {
         const i = next++;
         const voucher = { channelId: i % 10 === 0 ? w.channelId : hex(32), adapterId: w.adapterId, cumulativeAmount: '0', signature: hex(65) };
         const res = await fetch(w.url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json', 'x-openlora-voucher': Buffer.from(JSON.stringify(voucher)).toString('base64') }, body });
         const json = await res.json();
         const key = res.status + ' ' + (json.error?.payment?.reason ?? json.error?.code);
         outcomes[key] = (outcomes[key] ?? 0) + 1;
         if (i > 0 && i % 50000 === 0) parentPort.postMessage({ progress: i });
       }
     })).then(() => parentPort.postMessage({ seconds: (performance.now() - t0) / 1000, outcomes }));`,
    { eval: true, workerData: { url, channelId, adapterId, count } },
  );
  return new Promise((resolve, reject) => {
    worker.on('message', (m: { progress?: number; seconds?: number; outcomes?: Record<string, number> }) => {
      if (m.progress !== undefined) log(`  ${m.progress} sent`);
      else void worker.terminate().then(() => resolve(m as { seconds: number; outcomes: Record<string, number> }));
    });
    worker.once('error', reject);
  });
}

let before: Awaited<ReturnType<typeof measure>>;
let after: Awaited<ReturnType<typeof measure>>;
let floodSeconds = 0;
let outcomes: Record<string, number> = {};
let stats: ReturnType<NonNullable<typeof bench.node.paid>['gate']['stats']>;
try {
  log('warm-up');
  await drive(1, 10_000, 100, paidRequest);
  before = await measure('before');
  log(`sending ${floodSize} bogus vouchers`);
  ({ seconds: floodSeconds, outcomes } = await flood(floodSize));
  stats = bench.node.paid!.gate.stats();
  after = await measure('after');
} finally {
  await bench.stop();
}

const heapRatio = after.heapMiB / before.heapMiB;
const p50Ratio = after.paid.p50Ms / before.paid.p50Ms;
const lines = [
  `openlora voucher-flood bench: tiny model, ${backend} backend, ${floodSize} bogus vouchers in ${floodSeconds.toFixed(1)} s (${(floodSize / floodSeconds).toFixed(0)}/s)`,
  '',
  `               heap MiB   paid p50 ms   paid p99 ms`,
  `  before     ${before.heapMiB.toFixed(1).padStart(8)}   ${before.paid.p50Ms.toFixed(2).padStart(11)}   ${before.paid.p99Ms.toFixed(2).padStart(11)}`,
  `  after      ${after.heapMiB.toFixed(1).padStart(8)}   ${after.paid.p50Ms.toFixed(2).padStart(11)}   ${after.paid.p99Ms.toFixed(2).padStart(11)}`,
  '',
  `  refusals: ${Object.entries(outcomes).sort().map(([k, n]) => `${k} x${n}`).join(', ')}`,
  `  gate caches after: ${stats.channels} channels, ${stats.accounts} accounts, ${stats.signatures} signatures`,
  '',
  `goal heap after/before <= 1.10: ${heapRatio.toFixed(3)} ${heapRatio <= 1.1 ? 'MET' : 'MISSED'}`,
  `goal paid p50 after/before <= 1.10: ${p50Ratio.toFixed(3)} ${p50Ratio <= 1.1 ? 'MET' : 'MISSED'}`,
];
process.stdout.write(lines.join('\n') + '\n');
if (args.out) {
  await writeFile(args.out, JSON.stringify({ backend, model: 'tiny', vouchers: floodSize, floodSeconds, before, after, refusals: outcomes, caches: stats, goals: { heapRatio, p50Ratio } }, null, 2) + '\n');
  log(`wrote ${args.out}`);
}
