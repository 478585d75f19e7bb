import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.ts';
import { generate } from '../../src/engine/generate.ts';
import { createCpuBackend } from '../../src/engine/cpu/backend.ts';
import { logprobOf } from '../../src/engine/sampling.ts';
import { createModel } from '../../src/model/create.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import { main } from '../../src/cli/main.ts';

let dir: string;
let model: LoadedModel;
let cpu: Backend;
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'openlora-generate-'));
  await createModel({ preset: 'tiny', seed: 1, out: join(dir, 'tiny') });
  model = await loadModel({ dir: join(dir, 'tiny') });
  cpu = await createCpuBackend({ model, numKvBlocks: 8 });
});
afterAll(async () => {
  cpu?.destroy();
  await model?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI, capturing stdout. */
async function cli(args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    process.exitCode = undefined;
    const code = await main(['node', 'openlora', ...args]);
    return { code, stdout };
  } finally {
    process.stdout.write = write;
  }
}

describe('generate driver', () => {
  it('streams each token, and its logprobs are the model\'s (teacher-forced check)', async () => {
    const promptTokens = [5, 80, 81, 82, 83];
    const streamed: number[] = [];
    const r = await generate({ backend: cpu, promptTokens, maxTokens: 6, sampling: greedy, onToken: (t) => streamed.push(t) });
    expect(r.tokens).toEqual(streamed);
    expect(r.tokens).toHaveLength(6);
    expect(r.finishReason).toBe('length');
    const [l] = await cpu.logits([{ tokens: promptTokens, startPos: 0, blockTable: [7], adapterSlot: -1 }]);
    expect(r.logprobs[0]).toBeCloseTo(logprobOf(l, r.tokens[0]), 5);
  });

  it('stops at an eos token and includes it', async () => {
    const first = await generate({ backend: cpu, promptTokens: [9, 10, 11], maxTokens: 8, sampling: greedy });
    const eos = first.tokens[2];
    const r = await generate({ backend: cpu, promptTokens: [9, 10, 11], maxTokens: 8, sampling: greedy, eosTokenIds: [eos] });
    expect(r.finishReason).toBe('eos');
    expect(r.tokens).toEqual(first.tokens.slice(0, first.tokens.indexOf(eos) + 1));
  });

  it('rejects empty prompts, bad ids and contexts past the KV pool with stable codes', async () => {
    await expect(generate({ backend: cpu, promptTokens: [], maxTokens: 2, sampling: greedy })).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_PROMPT_EMPTY' });
    await expect(generate({ backend: cpu, promptTokens: [1, 100000], maxTokens: 2, sampling: greedy })).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_TOKEN_OUT_OF_RANGE' });
    await expect(generate({ backend: cpu, promptTokens: [1, 2], maxTokens: 200, sampling: greedy })).rejects.toMatchObject({ code: 'OPENLORA_ENGINE_CONTEXT_EXCEEDED' });
  });
});

describe('openlora generate', () => {
  it('--json on both backends: same greedy tokens, text from the tokenizer', async () => {
    const base = ['generate', '--model', join(dir, 'tiny'), '--prompt', 'Hello', '--max-tokens', '8', '--json'];
    const gpuRun = await cli([...base, '--backend', 'webgpu']);
    const cpuRun = await cli(base); // auto: the CPU backend on this machine's software adapter (lavapipe)
    expect(gpuRun.code).toBe(0);
    const a = JSON.parse(gpuRun.stdout);
    const b = JSON.parse(cpuRun.stdout);
    expect(a.tokens).toHaveLength(8);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.promptTokens).toBe(b.promptTokens);
    expect(typeof a.text).toBe('string');
    expect(a.logprobs).toHaveLength(8);
    expect(a.timings.timeToFirstTokenMs).toBeGreaterThan(0);
    expect(a.backend).toBe('webgpu');
    // Kernels compile during load, reported on their own (not in loadMs, not in the prefill).
    expect(a.timings.compileMs).toBeGreaterThan(0);
    expect(a.timings.warmupMs).toBeGreaterThan(a.timings.compileMs); // then a first pass
    expect(a.timings.loadMs).toBeGreaterThan(0);
    expect(b.timings).toMatchObject({ compileMs: 0, warmupMs: 0 });
    expect(b.backend).toBe('cpu');
  });

  it('errors: ids outside the vocabulary and prompts longer than the context', async () => {
    const bad = await cli(['generate', '--model', join(dir, 'tiny'), '--prompt-ids', '1,2,99999', '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).error.code).toBe('OPENLORA_ENGINE_TOKEN_OUT_OF_RANGE');
    const long = await cli(['generate', '--model', join(dir, 'tiny'), '--prompt-ids', Array.from({ length: 2100 }, () => 7).join(','), '--json']);
    expect(JSON.parse(long.stdout).error.code).toBe('OPENLORA_ENGINE_CONTEXT_EXCEEDED');
    const none = await cli(['generate', '--model', join(dir, 'tiny'), '--json']);
    expect(JSON.parse(none.stdout).error.code).toBe('OPENLORA_CLI_PROMPT');
  });
});
