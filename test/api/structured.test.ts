/**
 * Structured output, tools and the rest of the request surface through the official `openai`
 * client, on the CPU backend (what a machine without a GPU runs) and the WebGPU one; the
 * reference backend is the engine tests' oracle (test/engine/constrained.test.ts). The test model
 * has random weights: whatever it writes, a constrained answer must parse and validate, and the
 * rows it shares engine steps with (other adapters, unconstrained) must be exactly what they are
 * alone.
 */
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../fixtures/node.ts';

const ajv = new Ajv({ strict: false });

const person = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer' },
    role: { enum: ['admin', 'user', 'guest'] },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
    manager: { anyOf: [{ type: 'null' }, { $ref: '#/$defs/ref' }] },
  },
  required: ['name', 'age', 'role', 'tags', 'manager'],
  additionalProperties: false,
  $defs: { ref: { type: 'object', properties: { id: { type: 'integer' }, ok: { type: 'boolean' } }, required: ['id', 'ok'], additionalProperties: false } },
};
const weather = { type: 'object', properties: { city: { type: 'string' }, unit: { enum: ['c', 'f'] }, days: { type: 'integer' } }, required: ['city', 'unit', 'days'], additionalProperties: false };
const tools = [
  { type: 'function' as const, function: { name: 'get_weather', description: 'The weather in a city.', parameters: weather, strict: true } },
  { type: 'function' as const, function: { name: 'get_time', description: 'The time now.', parameters: { type: 'object', properties: {}, additionalProperties: false } } },
];
const argsSchema: Record<string, object> = { get_weather: weather, get_time: { type: 'object', additionalProperties: false } };

