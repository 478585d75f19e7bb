/**
 * Settlement benchmark (not a test): `npm run bench:settle [-- --backend cpu|webgpu --quick --out FILE]`.
 *
 * Part A, the overhead of vouchers: the same `/v1/completions` mix (`max_tokens` 1 and 8,
 * concurrency 1 and 8, `temperature: 0`, one LoRA adapter) against an open-mode node and a
 * paid-mode node on Hardhat's in-process chain, the paid one through `createPaidClient().fetch`
 * (a voucher signed per request, every receipt verified before it is acknowledged). Both nodes run
 * at once and the phases alternate, so drift hits both. Reports req/s, p50/p99 and paid/open.
 *
 * Part B, gas per settled request: for 1 and 10 lanes (one channel each, on an adapter with a
 * royalty and an attribution root, so a settlement pays node, owner, treasury and contributors),
 * N = 10, 100 and 1,000 real paid requests per lane per epoch, then `settlement.settleNow()`.
 * Gas is read from the receipts of the transactions that emitted `LaneSettled`. A settlement claims
 * one voucher per lane whatever N is, so its gas depends on the lanes only and gas per request
 * falls as 1/N. The first epoch of a lane writes its `laneClaimed` slot from zero (20k more gas
 * per lane); later epochs are the steady state.
 *
 * Goals (issue): paid req/s within 10% of open; < 500 gas per request at 1,000 requests per lane
 * per epoch. Each Part A phase runs for `--seconds` (default 4; 1 with --quick).
 */
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Hex } from 'viem';
import { registerAdapterOnChain } from '../../src/attribution/register.ts';
import { paymentChannelsAbi } from '../../src/chain/generated/abis.ts';
import { recoverVoucherSigner, signVoucher } from '../../src/chain/eip712.ts';
import { buildAttributionTree } from '../../src/chain/merkle.ts';
import { createPaidClient, openChannel, type PaidClient } from '../../src/client/index.ts';
import { startBenchChain } from './lib/chain.ts';
import { drive, type Phase } from './lib/load.ts';
import { startBenchNode } from './lib/node.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';

const args = benchArgs(import.meta.url, {
  backend: { type: 'string', default: 'cpu' },
  quick: { type: 'boolean', default: false },
  seconds: { type: 'string' },
  concurrency: { type: 'string', default: '1,8' },
  'max-tokens': { type: 'string', default: '1,8' },
  requests: { type: 'string' },
  lanes: { type: 'string', default: '1,10' },
  'max-real': { type: 'string', default: '200' },
  out: { type: 'string' },
});
const backend = args.backend as 'webgpu' | 'cpu';
if (backend !== 'webgpu' && backend !== 'cpu') throw new Error(`--backend must be webgpu or cpu, got ${args.backend}`);
const phaseMs = positiveNumber('seconds', args.seconds, args.quick ? 1 : 4) * 1000;
const concurrencies = args.concurrency!.split(',').map(Number);
const maxTokensList = args['max-tokens']!.split(',').map(Number);
const perLaneList = (args.requests ?? (args.quick ? '10,100' : '10,100,1000')).split(',').map(Number);
const laneCounts = args.lanes!.split(',').map(Number);
/** Epochs of more requests (all lanes together) than this are signed directly instead of served. */
const maxReal = positiveNumber('max-real', args['max-real']);
if (perLaneList.some((n, i) => i > 0 && n < perLaneList[i - 1])) throw new Error('--requests must ascend (served epochs come before signed ones)');
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
process.env.OPENLORA_LOG_LEVEL ??= 'warn'; // per-request log lines would skew the timings

const NODE = 1;
const PAYER = 3;
const OWNER = 5;
const PROMPT = 'The quick brown fox jumps over the lazy dog.';
/** Concurrent requests in Part B, spread over the lanes. */
const LOAD = 8;

const chain = await startBenchChain({ protocolFeeBps: 200 });
const { publicClient, accounts, deployment } = chain;
const overrides = { 'api.rateLimitPerMinute': 10_000_000, 'engine.kvBlocks': 512, 'engine.maxRunning': 32, 'engine.maxWaiting': 100_000 };
const adapter = { name: 'bench', rank: 8, seed: 11 };

