import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../fixtures/node.ts';

let t: TestNode;

beforeAll(async () => {
  t = await startTestNode({ overrides: { 'api.bodyLimit': 4096, 'api.maxTokensCap': 64 } });
});
afterAll(async () => {
  await t?.node.stop();
});

async function post(path: string, body: string | Uint8Array, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const response = await fetch(`${t.node.url}${path}`, { method: 'POST', body, headers });
  return { status: response.status, body: (await response.json()) as { error?: { message: string; type: string; code: string; param: string | null } } };
}

const chat = (extra: Record<string, unknown>) => JSON.stringify({ model: 'poet', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, ...extra });

describe('bad input: a 4xx with an OpenAI-style error, nothing metered, the node keeps serving', () => {
  it('rejects each bad request', async () => {
    const before = t.node.ledger.count();
    const cases: Array<[string, string | Uint8Array, number, string]> = [
      ['malformed JSON', '{"model": "poet", "messages": [', 400, 'OPENLORA_API_INVALID_JSON'],
      ['wrong type', chat({ temperature: 'hot' }), 400, 'OPENLORA_API_INVALID_REQUEST'],
      ['messages not an array', JSON.stringify({ model: 'poet', messages: 'hi' }), 400, 'OPENLORA_API_INVALID_REQUEST'],
      ['missing model', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }), 400, 'OPENLORA_API_INVALID_REQUEST'],
      ['unknown model', chat({ model: 'ghost' }), 404, 'OPENLORA_SERVING_MODEL_NOT_FOUND'],
      ['negative max_tokens', chat({ max_tokens: -5 }), 400, 'OPENLORA_API_INVALID_REQUEST'],
      ['huge max_tokens', chat({ max_tokens: 1_000_000 }), 400, 'OPENLORA_API_MAX_TOKENS'],
      ['n > 8', chat({ n: 9 }), 400, 'OPENLORA_API_INVALID_REQUEST'],
      ['an OpenAI field openlora does not do', chat({ audio: { voice: 'alloy', format: 'wav' } }), 400, 'OPENLORA_API_UNSUPPORTED_PARAMETER'],
      ['a field OpenAI does not have', chat({ repetition_penalty: 1.2 }), 400, 'OPENLORA_API_UNSUPPORTED_PARAMETER'],
      ['a schema keyword outside the subset', chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { zip: { type: 'string', pattern: '^[0-9]{5}$' } } } } } }), 400, 'OPENLORA_GRAMMAR_SCHEMA_UNSUPPORTED'],
      ['logit_bias outside the vocabulary', chat({ logit_bias: { '99999': 5 } }), 400, 'OPENLORA_API_LOGIT_BIAS'],
      ['top_logprobs without logprobs', chat({ top_logprobs: 3 }), 400, 'OPENLORA_API_INVALID_REQUEST'],
      ['tool_choice without tools', chat({ tool_choice: 'required' }), 400, 'OPENLORA_API_INVALID_REQUEST'],
      ['a tool choice naming no tool', chat({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'g' } } }), 400, 'OPENLORA_API_INVALID_REQUEST'],
      ['stream_options without stream', chat({ stream_options: { include_usage: true } }), 400, 'OPENLORA_API_UNSUPPORTED_PARAMETER'],
      ['an image part', chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }), 400, 'OPENLORA_API_INVALID_REQUEST'],
      ['a tool result without its call id', chat({ messages: [{ role: 'tool', content: '1' }] }), 400, 'OPENLORA_API_INVALID_REQUEST'],
      ['prompt echo', JSON.stringify({ model: 'poet', prompt: 'x', echo: true }), 400, 'OPENLORA_API_UNSUPPORTED_PARAMETER'],
      ['prompt over context', JSON.stringify({ model: 'poet', prompt: 'x'.repeat(2100), max_tokens: 2 }), 400, 'OPENLORA_API_CONTEXT_EXCEEDED'],
      ['oversized body', JSON.stringify({ model: 'poet', messages: [{ role: 'user', content: 'y'.repeat(10_000) }] }), 413, 'OPENLORA_API_FST_ERR_CTP_BODY_TOO_LARGE'],
      ['invalid UTF-8', new Uint8Array([...Buffer.from('{"model":"poet","messages":[{"role":"user","content":"'), 0xc3, 0x28, ...Buffer.from('"}]}')]), 400, 'OPENLORA_API_INVALID_UTF8'],
      ['token ids outside the vocabulary', JSON.stringify({ model: 'poet', prompt: [1, 2, 999_999], max_tokens: 2 }), 400, 'OPENLORA_SERVING_INPUT'],
    ];
    for (const [name, body, status, code] of cases) {
      const path = name.startsWith('prompt') || name.startsWith('token') ? '/v1/completions' : '/v1/chat/completions';
      const params: Record<string, string> = { 'an OpenAI field openlora does not do': 'audio', 'a field OpenAI does not have': 'repetition_penalty', 'a schema keyword outside the subset': 'response_format.json_schema.schema#/properties/zip', 'logit_bias outside the vocabulary': 'logit_bias', 'top_logprobs without logprobs': 'top_logprobs', 'an image part': 'messages[0].content[0].type', 'prompt echo': 'echo', 'a tool choice naming no tool': 'tool_choice' };
      const result = await post(path, body);
      expect(result.status, name).toBe(status);
      expect(result.body.error?.code, name).toBe(code);
      expect(result.body.error?.type, name).toBe('invalid_request_error');
      expect(result.body.error?.message.length, name).toBeGreaterThan(10);
      if (params[name]) expect(result.body.error?.param, name).toBe(params[name]);
    }
    expect(t.node.ledger.count()).toBe(before);
    const ok = await post('/v1/chat/completions', chat({}));
    expect(ok.status).toBe(200);
    expect(t.node.ledger.count()).toBe(before + 1);
  });

  it('answers unknown routes with a 404 error body', async () => {
    const response = await fetch(`${t.node.url}/v1/nothing`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('OPENLORA_API_NOT_FOUND');
  });

  it('serves health, metrics, OpenAPI and receipts queries', async () => {
    const health = (await (await fetch(`${t.node.url}/health`)).json()) as { status: string; payment_mode: string; kv_blocks: { total: number } };
    expect(health).toMatchObject({ status: 'ok', payment_mode: 'open', kv_blocks: { total: 256 } });
    const metrics = await (await fetch(`${t.node.url}/metrics`)).text();
    expect(metrics).toContain('openlora_receipts_written_total');
    expect(metrics).toContain('openlora_kv_blocks_total 256');
    const openapi = (await (await fetch(`${t.node.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/v1/chat/completions', '/v1/completions', '/v1/models', '/v1/receipts']));
    const receipts = (await (await fetch(`${t.node.url}/v1/receipts?payer=key:anonymous&limit=1`)).json()) as { data: Array<{ payer: string }>; next: string | null };
    expect(receipts.data.length).toBe(1);
    expect(receipts.data[0].payer).toBe('key:anonymous');
    const bad = await fetch(`${t.node.url}/v1/receipts?channel=0x12`);
    expect(bad.status).toBe(400);
  });

  it('keeps the admin API behind its token', async () => {
    const response = await fetch(`${t.node.url}/admin/adapters`);
    expect(response.status).toBe(403);
  });
});
