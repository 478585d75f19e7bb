/**
 * Structured output, tools and several choices in paid mode: the payer's SDK checks every receipt
 * against what its request allowed (n × max_tokens completion tokens, the prompt with its tool
 * list), and acknowledges exactly what the node charged for every choice.
 */
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hex } from 'viem';
import { createPaidClient, type PaidClient } from '../../src/client/index.ts';
import type { Chain } from '../contracts/fixture.ts';
import type { TestNode } from '../fixtures/node.ts';
import { PAID_ROLES, startPaidTestNode } from '../fixtures/paidNode.ts';

const PAYER = PAID_ROLES.payer;
const ajv = new Ajv({ strict: false });

let c: Chain;
let t: TestNode;
let channelId: Hex;

beforeAll(async () => {
  ({ c, t, channelId } = await startPaidTestNode());
});

afterAll(async () => {
  await t?.node.stop();
});

const payer = () => createPaidClient({ url: t.node.url, account: c.accounts[PAYER], channelId, nodeRegistry: c.deployment.contracts.nodeRegistry });
const openaiOf = (paid: PaidClient) => new OpenAI({ baseURL: `${t.node.url}/v1`, apiKey: 'paid-by-voucher', fetch: paid.fetch, maxRetries: 0 });

async function laneView(model: string) {
  const r = (await (await fetch(`${t.node.url}/v1/payment?model=${model}&channel=${channelId}`)).json()) as { lane: { charged: string; acknowledged: string } };
  return { charged: BigInt(r.lane.charged), acknowledged: BigInt(r.lane.acknowledged) };
}

const schema = { type: 'object', properties: { answer: { type: 'string' }, score: { type: 'number' }, ok: { type: 'boolean' } }, required: ['answer', 'score', 'ok'], additionalProperties: false };
const tools = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'], additionalProperties: false }, strict: true } }];

describe('paid structured output and tools, several choices per request', () => {
  it('every choice is charged, the SDK verifies receipts above max_tokens (n × max_tokens) and acknowledges all of it', async () => {
    const paid = await payer();
    const client = openaiOf(paid);
    const before = await laneView('poet');
    const answer = await client.chat.completions.create({ model: 'poet', messages: [{ role: 'user', content: 'Rate it' }], max_tokens: 70, temperature: 1, seed: 2, n: 3, response_format: { type: 'json_schema', json_schema: { name: 'r', schema, strict: true } } });
    for (const choice of answer.choices) expect(ajv.validate(schema, JSON.parse(choice.message.content!))).toBe(true);
    expect(answer.usage!.completion_tokens).toBeGreaterThan(70); // more than one choice's max_tokens: the old per-request check would have refused it
    const stream = await client.chat.completions.create({ model: 'poet', messages: [{ role: 'user', content: 'Look it up' }], max_tokens: 80, temperature: 1, seed: 3, n: 2, tools, tool_choice: 'required', stream: true });
    const args = ['', ''];
    for await (const chunk of stream) for (const ch of chunk.choices) for (const d of ch.delta.tool_calls ?? []) args[ch.index] += d.function?.arguments ?? '';
    for (const a of args) expect(ajv.validate(tools[0].function.parameters, JSON.parse(a))).toBe(true);
    await paid.idle();
    expect(paid.error).toBeUndefined();
    await paid.payTail();
    const after = await laneView('poet');
    expect(after.acknowledged).toBe(after.charged);
    expect(after.charged).toBeGreaterThan(before.charged);
  });
});
