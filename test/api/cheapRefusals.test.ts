/**
 * Cheap refusals first: unpaid requests are refused before their prompt is rendered or tokenized,
 * and the rate limit counts against the payer a request proves, never a header it picks.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../fixtures/node.ts';

const KEY = 'sk-test-cheap-refusals';
const apiKeys = [{ id: 'tester', sha256: createHash('sha256').update(KEY).digest('hex') }];
let busy: TestNode;
let limited: TestNode;

beforeAll(async () => {
  busy = await startTestNode({ overrides: { 'payments.apiKeys': apiKeys, 'api.bodyLimit': 2 * 1024 * 1024, 'api.rateLimitPerMinute': 1_000_000 } });
  limited = await startTestNode({ overrides: { 'payments.apiKeys': apiKeys, 'api.rateLimitPerMinute': 20 } });
});
afterAll(async () => {
  await busy?.node.stop();
  await limited?.node.stop();
});

/**
 * 300 `/health` latencies while another thread (as other machines would) sends unpaid 1 MB chat
 * prompts, three at a time: the node's event loop is what is measured.
 */
async function healthUnderFlood(url: string): Promise<{ p50: number; p99: number; statuses: Record<string, number> }> {
  const flood = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const body = JSON.stringify({ model: 'poet', messages: [{ role: 'user', content: 'z'.repeat(1024 * 1024 - 100) }], max_tokens: 2 });
     let stop = false;
     const statuses = {};
     parentPort.on('message', () => { stop = true; });
     Promise.all([0, 1, 2].map(async () => {
       while (!stop) {
         let key;
         try {
           const r = await fetch(workerData + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
           await r.arrayBuffer();
           key = String(r.status);
         } catch {
           key = 'closed'; // the node closed the connection on the unread upload before the client read the refusal
         }
         statuses[key] = (statuses[key] ?? 0) + 1;
         if (Object.values(statuses).reduce((a, b) => a + b, 0) === 3) parentPort.postMessage('started');
       }
     })).then(() => parentPort.postMessage(statuses));`,
    { eval: true, workerData: url },
  );
  const messages: unknown[] = [];
  flood.on('message', (m) => messages.push(m));
  const samples: number[] = [];
  try {
    while (messages.length === 0) await new Promise((r) => setTimeout(r, 10)); // the flood is under way
    for (let i = 0; i < 300; i++) {
      const started = performance.now();
      await (await fetch(`${url}/health`)).json();
      samples.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    flood.postMessage('stop');
    while (messages.length < 2) await new Promise((r) => setTimeout(r, 10));
    await flood.terminate();
  }
  samples.sort((a, b) => a - b);
  return { p50: samples[150], p99: samples[Math.ceil(samples.length * 0.99) - 1], statuses: messages[1] as Record<string, number> };
}

const chat = (content: string) => JSON.stringify({ model: 'poet', messages: [{ role: 'user', content }], max_tokens: 2 });

describe('cheap refusals first', () => {
  it('keeps /health answering in under 100 ms (p99) while unpaid 1 MB prompts arrive', async () => {
    // Best of two runs of 300 samples: a neighbour's CPU burst can spoil one; the fault this guards
    // against (prompts tokenized before the payment check) stalled /health for seconds in every run.
    const runs: Array<Awaited<ReturnType<typeof healthUnderFlood>>> = [];
    for (let attempt = 0; attempt < 2 && !runs.some((r) => r.p99 < 100); attempt++) runs.push(await healthUnderFlood(busy.node.url));
    const best = runs.reduce((a, b) => (a.p99 <= b.p99 ? a : b));
    for (const run of runs) {
      // Every 1 MB prompt refused (none read, parsed or tokenized); the refusal's body reaches nearly every client.
      expect(Object.keys(run.statuses).every((k) => k === '401' || k === 'closed')).toBe(true);
      expect(run.statuses['401']).toBeGreaterThan(20);
      expect(run.statuses.closed ?? 0).toBeLessThan(run.statuses['401'] / 10);
    }
    expect(best.p99, runs.map((r) => `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.statuses['401']} prompts refused`).join('; ')).toBeLessThan(100);
  });

  it('refuses a paid prompt that cannot fit the context before tokenizing it', async () => {
    const r = await fetch(`${busy.node.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: chat('q'.repeat(1024 * 1024 - 100)) });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/characters: more tokens than this model's context/);
  });
});

describe('rate limit keyed on the verified payer', () => {
  it('rotating Authorization and x-openlora-channel headers does not escape it; a valid key has its own budget', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await fetch(`${limited.node.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer rotated-${i}`, 'x-openlora-channel': `0x${i.toString(16).padStart(64, '0')}` }, body: chat('hi') });
      statuses.push(r.status);
      await r.arrayBuffer();
    }
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
    const keyed = await fetch(`${limited.node.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: chat('hi') });
    expect(keyed.status).toBe(200);
    // /health stays out of the limit.
    expect((await fetch(`${limited.node.url}/health`)).status).toBe(200);
  });
});
