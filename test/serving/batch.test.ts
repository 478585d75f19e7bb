import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import type { Backend } from '../../src/engine/backend.ts';
import { generate } from '../../src/engine/generate.ts';
import { createReferenceBackend } from '../../src/engine/reference/backend.ts';
import { createAdapter } from '../../src/lora/create.ts';
import { loadPeftAdapter } from '../../src/lora/peft.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import { createBackend } from '../../src/node/backend.ts';
import { parseBatchFile, runBatch } from '../../src/serving/batch.ts';
import { createTinyModel, makeTempDir } from '../fixtures/model.ts';

const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
let root: string;
let modelDir: string;
let model: LoadedModel;
let cpu: Backend; // slots 0, 1: adapters a, b
const adapterDirs: string[] = [];

beforeAll(async () => {
  root = await makeTempDir('openlora-batch-');
  modelDir = await createTinyModel({ seed: 1 });
  model = await loadModel({ dir: modelDir });
  cpu = await createReferenceBackend({ model, numKvBlocks: 16, loraSlots: 2, maxLoraRank: 16 });
  for (const [i, rank] of [8, 16].entries()) {
    const out = join(root, `adapter-${'ab'[i]}`);
    await createAdapter({ model: modelDir, rank, seed: 40 + i, out });
    adapterDirs.push(out);
    await cpu.lora.load(i, (await loadPeftAdapter({ dir: out, config: model.config })).weights);
  }
});
afterAll(async () => {
  cpu?.destroy();
  await model?.close();
});

/** Runs the CLI in-process, capturing stdout. */
async function cli(args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    process.exitCode = undefined;
    const code = await main(['node', 'openlora', ...args]);
    return { code, stdout };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
    process.exitCode = undefined;
  }
}

const reference = async (promptTokens: number[], slot: number, maxTokens: number) =>
  (await generate({ backend: cpu, promptTokens, maxTokens, sampling: greedy, adapterSlot: slot })).tokens;

