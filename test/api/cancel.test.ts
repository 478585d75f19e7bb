import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../fixtures/node.ts';

let t: TestNode;

beforeAll(async () => {
  t = await startTestNode();
});
afterAll(async () => {
  await t?.node.stop();
});

async function until(check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('client disconnects', () => {
  it('cancel the generation at once and charge only what was produced', async () => {
    // A seed whose generation runs 200 tokens without reaching end-of-text, so only the
    // disconnect can end the stream early.
    let seed = 0;
    for (let s = 1; s <= 20 && seed === 0; s++) {
      const probe = (await (await fetch(`${t.node.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'coder', prompt: [65, 66, 67], max_tokens: 200, temperature: 1, seed: s }) })).json()) as { usage: { completion_tokens: number } };
      if (probe.usage.completion_tokens === 200) seed = s;
    }
    expect(seed).toBeGreaterThan(0);
    const before = t.node.ledger.count();
    const controller = new AbortController();
    const response = await fetch(`${t.node.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'coder', prompt: [65, 66, 67], max_tokens: 1500, temperature: 1, seed, stream: true }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('data: ')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    await until(() => t.node.scheduler.stats().running === 0 && t.node.scheduler.stats().waiting === 0);
    expect(t.node.scheduler.stats().kvBlocksFree).toBe(t.node.scheduler.stats().kvBlocksTotal);
    await until(() => t.node.ledger.count() === before + 1);
    const [receipt] = t.node.ledger.list({ after: BigInt(0), limit: 1000 }).receipts.slice(-1);
    expect(receipt.receipt.completionTokens).toBeGreaterThan(0);
    expect(receipt.receipt.completionTokens).toBeLessThan(200); // the same seed runs past 200 uninterrupted
  });

  it('cancel a request still waiting in the queue without charging it', async () => {
    const before = t.node.ledger.count();
    const controller = new AbortController();
    const pending = fetch(`${t.node.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'poet', prompt: [70, 71], max_tokens: 1500 }),
      signal: controller.signal,
    }).catch((e: unknown) => e);
    controller.abort();
    await pending;
    await new Promise((r) => setTimeout(r, 300));
    await until(() => t.node.scheduler.stats().running === 0);
    expect(t.node.ledger.count()).toBeLessThanOrEqual(before + 1);
    if (t.node.ledger.count() === before + 1) {
      // The abort raced the first step: then what was produced is charged, never the ceiling.
      const [last] = t.node.ledger.list({ limit: 1000 }).receipts.slice(-1);
      expect(last.receipt.completionTokens).toBeLessThan(1500);
    }
  });
});
