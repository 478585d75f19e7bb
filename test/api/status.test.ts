import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MoneyStatus, NetworkStatus, NodeStatus } from '../../src/api/statusSchemas.ts';
import { shaderHash } from '../../src/version.ts';
import { startTestNode, type TestNode } from '../fixtures/node.ts';

const ADMIN = 'status-test-admin-token-0123456789';
let t: TestNode;
let url: string;

/** Sum of a metric's samples in Prometheus text, optionally only those whose labels contain `match`. */
function scraped(text: string, name: string, match = ''): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => l.includes(match))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

beforeAll(async () => {
  t = await startTestNode({ overrides: { 'api.adminToken': ADMIN } });
  url = t.node.url;
});
afterAll(() => t?.node.stop());

describe('status endpoints', () => {
  it('GET /v1/node/status shows the numbers of /metrics, adapters by tier, the engine and the build', async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'open' });
    for (const model of ['poet', 'poet', 'coder']) await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
    const status = (await (await fetch(`${url}/v1/node/status`)).json()) as NodeStatus;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(status.live.tokens_completion_total).toBe(scraped(metrics, 'openlora_tokens_total', 'kind="completion"'));
    expect(status.live.tokens_prompt_total).toBe(scraped(metrics, 'openlora_tokens_total', 'kind="prompt"'));
    expect(status.live.steps_total).toBe(scraped(metrics, 'openlora_engine_step_seconds_count'));
    expect(status.live.steps_total).toBeGreaterThan(0);
    expect(status.live.step_seconds_total).toBeCloseTo(scraped(metrics, 'openlora_engine_step_seconds_sum'), 9);
    expect(status.live.kv_blocks_total).toBe(256);
    expect(status.version).toMatchObject({ build: 'source', shader_hash: shaderHash() });
    expect(status.engine).toMatchObject({ backend: 'cpu', adapter: null, lora_slots: 4, lora_dtype: 'f32', kv_blocks: 256 });
    expect(status.engine.memory).toMatchObject({ mode: 'split', page_bytes: null, budget_pages: null });
    expect(status.live.memory_pages).toBeNull();
    const byName = new Map(status.adapters.map((a) => [a.name, a]));
    expect(byName.get('poet')).toMatchObject({ tier: 'gpu', requests_total: 2, loads: 1 });
    expect(byName.get('coder')).toMatchObject({ tier: 'gpu', requests_total: 1 });
    expect(byName.get('lawyer')).toMatchObject({ tier: 'disk', requests_total: 0, loads: 0 });
    expect(status.tiers.gpu).toMatchObject({ slots: 4, resident: 2, loads: 2 });
    expect(scraped(metrics, 'openlora_adapter_loads_total', 'tier="gpu"')).toBe(2);
    expect(scraped(metrics, 'openlora_adapters_resident', 'tier="disk"')).toBe(1);
    expect(scraped(metrics, 'openlora_adapter_requests_total')).toBe(3);
  });

  it('unified memory: /admin/scheduler and /v1/node/status show the mode, the budget and the pages KV blocks and adapters hold', async () => {
    const u = await startTestNode({ overrides: { 'api.adminToken': ADMIN, 'engine.memory.mode': 'unified', 'engine.memory.budgetMiB': 2 } });
    try {
      const client = new OpenAI({ baseURL: `${u.node.url}/v1`, apiKey: 'open' });
      const answer = await client.chat.completions.create({ model: 'coder', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
      expect(answer.choices[0].finish_reason).toBe('length');
      const headers = { authorization: `Bearer ${ADMIN}` };
      const scheduler = (await (await fetch(`${u.node.url}/admin/scheduler`, { headers })).json()) as { memory: Record<string, number | string>; fairness: string; fair_slots: boolean; queue: Record<string, number> };
      expect(scheduler).toMatchObject({ fairness: 'vtc', fair_slots: true, queue: { preemptions: 0, pauses: 0 } });
      const pageBytes = scheduler.memory.page_bytes as number;
      const totalPages = Math.floor(2 ** 21 / pageBytes);
      expect(scheduler.memory).toMatchObject({ mode: 'unified', total_pages: totalPages, budget_bytes: totalPages * pageBytes, kv_pages: 0, wanted_pages: 0 });
      const adapterPages = scheduler.memory.adapter_pages as number;
      expect(adapterPages).toBeGreaterThan(0); // coder stays resident, idle, at its own rank
      expect(scheduler.memory.free_pages).toBe(totalPages - adapterPages);
      const status = (await (await fetch(`${u.node.url}/v1/node/status`)).json()) as NodeStatus;
      expect(status.engine.memory).toMatchObject({ mode: 'unified', page_bytes: pageBytes, budget_pages: totalPages, kv_cache_bytes: totalPages * pageBytes, lora_slots_bytes: 0, adapters_in_pages: true }); // the CPU backend allocates the budget, adapters in its pages
      expect(status.live.memory_pages).toEqual({ kv: 0, adapters: adapterPages, free: totalPages - adapterPages, wanted: 0 });
    } finally {
      await u.node.stop();
    }
  });

  it('admin parts need the token; open mode has no money to settle and no network', async () => {
    expect((await fetch(`${url}/admin/node/money`)).status).toBe(401);
    expect((await fetch(`${url}/admin/node/network`, { headers: { authorization: 'Bearer wrong-token-wrong-token-1234' } })).status).toBe(401);
    const headers = { authorization: `Bearer ${ADMIN}` };
    const money = (await (await fetch(`${url}/admin/node/money`, { headers })).json()) as MoneyStatus;
    expect(money).toMatchObject({ payment_mode: 'open', lanes: [], settlement: null, chain: null });
    const network = (await (await fetch(`${url}/admin/node/network`, { headers })).json()) as NetworkStatus;
    expect(network).toMatchObject({ enabled: false, peers: [] });
    const chain = await fetch(`${url}/v1/chain`);
    expect(chain.status).toBe(404);
    expect(((await chain.json()) as { error: { code: string } }).error.code).toBe('OPENLORA_API_NO_DEPLOYMENT');
    expect(await (await fetch(`${url}/v1/attribution/reports`)).json()).toEqual({ object: 'list', data: [] });
  });

  it('receipts newest first, one by seq', async () => {
    const page = (await (await fetch(`${url}/v1/receipts?order=desc&limit=2`)).json()) as { data: Array<{ receipt: { seq: string } }>; next: string | null };
    const seqs = page.data.map((r) => BigInt(r.receipt.seq));
    expect(seqs).toHaveLength(2);
    expect(seqs[0]).toBeGreaterThan(seqs[1]);
    const older = (await (await fetch(`${url}/v1/receipts?order=desc&after=${page.next}`)).json()) as { data: Array<{ receipt: { seq: string } }> };
    expect(older.data.every((r) => BigInt(r.receipt.seq) < seqs[1])).toBe(true);
    const one = (await (await fetch(`${url}/v1/receipts/${seqs[0]}`)).json()) as { receipt: { seq: string } };
    expect(one.receipt.seq).toBe(String(seqs[0]));
    expect((await fetch(`${url}/v1/receipts/999999`)).status).toBe(404);
  });

  it('serves the pages with a content security policy and ETags, and lists the endpoints in /openapi.json', async () => {
    const page = await fetch(`${url}/`);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    const script = /src="(ui\/operator\.js)"/.exec(html)![1];
    const js = await fetch(`${url}/${script}`);
    expect(js.headers.get('content-type')).toContain('javascript');
    const etag = js.headers.get('etag')!;
    expect((await fetch(`${url}/${script}`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect(await (await fetch(`${url}/rewards`)).text()).toContain('ui/rewards.js');
    expect((await fetch(`${url}/ui/nope.js`)).status).toBe(404);
    const openapi = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    for (const path of ['/v1/node/status', '/admin/node/money', '/admin/node/network', '/v1/chain', '/v1/chain/deployment', '/v1/attribution/reports', '/v1/receipts/{seq}']) expect(Object.keys(openapi.paths)).toContain(path);
  });

  it('ui.enabled = false: no pages', async () => {
    const off = await startTestNode({ overrides: { 'ui.enabled': false } });
    try {
      expect((await fetch(`${off.node.url}/`)).status).toBe(404);
      expect((await fetch(`${off.node.url}/v1/node/status`)).status).toBe(200);
    } finally {
      await off.node.stop();
    }
  });
});
