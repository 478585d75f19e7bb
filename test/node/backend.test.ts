import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../../src/engine/webgpu/backend.ts';
import { startTestNode, type TestNode } from '../fixtures/node.ts';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode({ overrides: { 'model.backend': 'webgpu' } });
});
afterAll(async () => {
  await t?.node.stop();
});

describe('a node on the WebGPU engine', () => {
  it('serves only once its kernels are compiled, and no request compiles one', async () => {
    const backend = t.node.backend as WebGpuBackend;
    expect(backend.kind).toBe('webgpu');
    // startNode resolved (its API listening) with every kernel warm, LoRA's included.
    expect(backend.pipelines.cold()).toEqual([]);
    expect(backend.pipelines.kernels.some((k) => k.name.startsWith('lora_shrink'))).toBe(true);
    expect((await fetch(`${t.node.url}/health`)).status).toBe(200);
    const client = new OpenAI({ baseURL: `${t.node.url}/v1`, apiKey: 'unused-in-open-mode', maxRetries: 0 });
    await Promise.all([
      client.completions.create({ model: 'poet', prompt: 'A long enough prompt to take several rows of the linear kernel at once.', max_tokens: 4, temperature: 0 }),
      client.chat.completions.create({ model: t.node.inference.baseModelName, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, temperature: 0 }),
    ]);
    expect(backend.pipelines.late).toEqual([]);
  });
});
