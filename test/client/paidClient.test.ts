/**
 * The client SDK against a real paid node on a real chain, the way payers live: restarts, two
 * processes of one payer, a node that lies, a ledger write that fails. Every check goes through
 * `openlora/client` and the official `openai` client.
 */
import OpenAI from 'openai';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keccak256, toHex, type Hex } from 'viem';
import { signUsageReceipt } from '../../src/chain/eip712.ts';
import { NodeEquivocatedError, createFileStore, createPaidClient, proveEquivocation, type CreatePaidClientParameters, type PaidClient, type ReceiptJson } from '../../src/client/index.ts';
import { charge } from '../../src/payments/pricing.ts';
import { receiptFromJson } from '../../src/payments/receiptJson.ts';
import { receiptToJson } from '../../src/payments/receipts.ts';
import type { Chain } from '../contracts/fixture.ts';
import type { TestNode } from '../fixtures/node.ts';
import { PAID_ROLES, startPaidTestNode } from '../fixtures/paidNode.ts';

const { node: NODE, payer: PAYER } = PAID_ROLES;
const PRICE = { inputPer1k: 1000n, outputPer1k: 2000n }; // the config defaults

let c: Chain;
let t: TestNode;
let channelId: Hex;
const lanes = new Map<string, Hex>();

beforeAll(async () => {
  let started: Map<string, Hex>;
  ({ c, t, channelId, lanes: started } = await startPaidTestNode({ 'api.rateLimitPerMinute': 1_000_000, 'payments.channelCacheSize': 200, 'payments.channelLookupsPerSecond': 20 }));
  for (const [name, id] of started) lanes.set(name, id);
});

afterAll(async () => {
  await t?.node.stop();
});

const payer = (extra: Partial<CreatePaidClientParameters> = {}) => createPaidClient({ url: t.node.url, account: c.accounts[PAYER], channelId, nodeRegistry: c.deployment.contracts.nodeRegistry, ...extra });
const openaiOf = (paid: PaidClient) => new OpenAI({ baseURL: `${t.node.url}/v1`, apiKey: 'paid-by-voucher', fetch: paid.fetch, maxRetries: 0 });
const ask = (paid: PaidClient, model: string, prompt: string, maxTokens = 3) => openaiOf(paid).completions.create({ model, prompt, max_tokens: maxTokens, temperature: 0 });

/** The node's view of a lane (what it charged, the voucher it holds), read as the SDK reads it. */
async function laneView(model: string) {
  const r = (await (await fetch(`${t.node.url}/v1/payment?model=${model}&channel=${channelId}`)).json()) as { lane: { charged: string; acknowledged: string } };
  return { charged: BigInt(r.lane.charged), acknowledged: BigInt(r.lane.acknowledged) };
}

/** A fetch in front of the node that rewrites what it answers (the node's own key re-signs). */
function lyingFetch(rewrite: (url: URL, response: Response) => Promise<Response>): typeof fetch {
  return async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    return rewrite(url, await fetch(input, init));
  };
}

async function resign(json: ReceiptJson, change: Partial<Record<keyof ReceiptJson['receipt'], string | number>>): Promise<ReceiptJson> {
  const receipt = { ...json.receipt, ...change } as ReceiptJson['receipt'];
  const signature = await signUsageReceipt({ account: c.accounts[NODE], receipt: receiptFromJson({ receipt }), chainId: c.chainId, nodeRegistry: c.deployment.contracts.nodeRegistry });
  return { ...json, receipt, signature, digest: keccak256(signature) };
}

const jsonResponse = (body: unknown, from: Response, headers: Record<string, string> = {}) => {
  const h = new Headers(from.headers);
  h.delete('content-length');
  for (const [k, v] of Object.entries(headers)) h.set(k, v);
  return new Response(JSON.stringify(body), { status: from.status, headers: h });
};

