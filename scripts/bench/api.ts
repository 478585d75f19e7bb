/**
 * API benchmark (not a test): `npm run bench:api [-- --backend webgpu|cpu --quick --out FILE]`.
 *
 * Against a live node on the `tiny` model (started in-process, HTTP over loopback with undici
 * `fetch`): requests/s, latency p50/p99 and completion tokens/s of `/v1/completions` at
 * concurrency 1, 16 and 64 with `max_tokens` 1 and 32 (`temperature: 0`). The same requests run
 * straight through the inference service (`node.inference.generate`, scheduler + engine, no HTTP)
 * at the same concurrency; the difference of the p50s is the time the API, payment gate,
 * metering, receipt signing and the ledger add per request. Then the receipt path on its own:
 * `createReceiptIssuer` over a file ledger (WAL, synchronous = FULL), receipts issued one after
 * another and 64 at a time -> receipts/s and per-receipt p50.
 *
 * Goals (issue): added time p50 < 2 ms per request; >= 2,000 receipts/s signed and stored.
 * Each phase runs for `--seconds` (default 8; 1 with --quick) or `--max-requests`, whichever
 * ends first, after a short warm-up.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keccak256, stringToHex, zeroAddress, zeroHash } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { openLedgerDatabase } from '../../src/ledger/db.ts';
import { createReceiptLedger } from '../../src/ledger/receipts.ts';
import { createReceiptIssuer, type IssueReceiptParameters } from '../../src/payments/receipts.ts';
import { drive, type Phase } from './lib/load.ts';
import { startBenchNode } from './lib/node.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';

const args = benchArgs(import.meta.url, {
  backend: { type: 'string', default: 'webgpu' },
  quick: { type: 'boolean', default: false },
  seconds: { type: 'string' },
  'max-requests': { type: 'string', default: '4000' },
  concurrency: { type: 'string', default: '1,16,64' },
  'max-tokens': { type: 'string', default: '1,32' },
  receipts: { type: 'string' },
  out: { type: 'string' },
});
const backend = args.backend as 'webgpu' | 'cpu';
if (backend !== 'webgpu' && backend !== 'cpu') throw new Error(`--backend must be webgpu or cpu, got ${args.backend}`);
const phaseMs = positiveNumber('seconds', args.seconds, args.quick ? 1 : 8) * 1000;
const maxRequests = positiveNumber('max-requests', args['max-requests']);
const concurrencies = args.concurrency!.split(',').map(Number);
const maxTokensList = args['max-tokens']!.split(',').map(Number);
const receiptCount = positiveNumber('receipts', args.receipts, args.quick ? 1000 : 4000);
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
process.env.OPENLORA_LOG_LEVEL ??= 'warn'; // the logger reads it on first use; per-request lines would skew the timings

const PROMPT = 'The quick brown fox jumps over the lazy dog.';

// ------------------------------------------------------------------ node: HTTP vs engine
log(`starting a node on the tiny model (${backend})`);
const bench = await startBenchNode({
  backend,
  overrides: { 'api.rateLimitPerMinute': 10_000_000, 'engine.kvBlocks': 1024, 'engine.maxRunning': 64, 'engine.maxWaiting': 100_000 },
});
const { node } = bench;
const model = node.inference.resolve(node.inference.baseModelName);
const promptIds = node.inference.promptIds({ prompt: PROMPT });
const sampling = { temperature: 0, topK: 0, topP: 1, seed: 0 };

async function viaHttp(maxTokens: number): Promise<number> {
  const res = await fetch(`${node.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: model.name, prompt: PROMPT, max_tokens: maxTokens, temperature: 0 }),
  });
  const body = (await res.json()) as { usage?: { completion_tokens: number } };
  if (res.status !== 200 || !res.headers.get('x-openlora-receipt')) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
  return body.usage!.completion_tokens;
}

async function viaEngine(maxTokens: number): Promise<number> {
  let produced = 0;
  for await (const event of node.inference.generate({ promptIds, model, maxTokens, sampling })) {
    if (event.type === 'done') produced = event.usage.completionTokens;
  }
  return produced;
}

const rows: Array<{ concurrency: number; maxTokens: number; http: Phase; engine: Phase; addedP50Ms: number }> = [];
try {
  log('warm-up');
  await drive(4, Math.min(phaseMs, 2000), 200, () => viaHttp(32));
  await drive(4, Math.min(phaseMs, 2000), 200, () => viaEngine(32));
  for (const maxTokens of maxTokensList) {
    for (const concurrency of concurrencies) {
      const engine = await drive(concurrency, phaseMs, maxRequests, () => viaEngine(maxTokens));
      const http = await drive(concurrency, phaseMs, maxRequests, () => viaHttp(maxTokens));
      const row = { concurrency, maxTokens, http, engine, addedP50Ms: http.p50Ms - engine.p50Ms };
      rows.push(row);
      log(`c=${concurrency} max_tokens=${maxTokens}: ${http.rps.toFixed(0)} req/s over HTTP, ${engine.rps.toFixed(0)} req/s engine only, added p50 ${row.addedP50Ms.toFixed(2)} ms`);
    }
  }
} finally {
  await bench.stop();
}

// ------------------------------------------------------------------ receipt path alone
const dir = await mkdtemp(join(tmpdir(), 'openlora-bench-receipts-'));
const db = openLedgerDatabase(join(dir, 'ledger.db'));
const ledger = createReceiptLedger(db);
const issuer = createReceiptIssuer({ account: privateKeyToAccount(generatePrivateKey()), chainId: 8453, nodeRegistry: zeroAddress, ledger });
const zero = zeroHash;
let key = 0;
let benchCharged = 0n;
const lane = { charged: () => benchCharged, commit: (_amount: bigint, laneCharged: bigint) => void (benchCharged = laneCharged) };
const params = (): IssueReceiptParameters => ({
  payer: 'key:bench', channelId: keccak256(stringToHex('bench')), adapterId: zero, requestKey: `bench-${key++}`,
  promptTokens: 12, completionTokens: 32, amount: 4400n, lane, voucherDigest: zero, attributionDigest: zero,
});
const receipts: Array<{ mode: string; count: number; perSecond: number; p50Ms: number; p99Ms: number }> = [];
try {
  for (const [mode, concurrency] of [['sequential', 1], ['64 in flight', 64]] as const) {
    await drive(concurrency, 10_000, 200, async () => (await issuer.issue(params()), 0)); // warm-up
    const r = await drive(concurrency, 60_000, receiptCount, async () => (await issuer.issue(params()), 0));
    receipts.push({ mode, count: r.requests, perSecond: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms });
    log(`receipts ${mode}: ${r.rps.toFixed(0)}/s, p50 ${r.p50Ms.toFixed(3)} ms`);
  }
  if (ledger.count() !== receipts.reduce((n, r) => n + r.count, 400)) throw new Error(`ledger holds ${ledger.count()} receipts, expected every one issued`);
} finally {
  db.close();
  await rm(dir, { recursive: true, force: true });
}

// ------------------------------------------------------------------ report
const f = (x: number, d = 1) => x.toFixed(d).padStart(8);
const lines = [
  `openlora API bench: tiny model, ${backend} backend, ${phaseMs / 1000} s per phase`,
  '',
  ' conc  max_tok |   req/s   p50 ms   p99 ms    tok/s | engine req/s   p50 ms   p99 ms | added p50 ms',
  ...rows.map((r) => `${String(r.concurrency).padStart(5)} ${String(r.maxTokens).padStart(8)} |${f(r.http.rps)} ${f(r.http.p50Ms, 2)} ${f(r.http.p99Ms, 2)} ${f(r.http.tokensPerSecond)} |    ${f(r.engine.rps)} ${f(r.engine.p50Ms, 2)} ${f(r.engine.p99Ms, 2)} | ${f(r.addedP50Ms, 2)}`),
  '',
  ' receipts (sign + store) |  receipts/s   p50 ms   p99 ms',
  ...receipts.map((r) => `${r.mode.padStart(24)} |  ${f(r.perSecond, 0)}   ${f(r.p50Ms, 3)} ${f(r.p99Ms, 3)}`),
  '',
];
const c1 = rows.find((r) => r.concurrency === 1 && r.maxTokens === Math.min(...maxTokensList));
const best = Math.max(...receipts.map((r) => r.perSecond));
if (c1) lines.push(`goal added p50 < 2 ms (concurrency 1, max_tokens ${c1.maxTokens}): ${c1.addedP50Ms.toFixed(2)} ms ${c1.addedP50Ms < 2 ? 'MET' : 'MISSED'}`);
lines.push(`goal >= 2,000 receipts/s: ${best.toFixed(0)}/s ${best >= 2000 ? 'MET' : 'MISSED'}`);
process.stdout.write(lines.join('\n') + '\n');
if (args.out) {
  await writeFile(args.out, JSON.stringify({ backend, model: 'tiny', phaseSeconds: phaseMs / 1000, completions: rows, receipts, goals: { addedP50Ms: c1?.addedP50Ms, receiptsPerSecond: best } }, null, 2) + '\n');
  log(`wrote ${args.out}`);
}