describe.each(['cpu', 'webgpu'] as const)('structured output and tools on the %s backend', (backend) => {
  let t: TestNode;
  let client: OpenAI;
  beforeAll(async () => {
    t = await startTestNode({ overrides: { 'model.backend': backend } });
    client = new OpenAI({ baseURL: `${t.node.url}/v1`, apiKey: 'open', maxRetries: 0 });
  });
  afterAll(async () => {
    await t?.node.stop();
  });

  const plain = (model: string, content: string) => client.chat.completions.create({ model, messages: [{ role: 'user', content }], max_tokens: 12, temperature: 0 });

  it('json_schema (strict, $ref, anyOf, enum): every choice validates, next to unconstrained rows of other adapters that stay as they are alone', async () => {
    const alone = await Promise.all([plain('coder', 'Hello there'), plain(t.node.inference.baseModelName, 'Count: 1 2 3')]);
    const [structured, ...mixed] = await Promise.all([
      client.chat.completions.create({ model: 'poet', messages: [{ role: 'user', content: 'A person, please.' }], max_tokens: 160, temperature: 1, seed: 3, n: 3, response_format: { type: 'json_schema', json_schema: { name: 'person', schema: person, strict: true } } }),
      plain('coder', 'Hello there'),
      plain(t.node.inference.baseModelName, 'Count: 1 2 3'),
    ]);
    expect(mixed.map((r) => r.choices[0].message.content)).toEqual(alone.map((r) => r.choices[0].message.content));
    expect(structured.choices).toHaveLength(3);
    const validate = ajv.compile(person);
    for (const choice of structured.choices) {
      const value = JSON.parse(choice.message.content!);
      expect(validate(value), choice.message.content!).toBe(true);
      expect(['stop', 'length']).toContain(choice.finish_reason);
    }
    expect(new Set(structured.choices.map((c) => c.message.content)).size).toBeGreaterThan(1); // seeds differ per choice
    expect(structured.usage!.completion_tokens).toBe(structured.choices.reduce((s, c) => s + Buffer.byteLength(c.message.content!) + (c.finish_reason === 'stop' || c.finish_reason === 'length' ? 1 : 0), 0));
  });

  it('json_schema streamed with include_usage; json_object mode', async () => {
    const stream = await client.chat.completions.create({ model: 'lawyer', messages: [{ role: 'user', content: 'Weather query' }], max_tokens: 60, temperature: 1, seed: 9, n: 2, stream: true, stream_options: { include_usage: true }, response_format: { type: 'json_schema', json_schema: { name: 'q', schema: weather, strict: true } } });
    const text = ['', ''];
    const finish: Array<string | null> = [null, null];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      if (chunk.choices.length === 0) usage = chunk.usage!;
      else expect(chunk.usage).toBeNull();
      for (const c of chunk.choices) {
        text[c.index] += c.delta.content ?? '';
        if (c.finish_reason) finish[c.index] = c.finish_reason;
      }
    }
    for (const s of text) expect(ajv.validate(weather, JSON.parse(s)), s).toBe(true);
    expect(finish.every((f) => f === 'stop' || f === 'length')).toBe(true);
    expect(usage!.completion_tokens).toBeGreaterThanOrEqual(Buffer.byteLength(text.join('')));
    const object = await client.chat.completions.create({ model: 'poet', messages: [{ role: 'user', content: 'JSON' }], max_tokens: 80, temperature: 1, seed: 4, response_format: { type: 'json_object' } });
    const value = JSON.parse(object.choices[0].message.content!);
    expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
  });

  it('tools: required and named calls with valid arguments (whole and streamed), results accepted in the next turn', async () => {
    const required = await client.chat.completions.create({ model: 'coder', messages: [{ role: 'user', content: 'Weather in Paris?' }], max_tokens: 120, temperature: 1, seed: 5, n: 2, tools, tool_choice: 'required' });
    for (const choice of required.choices) {
      expect(choice.finish_reason).toBe('tool_calls');
      expect(choice.message.content).toBeNull();
      for (const call of choice.message.tool_calls!) {
        const f = (call as { function: { name: string; arguments: string } }).function;
        expect(call.id).toMatch(/^call_/);
        expect(ajv.validate(argsSchema[f.name], JSON.parse(f.arguments)), f.arguments).toBe(true);
      }
    }
    const named = await client.chat.completions.create({ model: 'coder', messages: [{ role: 'user', content: 'Weather?' }], max_tokens: 140, temperature: 1, seed: 6, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, parallel_tool_calls: false, stream: true });
    const calls: Array<{ id?: string; name?: string; arguments: string }> = [];
    let finish: string | null = null;
    for await (const chunk of named) {
      for (const c of chunk.choices) {
        for (const d of c.delta.tool_calls ?? []) {
          calls[d.index] ??= { arguments: '' };
          if (d.id) calls[d.index].id = d.id;
          if (d.function?.name) calls[d.index].name = d.function.name;
          calls[d.index].arguments += d.function?.arguments ?? '';
        }
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    expect(finish).toBe('tool_calls');
    expect(calls).toHaveLength(1);
    expect(calls[0].name).toBe('get_weather');
    const args = JSON.parse(calls[0].arguments);
    expect(ajv.validate(weather, args)).toBe(true);
    const next = await client.chat.completions.create({
      model: 'coder',
      max_tokens: 8,
      temperature: 0,
      tools,
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: calls[0].id!, type: 'function', function: { name: 'get_weather', arguments: calls[0].arguments } }] },
        { role: 'tool', tool_call_id: calls[0].id!, content: '{"temperature": 21}' },
      ],
    });
    expect(next.usage!.prompt_tokens).toBeGreaterThan(Buffer.byteLength(calls[0].arguments));
  });

  it('tools with auto: the model chooses between words and calls', async () => {
    const answers = await Promise.all(
      [1, 2, 3, 4].map((seed) => client.chat.completions.create({ model: 'poet', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 90, temperature: 1.5, seed, tools })),
    );
    for (const a of answers) {
      const choice = a.choices[0];
      if (choice.message.tool_calls?.length) {
        expect(choice.finish_reason).toBe('tool_calls');
        for (const call of choice.message.tool_calls) {
          const f = (call as { function: { name: string; arguments: string } }).function;
          expect(ajv.validate(argsSchema[f.name], JSON.parse(f.arguments))).toBe(true);
        }
      } else {
        expect(choice.message.content!.startsWith('<tool_call>')).toBe(false);
      }
    }
  });

  it('logit_bias, frequency and presence penalties, top_logprobs', async () => {
    const a = 'A'.charCodeAt(0); // the byte tokenizer: token id = byte
    const biased = await client.chat.completions.create({ model: 'poet', messages: [{ role: 'user', content: 'x' }], max_tokens: 10, temperature: 0, logit_bias: { [a]: 100 } });
    expect(biased.choices[0].message.content).toBe('A'.repeat(10));
    const penalized = await client.chat.completions.create({ model: 'poet', messages: [{ role: 'user', content: 'x' }], max_tokens: 10, temperature: 0, logit_bias: { [a]: 100 }, frequency_penalty: 2, presence_penalty: 2 });
    expect(penalized.choices[0].message.content).toBe('A'.repeat(10)); // 100 outweighs 2 + 2 x count for 10 tokens
    const light = await client.chat.completions.create({ model: 'poet', messages: [{ role: 'user', content: 'x' }], max_tokens: 10, temperature: 0, logit_bias: { [a]: 12 }, frequency_penalty: 2 });
    const count = [...light.choices[0].message.content!].filter((ch) => ch === 'A').length;
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThan(10); // the penalty grows until another token wins
    const top = await client.chat.completions.create({ model: 'poet', messages: [{ role: 'user', content: 'x' }], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 5 });
    for (const entry of top.choices[0].logprobs!.content!) {
      expect(entry.top_logprobs).toHaveLength(5);
      const lps = entry.top_logprobs.map((e) => e.logprob);
      expect([...lps].sort((x, y) => y - x)).toEqual(lps);
      expect(entry.top_logprobs[0].logprob).toBeCloseTo(entry.logprob, 4); // greedy: the most likely token
      expect(entry.top_logprobs[0].bytes).toEqual(entry.bytes);
    }
    const legacy = await client.completions.create({ model: 'poet', prompt: 'x', max_tokens: 4, temperature: 0, logprobs: 3, n: 2 });
    expect(legacy.choices).toHaveLength(2);
    expect(legacy.choices[0].text).toBe(legacy.choices[1].text); // greedy: every choice alike
    for (const tops of legacy.choices[0].logprobs!.top_logprobs!) expect(Object.keys(tops).length).toBeLessThanOrEqual(3);
  });
});