log(`starting an open-mode and a paid-mode node on the tiny model (${backend}) and the in-process chain`);
const open = await startBenchNode({ backend, overrides, adapters: [adapter] });
const paidNode = await startBenchNode({
  backend,
  adapters: [{ ...adapter, owner: accounts[OWNER].address }],
  overrides: {
    ...overrides,
    'payments.mode': 'paid',
    'payments.creditLimit': (10n ** 24n).toString(),
    'payments.settleEpochMs': 7 * 24 * 3_600_000, // settled only by settleNow() here
    'payments.settleThreshold': (10n ** 29n).toString(),
  },
  components: { account: accounts[NODE], deployment, chain: { publicClient, walletClient: chain.wallets[NODE] } },
});
const ownerCtx = { publicClient, walletClient: chain.wallets[OWNER], deployment };
const { adapterId } = await registerAdapterOnChain({ ctx: ownerCtx, adapter: paidNode.adapters[0].dir, model: paidNode.modelDir, datanetIds: [], royaltyBps: 1000, contributorBps: 5000 });
const tree = buildAttributionTree({ adapterId, leaves: [{ contributor: accounts[6].address, weight: 3n }, { contributor: accounts[7].address, weight: 1n }] });
await chain.wait(chain.as(OWNER).adapterRegistry.write.setAttributionRoot([adapterId, tree.root, tree.totalWeight]));
const payerCtx = { publicClient, walletClient: chain.wallets[PAYER], deployment };

async function newPaidClient(): Promise<{ channelId: Hex; client: PaidClient }> {
  const { channelId } = await openChannel(payerCtx, { node: accounts[NODE].address, amount: 1000n * 10n ** 18n, withdrawDelay: 3600n });
  const client = await createPaidClient({ url: paidNode.node.url, account: accounts[PAYER], channelId, nodeRegistry: deployment.contracts.nodeRegistry });
  return { channelId, client };
}

/** One completion through `fetchFn`; resolves with its completion tokens. */
async function complete(url: string, fetchFn: typeof fetch, maxTokens: number): Promise<number> {
  const res = await fetchFn(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: adapter.name, prompt: PROMPT, max_tokens: maxTokens, temperature: 0 }),
  });
  const body = (await res.json()) as { usage?: { completion_tokens: number } };
  if (res.status !== 200 || !res.headers.get('x-openlora-receipt')) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
  return body.usage!.completion_tokens;
}

/** Gas of the `settle` transactions mined after `fromBlock`, and the lanes they paid. */
async function settledSince(fromBlock: bigint): Promise<{ txs: number; gas: bigint; lanes: number }> {
  const logs = await publicClient.getContractEvents({ address: deployment.contracts.paymentChannels, abi: paymentChannelsAbi, eventName: 'LaneSettled', fromBlock: fromBlock + 1n });
  const hashes = [...new Set(logs.map((l) => l.transactionHash))];
  const receipts = await Promise.all(hashes.map((hash) => publicClient.getTransactionReceipt({ hash })));
  return { txs: hashes.length, gas: receipts.reduce((s, r) => s + r.gasUsed, 0n), lanes: logs.length };
}

// ------------------------------------------------------------------ Part A: open vs paid
interface ModeRow { concurrency: number; maxTokens: number; open: Phase; paid: Phase; ratio: number }
const modeRows: ModeRow[] = [];
let partASettle: { requests: number; gas: bigint } | undefined;
try {
  const a = await newPaidClient();
  const viaOpen = (mt: number) => complete(open.node.url, fetch, mt);
  const viaPaid = (mt: number) => complete(paidNode.node.url, a.client.fetch, mt);
  log('warm-up');
  await drive(4, Math.min(phaseMs, 2000), 200, () => viaOpen(8));
  await drive(4, Math.min(phaseMs, 2000), 200, () => viaPaid(8));
  for (const maxTokens of maxTokensList) {
    for (const concurrency of concurrencies) {
      const o = await drive(concurrency, phaseMs, 1e9, () => viaOpen(maxTokens));
      const p = await drive(concurrency, phaseMs, 1e9, () => viaPaid(maxTokens));
      const row = { concurrency, maxTokens, open: o, paid: p, ratio: p.rps / o.rps };
      modeRows.push(row);
      log(`c=${concurrency} max_tokens=${maxTokens}: open ${o.rps.toFixed(0)} req/s, paid ${p.rps.toFixed(0)} req/s (${(row.ratio * 100).toFixed(1)}%)`);
    }
  }
  // Settle what Part A served, so Part B measures its own lanes (and credits are already non-zero, as on a live node).
  await a.client.payTail();
  const before = await publicClient.getBlockNumber();
  await paidNode.node.paid!.settlement.settleNow();
  const s = await settledSince(before);
  partASettle = { requests: paidNode.node.ledger.count(), gas: s.gas }; // only Part A has been served on this node
  log(`Part A lane settled: ${partASettle.requests} requests, ${s.gas} gas`);
} finally {
  await open.stop();
}

