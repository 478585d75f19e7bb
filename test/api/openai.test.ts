import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zeroAddress, type Hex } from 'viem';
import { recoverUsageReceiptSigner } from '../../src/chain/eip712.ts';
import { receiptFromJson } from '../../src/payments/receiptJson.ts';
import { startTestNode, type TestNode } from '../fixtures/node.ts';

let t: TestNode;
let client: OpenAI;

interface ReceiptJson {
  node: string;
  payer: string;
  digest: Hex;
  signature: Hex;
  receipt: Record<string, string | number>;
}

async function verify(json: ReceiptJson): Promise<void> {
  const receipt = receiptFromJson(json);
  const signer = await recoverUsageReceiptSigner({ receipt, signature: json.signature, chainId: 0, nodeRegistry: zeroAddress });
  expect(signer).toBe(t.account.address);
}

beforeAll(async () => {
  t = await startTestNode();
  client = new OpenAI({ baseURL: `${t.node.url}/v1`, apiKey: 'unused-in-open-mode', maxRetries: 0 });
});
afterAll(async () => {
  await t?.node.stop();
});

describe('OpenAI-compatible API with the official openai client', () => {
  it('lists the base model and the adapters', async () => {
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining([t.node.inference.baseModelName, 'poet', 'coder', 'lawyer']));
    const coder = models.data.find((m) => m.id === 'coder') as unknown as { openlora: { rank: number; adapter_id: string } };
    expect(coder.openlora.rank).toBe(16);
    expect(coder.openlora.adapter_id).toBe(t.adapters[1].id);
  });

  it('answers a chat completion with usage and a signed, stored receipt', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'poet', messages: [{ role: 'user', content: 'Write a line.' }], max_tokens: 8, temperature: 0, logprobs: true })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.choices[0].message.role).toBe('assistant');
    expect(typeof data.choices[0].message.content).toBe('string');
    expect(['length', 'stop']).toContain(data.choices[0].finish_reason);
    expect(data.usage!.completion_tokens).toBeGreaterThan(0);
    expect(data.choices[0].logprobs!.content!.length).toBe(data.usage!.completion_tokens - (data.choices[0].finish_reason === 'stop' ? 1 : 0));
    const header = response.headers.get('x-openlora-receipt');
    expect(header).toBeTruthy();
    const receipt = JSON.parse(Buffer.from(header!, 'base64').toString()) as ReceiptJson;
    expect(receipt.receipt.adapterId).toBe(t.adapters[0].id);
    expect(Number(receipt.receipt.completionTokens)).toBe(data.usage!.completion_tokens);
    expect(Number(receipt.receipt.promptTokens)).toBe(data.usage!.prompt_tokens);
    await verify(receipt);
    expect(t.node.ledger.get(BigInt(receipt.receipt.seq))?.signature).toBe(receipt.signature);
  });

  it('streams a chat completion and ends with usage and the receipt', async () => {
    const stream = await client.chat.completions.create({ model: 'coder', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 10, temperature: 0.7, seed: 5, stream: true });
    let text = '';
    let finish: string | null = null;
    let last: unknown;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) text += chunk.choices[0].delta.content;
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      last = chunk;
    }
    expect(finish).toMatch(/length|stop/);
    const final = last as { usage: { completion_tokens: number }; receipt: ReceiptJson; choices: unknown[] };
    expect(final.choices).toEqual([]);
    expect(final.usage.completion_tokens).toBeGreaterThan(0);
    await verify(final.receipt);
    expect(typeof text).toBe('string');
  });

  it('completes token-id prompts on the base model with logprobs, deterministically for a seed', async () => {
    const body = { model: t.node.inference.baseModelName, prompt: [72, 101, 108, 108, 111], max_tokens: 6, temperature: 0.9, seed: 42, logprobs: 0 };
    const a = await client.completions.create(body);
    const b = await client.completions.create(body);
    expect(a.object).toBe('text_completion');
    expect(a.choices[0].text).toBe(b.choices[0].text);
    expect(a.choices[0].logprobs!.token_logprobs!.length).toBeGreaterThan(0);
    expect(a.usage).toMatchObject({ prompt_tokens: 5 });
  });

  it('stops at a stop string, given as a string or a list, streamed or not, and charges the tokens generated', async () => {
    const body = { model: 'poet', prompt: 'Once', max_tokens: 16, temperature: 1.2, seed: 9 };
    const free = (await client.completions.create(body)).choices[0].text;
    let at = 2;
    while (at + 2 <= free.length && (free.indexOf(free.slice(at, at + 2)) !== at || free.slice(at, at + 2).includes('\uFFFD'))) at++;
    expect(at + 2).toBeLessThanOrEqual(free.length);
    const stop = free.slice(at, at + 2);
    const cut = await client.completions.create({ ...body, stop });
    expect(cut.choices[0]).toMatchObject({ text: free.slice(0, at), finish_reason: 'stop' });
    expect(cut.usage!.completion_tokens).toBeGreaterThan(at);
    const stream = await client.completions.create({ ...body, stop: ['\u0000never', stop], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(free.slice(0, at));
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(cut.usage!.completion_tokens);
  });

  it('top_k 1 and a tiny top_p draw the greedy tokens at any temperature; max_completion_tokens bounds the answer', async () => {
    const ask = (extra: Record<string, unknown>) =>
      client.chat.completions.create({ model: 'coder', messages: [{ role: 'user', content: 'Pick.' }], max_completion_tokens: 12, seed: 3, ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const greedy = await ask({ temperature: 0 });
    expect(greedy.usage!.completion_tokens).toBeLessThanOrEqual(12);
    const hot = await ask({ temperature: 2 });
    expect(hot.choices[0].message.content).not.toBe(greedy.choices[0].message.content);
    expect((await ask({ temperature: 2, top_k: 1 })).choices[0].message.content).toBe(greedy.choices[0].message.content);
    expect((await ask({ temperature: 2, top_p: 1e-9 })).choices[0].message.content).toBe(greedy.choices[0].message.content);
    const short = await ask({ temperature: 2, max_completion_tokens: 3, user: 'someone' });
    expect(short.usage!.completion_tokens).toBeLessThanOrEqual(3);
    if (short.choices[0].finish_reason === 'length') expect(short.usage!.completion_tokens).toBe(3);
  });

  it('surfaces errors as the client error types, metering nothing', async () => {
    const before = t.node.ledger.count();
    await expect(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const bad = (body: Record<string, unknown>) => client.chat.completions.create({ model: 'poet', messages: [{ role: 'user', content: 'x' }], ...body } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
    await expect(bad({ max_tokens: -1 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(bad({ max_tokens: 10_000_000 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(bad({ messages: [] })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(client.completions.create({ model: 'poet', prompt: 'x'.repeat(3000), max_tokens: 5 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    const error = await client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e as InstanceType<typeof OpenAI.NotFoundError>);
    if (!(error instanceof OpenAI.NotFoundError)) throw new Error('expected NotFoundError');
    expect(error.code).toBe('OPENLORA_SERVING_MODEL_NOT_FOUND');
    expect(error.message).toContain('"nope"');
    expect(t.node.ledger.count()).toBe(before);
  });

  it('serves many simultaneous streams over several adapters, one receipt each, seq strictly increasing', async () => {
    const models = ['poet', 'coder', 'lawyer', t.node.inference.baseModelName];
    const before = t.node.ledger.count();
    const runs = Array.from({ length: 16 }, async (_, i) => {
      const stream = await client.chat.completions.create({ model: models[i % 4], messages: [{ role: 'user', content: `Request ${i}` }], max_tokens: 4 + (i % 5), temperature: 0.8, seed: i, stream: true });
      const receipts: ReceiptJson[] = [];
      let completion = 0;
      for await (const chunk of stream) {
        const extra = chunk as unknown as { receipt?: ReceiptJson; usage?: { completion_tokens: number } };
        if (extra.receipt) receipts.push(extra.receipt);
        if (extra.usage) completion = extra.usage.completion_tokens;
      }
      return { receipts, completion };
    });
    const results = await Promise.all(runs);
    for (const r of results) {
      expect(r.receipts.length).toBe(1);
      expect(Number(r.receipts[0].receipt.completionTokens)).toBe(r.completion);
      await verify(r.receipts[0]);
    }
    const seqs = results.map((r) => BigInt(r.receipts[0].receipt.seq)).sort((a, b) => (a < b ? -1 : 1));
    expect(new Set(seqs.map(String)).size).toBe(16);
    expect(t.node.ledger.count()).toBe(before + 16);
    const stored = t.node.ledger.list({ limit: 1000 }).receipts.map((r) => r.receipt.seq);
    for (let i = 1; i < stored.length; i++) expect(stored[i] > stored[i - 1]).toBe(true);
    for (const seq of seqs) expect(stored).toContain(seq);
  });
});