describe('a payer that restarts, or runs twice, resumes every lane without trusting the node', () => {
  it('a restarted payer acknowledges the unacknowledged tail of its own requests, then pays on', async () => {
    const before = await laneView('poet');
    const first = await payer();
    for (let i = 0; i < 3; i++) await ask(first, 'poet', `restart ${i}`);
    // The process dies here: its last receipt was never acknowledged by a voucher.
    expect((await laneView('poet')).acknowledged).toBeLessThan((await laneView('poet')).charged);
    const second = await payer();
    const answer = await ask(second, 'poet', 'after restart');
    expect(answer.choices[0].text.length).toBeGreaterThan(0);
    await second.payTail();
    const after = await laneView('poet');
    expect(after.acknowledged).toBe(after.charged);
    expect(second.lanes().find((l) => l.adapterId === lanes.get('poet'))?.charged).toBe(after.charged);
    expect(after.charged).toBeGreaterThan(before.charged);
  });

  it('two processes of one payer on one lane, interleaved and concurrent, never refused and acknowledging exactly the charge', async () => {
    const [a, b] = await Promise.all([payer(), payer()]);
    for (let i = 0; i < 3; i++) {
      await ask(a, 'coder', `a${i}`);
      await ask(b, 'coder', `b${i}`);
    }
    await Promise.all([ask(a, 'coder', 'a-concurrent'), ask(b, 'coder', 'b-concurrent'), ask(a, 'coder', 'a2-concurrent')]);
    await a.payTail();
    await b.payTail();
    const view = await laneView('coder');
    expect(view.acknowledged).toBe(view.charged);
    expect(a.error).toBeUndefined();
    expect(b.error).toBeUndefined();
  });

  it('a persistent store keeps the acknowledged total when the node forgets it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'openlora-store-')), 'lanes.json');
    const first = await payer({ store: createFileStore(file) });
    await ask(first, 'lawyer', 'stored');
    await first.payTail();
    const acked = first.lanes()[0].charged;
    expect(Object.values(JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>).map((v) => (JSON.parse(v) as { acked: string }).acked)).toContain(acked.toString());
    // A node that hides the payer's voucher and every receipt, yet claims the full charge.
    const amnesiac = lyingFetch(async (url, response) => {
      if (url.pathname === '/v1/receipts') return jsonResponse({ object: 'list', data: [], next: null }, response);
      if (url.pathname === '/v1/payment' && url.searchParams.has('channel')) {
        const body = (await response.json()) as { lane: Record<string, unknown> };
        return jsonResponse({ ...body, lane: { ...body.lane, voucher: null, tail: null } }, response);
      }
      return response;
    });
    const withStore = await payer({ store: createFileStore(file), fetch: amnesiac });
    expect((await ask(withStore, 'lawyer', 'resumed from the store')).choices.length).toBe(1);
    expect(withStore.lanes()[0].charged).toBeGreaterThanOrEqual(acked);
    const without = await payer({ fetch: amnesiac });
    await expect(ask(without, 'lawyer', 'no store')).rejects.toMatchObject({ status: 502, code: 'OPENLORA_CLIENT_RECEIPT_MISMATCH' });
  });
});