// What a voucher costs in CPU here: the payer signs one and verifies one receipt (a recovery) per
// request, the node recovers the voucher's signer. In this bench payer and node share the process.
const domain = { chainId: deployment.chainId, paymentChannels: deployment.contracts.paymentChannels };
const probe = { channelId: adapterId, adapterId, cumulativeAmount: 1n };
let t = performance.now();
const probeSig = await signVoucher({ account: accounts[PAYER], voucher: probe, ...domain });
for (let i = 0; i < 99; i++) await signVoucher({ account: accounts[PAYER], voucher: { ...probe, cumulativeAmount: BigInt(i + 2) }, ...domain });
const signMs = (performance.now() - t) / 100;
t = performance.now();
for (let i = 0; i < 100; i++) await recoverVoucherSigner({ voucher: probe, signature: probeSig, ...domain });
const recoverMs = (performance.now() - t) / 100;
log(`voucher sign ${signMs.toFixed(2)} ms, signature recovery ${recoverMs.toFixed(2)} ms`);

// ------------------------------------------------------------------ Part B: gas per settled request
interface GasRow { lanes: number; perLane: number; epoch: 'first' | 'steady'; source: 'served' | 'signed'; requests: number; seconds: number; txs: number; gas: bigint; gasPerLane: number; gasPerRequest: number }
const gasRows: GasRow[] = [];
try {
  for (const laneCount of laneCounts) {
    const lanes = await Promise.all(Array.from({ length: laneCount }, () => newPaidClient()));
    const epochs = [{ perLane: perLaneList[0], epoch: 'first' as const }, ...perLaneList.map((perLane) => ({ perLane, epoch: 'steady' as const }))];
    let perRequest = 0n; // charge of one request (same prompt, max_tokens 1), from the real epochs
    for (const { perLane, epoch } of epochs) {
      const t0 = performance.now();
      const before = await publicClient.getBlockNumber();
      let requests: number;
      const direct = perLane * laneCount > maxReal;
      if (!direct) {
        const workers = Math.max(1, Math.ceil(LOAD / laneCount));
        const phases = await Promise.all(lanes.map((l) => drive(workers, Infinity, perLane, () => complete(paidNode.node.url, l.client.fetch, 1))));
        await Promise.all(lanes.map((l) => l.client.payTail()));
        requests = phases.reduce((n, p) => n + p.requests, 0);
        const paid = await paidNode.node.paid!.settlement.settleNow();
        if (paid === 0n) throw new Error('the node settled nothing');
        for (const l of lanes) {
          const [lane] = l.client.lanes();
          const claimed = await publicClient.readContract({ address: deployment.contracts.paymentChannels, abi: paymentChannelsAbi, functionName: 'laneClaimed', args: [l.channelId, lane.adapterId] });
          if (claimed !== lane.charged) throw new Error(`lane ${l.channelId} claimed ${claimed}, the payer acknowledged ${lane.charged}`);
        }
        perRequest = paid / BigInt(requests);
      } else {
        // Too many requests for the time budget: the payer signs the voucher N more requests would
        // have acknowledged and the node's key sends the same settle call its worker sends.
        requests = perLane * laneCount;
        const claims = await Promise.all(lanes.map(async (l) => {
          const claimed = await publicClient.readContract({ address: deployment.contracts.paymentChannels, abi: paymentChannelsAbi, functionName: 'laneClaimed', args: [l.channelId, adapterId] });
          const voucher = { channelId: l.channelId, adapterId, cumulativeAmount: claimed + BigInt(perLane) * perRequest };
          return { voucher, signature: await signVoucher({ account: accounts[PAYER], voucher, chainId: deployment.chainId, paymentChannels: deployment.contracts.paymentChannels }) };
        }));
        await chain.wait(chain.as(NODE).paymentChannels.write.settle([claims]));
      }
      const s = await settledSince(before);
      if (s.lanes !== laneCount) throw new Error(`expected ${laneCount} lanes settled, the chain settled ${s.lanes}`);
      const row: GasRow = { lanes: laneCount, perLane, epoch, source: direct ? 'signed' : 'served', requests, seconds: (performance.now() - t0) / 1000, txs: s.txs, gas: s.gas, gasPerLane: Number(s.gas) / laneCount, gasPerRequest: Number(s.gas) / requests };
      gasRows.push(row);
      log(`${laneCount} lane(s) x ${perLane} requests (${epoch}, ${row.source}): ${s.gas} gas in ${s.txs} tx, ${row.gasPerRequest.toFixed(1)} gas/request, ${row.seconds.toFixed(1)} s`);
    }
  }
} finally {
  await paidNode.stop();
}