describe('openlora generate with adapters', () => {
  it('--adapter DIR: the WebGPU tokens are the CPU reference\'s with that adapter, not the base model\'s', async () => {
    const args = ['generate', '--model', modelDir, '--prompt-ids', '5,6,7,8', '--max-tokens', '10', '--json', '--backend', 'webgpu'];
    const run = await cli([...args, '--adapter', adapterDirs[1]]);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.backend).toBe('webgpu');
    expect(out.adapter).toMatch(/^0x[0-9a-f]{64}$/);
    expect(out.loraDtype, 'lora.dtype auto on the f32 model').toBe('f32');
    expect(out.tokens).toEqual(await reference([5, 6, 7, 8], 1, 10));
    expect(out.tokens).not.toEqual(await reference([5, 6, 7, 8], -1, 10));
  });

  it('--lora-dtype f16: the CPU backend runs the adapter with f16-rounded factors (the reference\'s logprobs with them, not with f32 ones)', async () => {
    const promptTokens = [5, 6, 7, 8];
    const args = ['generate', '--model', modelDir, '--prompt-ids', promptTokens.join(','), '--max-tokens', '10', '--json', '--backend', 'cpu', '--adapter', adapterDirs[1]];
    const run = await cli([...args, '--lora-dtype', 'f16']);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as { tokens: number[]; logprobs: number[]; loraDtype: string };
    expect(out.loraDtype).toBe('f16');
    const f16 = await createReferenceBackend({ model, numKvBlocks: 16, loraSlots: 1, maxLoraRank: 16, loraDtype: 'f16' });
    await f16.lora.load(0, (await loadPeftAdapter({ dir: adapterDirs[1], config: model.config })).weights);
    const want = await generate({ backend: f16, promptTokens, maxTokens: 10, sampling: greedy, adapterSlot: 0 });
    const unrounded = await generate({ backend: cpu, promptTokens, maxTokens: 10, sampling: greedy, adapterSlot: 1 });
    f16.destroy();
    expect(out.tokens).toEqual(want.tokens);
    const gap = (a: number[]) => Math.max(...a.map((lp, i) => Math.abs(lp - out.logprobs[i])));
    expect(gap(want.logprobs)).toBeLessThan(1e-5);
    expect(gap(unrounded.logprobs)).toBeGreaterThan(1e-5);
    expect((await cli([...args, '--lora-dtype', 'bf16'])).code).not.toBe(0);
  });

  it('--batch FILE --json: mixed adapters run together; each request gets its own greedy tokens', async () => {
    const lines = [
      { id: 'a1', promptIds: [1, 2, 3], adapter: adapterDirs[0], maxTokens: 8 },
      { id: 'base', promptIds: [1, 2, 3], adapter: null, maxTokens: 6 },
      { id: 'b1', prompt: 'Hello', adapter: adapterDirs[1], maxTokens: 8 },
      { id: 7, promptIds: [9, 8, 7, 6, 5], maxTokens: 5 }, // no "adapter": the --adapter default (b)
      { id: 'a2', promptIds: [40, 41], adapter: adapterDirs[0], maxTokens: 8, temperature: 0.8, seed: 3 },
    ];
    const file = join(root, 'batch.jsonl');
    await writeFile(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n\n');
    const run = await cli(['generate', '--model', modelDir, '--batch', file, '--adapter', adapterDirs[1], '--json']);
    expect(run.code).toBe(0);
    const out = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(out.map((o) => o.id)).toEqual(['a1', 'base', 'b1', '7', 'a2']);
    const hello = model.tokenizer!.encode('Hello', { addSpecialTokens: true });
    expect(out[0].tokens).toEqual(await reference([1, 2, 3], 0, 8));
    expect(out[1].tokens).toEqual(await reference([1, 2, 3], -1, 6));
    expect(out[2].tokens).toEqual(await reference(hello, 1, 8));
    expect(out[2].promptTokens).toBe(hello.length);
    expect(out[3].tokens).toEqual(await reference([9, 8, 7, 6, 5], 1, 5));
    const sampled = await generate({ backend: cpu, promptTokens: [40, 41], maxTokens: 8, sampling: { ...greedy, temperature: 0.8, seed: 3 }, adapterSlot: 0 });
    expect(out[4].tokens).toEqual(sampled.tokens);
    for (const o of out) {
      expect(o.logprobs).toHaveLength(o.tokens.length);
      expect(o.finishReason).toBe('length');
    }
  });

  it('runBatch shares engine steps between adapters and reports per-request errors', async () => {
    const requests = parseBatchFile(
      [
        JSON.stringify({ id: 'x', promptIds: [3, 4], adapter: adapterDirs[0], maxTokens: 6 }),
        JSON.stringify({ id: 'y', promptIds: [3, 4], adapter: adapterDirs[1], maxTokens: 6 }),
        JSON.stringify({ id: 'z', promptIds: [3, 4], maxTokens: 6 }),
        JSON.stringify({ id: 'bad', promptIds: [3, 99999], maxTokens: 2 }),
      ].join('\n'),
      'mem.jsonl',
    );
    const seen: string[] = [];
    const run = await runBatch({
      model,
      requests,
      defaults: { maxTokens: 4, temperature: 0, topK: 0, topP: 1, seed: 0, adapter: null },
      createBackend: ({ loraSlots, maxLoraRank }) => createBackend({ model, kind: 'webgpu', numKvBlocks: 16, loraSlots, maxLoraRank }),
      onResult: (r) => seen.push(r.id),
    });
    expect(seen).toEqual(['x', 'y', 'z', 'bad']);
    expect(run.backend.loraSlots).toBe(2);
    expect(run.results[3]).toMatchObject({ finishReason: 'error', error: { code: 'OPENLORA_ENGINE_TOKEN_OUT_OF_RANGE' } });
    expect(run.results.slice(0, 3).map((r) => r.tokens.length)).toEqual([6, 6, 6]);
    expect(run.results[0].tokens).not.toEqual(run.results[1].tokens);
    // One at a time: 3 x 6 = 18 steps. Adapter loads are asynchronous, so how many steps z runs alone
    // before x and y join depends on the machine's load; any sharing stays under 18.
    expect(run.scheduler.steps).toBeLessThan(18);
  });

  it('rejects invalid batch lines with their line number', () => {
    expect(() => parseBatchFile('{"id":1,"promptIds":[1]}\n{"id":2}\n', 'f.jsonl')).toThrow(expect.objectContaining({ code: 'OPENLORA_SERVING_BATCH_INVALID', message: expect.stringContaining('f.jsonl:2') }));
    expect(() => parseBatchFile('{"id":1,"promptIds":[1],"temp":1}', 'f.jsonl')).toThrow(/unknown field "temp"/);
    expect(() => parseBatchFile('{"id":1,"promptIds":[1]}\n{"id":1,"prompt":"x"}', 'f.jsonl')).toThrow(/duplicate id/);
    expect(() => parseBatchFile('not json', 'f.jsonl')).toThrow(/f\.jsonl:1: not JSON/);
  });
});