describe('a dishonest node is never paid for what the payer did not ask for', () => {
  it('refuses receipts the node invented, and signs nothing above what its own requests cost', async () => {
    const honest = await payer();
    await ask(honest, 'poet', 'one');
    await honest.payTail();
    const real = await laneView('poet');
    const inventor = lyingFetch(async (url, response) => {
      if (url.pathname === '/v1/payment' && url.searchParams.has('channel')) {
        const body = (await response.json()) as { lane: { charged: string } };
        return jsonResponse({ ...body, lane: { ...body.lane, charged: (BigInt(body.lane.charged) + 500_000n).toString() } }, response);
      }
      if (url.pathname === '/v1/receipts') {
        const page = (await response.json()) as { data: ReceiptJson[]; next: string | null };
        const template = receiptToJson(t.node.ledger.list({ channelId, adapterId: lanes.get('poet')!, limit: 1000 }).receipts.at(-1)!) as unknown as ReceiptJson;
        const fake = await resign({ ...template, nonce: undefined }, { requestId: keccak256(toHex('never asked')), seq: '999999999', completionTokens: 250_000, amount: '500000', laneCharged: (real.charged + 500_000n).toString() });
        return jsonResponse({ ...page, data: [...page.data, fake] }, response);
      }
      return response;
    });
    const fooled = await payer({ fetch: inventor });
    const error = await ask(fooled, 'poet', 'two').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).toMatchObject({ status: 502, code: 'OPENLORA_CLIENT_RECEIPT_MISMATCH' });
    expect((error as Error).message).toMatch(/never sent/);
    await expect(fooled.payTail()).rejects.toThrow(/never sent/);
    expect((await laneView('poet')).acknowledged).toBe(real.acknowledged); // no voucher above the real charge
  });

  it('refuses a receipt over the request\'s max_tokens and a price above maxPrice', async () => {
    const inflate = lyingFetch(async (url, response) => {
      if (url.pathname !== '/v1/completions' || response.status !== 200) return response;
      const body = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
      const receipt = JSON.parse(Buffer.from(response.headers.get('x-openlora-receipt')!, 'base64').toString()) as ReceiptJson;
      const amount = charge(PRICE, { promptTokens: body.usage.prompt_tokens, completionTokens: 80 });
      const laneCharged = BigInt(receipt.receipt.laneCharged) - BigInt(receipt.receipt.amount) + amount;
      const lie = await resign(receipt, { completionTokens: 80, amount: amount.toString(), laneCharged: laneCharged.toString() });
      return jsonResponse({ ...body, usage: { ...body.usage, completion_tokens: 80 } }, response, { 'x-openlora-receipt': Buffer.from(JSON.stringify(lie)).toString('base64') });
    });
    const over = await payer({ fetch: inflate });
    const error = await ask(over, 'lawyer', 'short', 8).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 502, code: 'OPENLORA_CLIENT_RECEIPT_MISMATCH' });
    expect((error as Error).message).toMatch(/80 completion tokens, the request allowed 8 \(n × max_tokens\)/);

    const pricey = lyingFetch(async (url, response) => {
      if (url.pathname !== '/v1/payment' || !url.searchParams.has('model')) return response;
      const body = (await response.json()) as Record<string, unknown>;
      return jsonResponse({ ...body, price: { inputPer1k: '1000000', outputPer1k: '2000000' } }, response);
    });
    const capped = await payer({ fetch: pricey, maxPrice: { inputPer1k: 10_000n, outputPer1k: 10_000n } });
    await expect(ask(capped, 'lawyer', 'too dear')).rejects.toMatchObject({ status: 402, code: 'OPENLORA_CLIENT_PRICE_ABOVE_MAX' });
    expect((await ask(await payer({ maxPrice: { inputPer1k: 10_000n, outputPer1k: 10_000n } }), 'lawyer', 'fair price')).choices.length).toBe(1);
  });

  it('catches a node signing two receipts with one seq, with the proof that slashes it', async () => {
    let firstSeq: string | undefined;
    const reuse = lyingFetch(async (url, response) => {
      if (url.pathname !== '/v1/completions' || response.status !== 200) return response;
      const receipt = JSON.parse(Buffer.from(response.headers.get('x-openlora-receipt')!, 'base64').toString()) as ReceiptJson;
      if (firstSeq === undefined) {
        firstSeq = receipt.receipt.seq;
        return response;
      }
      const twin = await resign(receipt, { seq: firstSeq });
      return jsonResponse(await response.json(), response, { 'x-openlora-receipt': Buffer.from(JSON.stringify(twin)).toString('base64') });
    });
    const watched = await payer({ fetch: reuse });
    await ask(watched, 'coder', 'first');
    await expect(ask(watched, 'coder', 'second')).rejects.toMatchObject({ status: 502, code: 'OPENLORA_CLIENT_NODE_EQUIVOCATED' });
    const proof = watched.error;
    expect(proof).toBeInstanceOf(NodeEquivocatedError);
    const stake = (await c.contracts.nodeRegistry.read.nodeOf([c.accounts[NODE].address])).stake;
    await proveEquivocation({ publicClient: c.publicClient, walletClient: c.wallets[PAYER], deployment: c.deployment, a: (proof as NodeEquivocatedError).a, b: (proof as NodeEquivocatedError).b });
    expect((await c.contracts.nodeRegistry.read.nodeOf([c.accounts[NODE].address])).stake).toBeLessThan(stake);
  });

  it('a typo in the model name is the node\'s 404, not a connection error', async () => {
    const error = await ask(await payer(), 'peot', 'hi').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as Error).message).toMatch(/peot/);
  });
});

describe('the node charges only what it stored', () => {
  it('a failed ledger write charges nothing and leaves the lane\'s chain whole', async () => {
    const paid = await payer();
    await ask(paid, 'lawyer', 'warm');
    const before = await laneView('lawyer');
    const db = new DatabaseSync(join(t.dataDir, 'ledger.db'));
    db.exec("CREATE TRIGGER disk_full BEFORE INSERT ON receipts WHEN NEW.prompt_tokens >= 100 BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END");
    try {
      await expect(ask(paid, 'lawyer', 'x'.repeat(120))).rejects.toMatchObject({ status: 500 });
    } finally {
      db.exec('DROP TRIGGER disk_full');
      db.close();
    }
    expect((await laneView('lawyer')).charged).toBe(before.charged);
    const next = await openaiOf(paid).completions.create({ model: 'lawyer', prompt: 'after', max_tokens: 2, temperature: 0 }).withResponse();
    const receipt = JSON.parse(Buffer.from(next.response.headers.get('x-openlora-receipt')!, 'base64').toString()) as ReceiptJson;
    expect(BigInt(receipt.receipt.laneCharged)).toBe(before.charged + BigInt(receipt.receipt.amount));
    await paid.payTail();
    expect(paid.error).toBeUndefined();
    const after = await laneView('lawyer');
    expect(after.acknowledged).toBe(after.charged);
  });
});