// ------------------------------------------------------------------ report
const f = (x: number, d = 1, w = 8) => x.toFixed(d).padStart(w);
const worst = Math.min(...modeRows.map((r) => r.ratio));
const at1000 = gasRows.filter((r) => r.perLane === 1000 && r.epoch === 'steady');
const worstGas = at1000.length ? Math.max(...at1000.map((r) => r.gasPerRequest)) : NaN;
const lines = [
  `openlora settlement bench: tiny model, ${backend} backend, one adapter (royalty 10%, half to contributors), ${phaseMs / 1000} s per phase`,
  '',
  'A. paid (voucher per request, receipt verified) vs open mode, /v1/completions',
  ' conc  max_tok |  open req/s   p50 ms   p99 ms |  paid req/s   p50 ms   p99 ms | paid/open',
  ...modeRows.map((r) => `${String(r.concurrency).padStart(5)} ${String(r.maxTokens).padStart(8)} |    ${f(r.open.rps)} ${f(r.open.p50Ms, 2)} ${f(r.open.p99Ms, 2)} |    ${f(r.paid.rps)} ${f(r.paid.p50Ms, 2)} ${f(r.paid.p99Ms, 2)} | ${f(r.ratio * 100, 1, 7)}%`),
  '',
  'B. gas per settled request (one settle tx; one voucher per lane; gas depends on lanes, not on N)',
  ' lanes  req/lane  epoch   source | requests  txs   settle gas  gas/lane  gas/request',
  ...gasRows.map((r) => `${String(r.lanes).padStart(6)} ${String(r.perLane).padStart(9)}  ${r.epoch.padEnd(6)}  ${r.source.padEnd(6)} | ${String(r.requests).padStart(8)} ${String(r.txs).padStart(4)} ${String(r.gas).padStart(12)} ${f(r.gasPerLane, 0, 9)} ${f(r.gasPerRequest, 1, 12)}`),
  '  first: the lane\'s first settlement (laneClaimed written from zero); steady: every later epoch.',
  `  served: real paid requests, settled by the node's worker; signed: epochs of more than ${maxReal} requests, the payer signs the voucher`,
  '  those requests would have acknowledged and the node key sends the same settle call (its gas does not depend on N).',
  '',
  `CPU per paid request: payer ${(signMs + recoverMs).toFixed(1)} ms (sign voucher + recover receipt signer), node ${recoverMs.toFixed(1)} ms (recover voucher signer), on ${availableParallelism()} core(s), same process`,
  `goal paid within 10% of open: worst paid/open ${(worst * 100).toFixed(1)}% ${worst >= 0.9 ? 'MET' : 'MISSED'}`,
  `goal < 500 gas/request at 1,000 requests/lane/epoch: ${Number.isNaN(worstGas) ? 'not measured (--requests without 1000)' : `${worstGas.toFixed(1)} gas ${worstGas < 500 ? 'MET' : 'MISSED'}`}`,
];
process.stdout.write(lines.join('\n') + '\n');
if (args.out) {
  const json = { backend, model: 'tiny', phaseSeconds: phaseMs / 1000, modes: modeRows, cryptoMs: { sign: signMs, recover: recoverMs }, cores: availableParallelism(), partASettle, settlements: gasRows, goals: { worstPaidOverOpen: worst, worstGasPerRequestAt1000: worstGas } };
  await writeFile(args.out, JSON.stringify(json, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
  log(`wrote ${args.out}`);
}
process.exit(0); // the in-process chain keeps handles open
