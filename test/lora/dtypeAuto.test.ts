/**
 * `lora.dtype: auto`, the default (src/lora/dtype.ts `resolveLoraDtype`, as vLLM's `--lora-dtype
 * auto`: the base model's dtype): f16 factors on a 16-bit or quantized base, f32 on an f32 one, in
 * unified memory or without shader-f16; explicit f32 and f16 as they are. The backends and the
 * node resolve it the same way and show what they hold (`backend.lora.dtype`, the status page's
 * `engine.lora_dtype`); the range error's hint names commands that parse.
 */
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeStatus } from '../../src/api/statusSchemas.ts';
import { registerGenerate } from '../../src/cli/commands/generate.ts';
import { registerNode } from '../../src/cli/commands/node.ts';
import { configFromOptions } from '../../src/cli/options.ts';
import { createCpuBackend } from '../../src/engine/cpu/backend.ts';
import { createReferenceBackend } from '../../src/engine/reference/backend.ts';
import { DEFAULT_LORA_DTYPE, resolveLoraDtype, type LoraDtypeBase } from '../../src/lora/dtype.ts';
import { LoraDtypeRangeError } from '../../src/lora/errors.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import type { QuantizeType } from '../../src/model/quant/formats.ts';
import type { StoredDtype } from '../../src/model/weights.ts';
import { createBackend } from '../../src/node/backend.ts';
import { createTinyModel } from '../fixtures/model.ts';
import { startTestNode } from '../fixtures/node.ts';

/** A base model as `resolveLoraDtype` reads it: its device dtype, `--quantize`, and the stored dtypes of its tensors. */
function base(dtype: LoraDtypeBase['dtype'], stored: StoredDtype[] = ['F32'], quantize?: QuantizeType): LoraDtypeBase {
  const names = stored.map((_, i) => `t${i}`);
  return { dtype, quantize, weights: { names: () => names, info: (name) => ({ name, dtype: stored[names.indexOf(name)], shape: [32, 32], file: 'model.safetensors' }) as never } };
}

describe('lora.dtype auto', () => {
  it('is the default', () => {
    expect(DEFAULT_LORA_DTYPE).toBe('auto');
    expect(resolveLoraDtype({ model: base('f16', ['F16']) })).toBe('f16');
  });

  it('follows the base model: f16 on f16, bf16 and quantized bases (GGUF blocks, --quantize), f32 on an f32 one', () => {
    expect(resolveLoraDtype({ setting: 'auto', model: base('f32') })).toBe('f32');
    expect(resolveLoraDtype({ setting: 'auto', model: base('f16', ['F16']) })).toBe('f16');
    expect(resolveLoraDtype({ setting: 'auto', model: base('bf16', ['BF16']) })).toBe('f16');
    expect(resolveLoraDtype({ setting: 'auto', model: base('f32', ['F32'], 'q8_0') })).toBe('f16');
    // A GGUF file of f32 norms and embedding with Q8_0 matrices: the device dtype says f32, the matrices are quantized.
    expect(resolveLoraDtype({ setting: 'auto', model: base('f32', ['F32', 'q8_0', 'F32']) })).toBe('f16');
    expect(resolveLoraDtype({ setting: 'auto', model: base('f32', ['F32', 'q4_k']) })).toBe('f16');
  });

  it('is f32 in unified memory (pages hold f32) and where the backend cannot hold f16 slots (WebGPU without shader-f16)', () => {
    expect(resolveLoraDtype({ setting: 'auto', model: base('f16', ['F16']), unified: true })).toBe('f32');
    expect(resolveLoraDtype({ setting: 'auto', model: base('bf16', ['BF16']), f16Slots: false })).toBe('f32');
    expect(resolveLoraDtype({ setting: 'auto', model: base('f16', ['F16']), unified: false, f16Slots: true })).toBe('f16');
  });

  it('leaves explicit f32 and f16 as they are (the backends refuse f16 where they cannot hold it)', () => {
    expect(resolveLoraDtype({ setting: 'f32', model: base('f16', ['F16']) })).toBe('f32');
    expect(resolveLoraDtype({ setting: 'f32', model: base('f32', ['q8_0']) })).toBe('f32');
    expect(resolveLoraDtype({ setting: 'f16', model: base('f32') })).toBe('f16');
    expect(resolveLoraDtype({ setting: 'f16', model: base('f16', ['F16']), unified: true })).toBe('f16');
    expect(resolveLoraDtype({ setting: 'f16', model: base('f16', ['F16']), f16Slots: false })).toBe('f16');
  });
});

describe('lora.dtype auto on the backends', () => {
  let dir: string;
  const models: LoadedModel[] = [];
  const model = async (dtype?: 'f16' | 'f32', quantize?: 'q8_0') => {
    const m = await loadModel({ dir, dtype, quantize });
    models.push(m);
    return m;
  };
  beforeAll(async () => {
    dir = await createTinyModel();
  });
  afterAll(async () => {
    for (const m of models) await m.close();
  });

  it('the reference and CPU backends hold f16 factors on an f16 or quantized base by default, f32 on the f32 base, and f32 when asked', async () => {
    for (const [m, want] of [[await model('f16'), 'f16'], [await model(undefined, 'q8_0'), 'f16'], [await model(), 'f32']] as const) {
      const reference = await createReferenceBackend({ model: m, numKvBlocks: 2, loraSlots: 1, maxLoraRank: 4 });
      const cpu = await createCpuBackend({ model: m, numKvBlocks: 2, loraSlots: 1, maxLoraRank: 4, threads: 1 });
      const explicit = await createReferenceBackend({ model: m, numKvBlocks: 2, loraSlots: 1, maxLoraRank: 4, loraDtype: 'f32' });
      expect([reference.lora.dtype, cpu.lora.dtype, explicit.lora.dtype], `${m.dtype}${m.quantize ? ` ${m.quantize}` : ''} base`).toEqual([want, want, 'f32']);
      for (const b of [reference, cpu, explicit]) b.destroy();
    }
  });

  it('unified memory (the node gives pages) holds f32 factors on every backend, the reference included', async () => {
    const m = await model('f16');
    for (const kind of ['cpu', 'reference'] as const) {
      const { backend } = await createBackend({ model: m, kind, resolved: { kind, reason: 'test' }, numKvBlocks: 4, pageBytes: 2 * m.config.numLayers * 16 * m.config.numKvHeads * m.config.headDim * 4, loraSlots: 1, maxLoraRank: 4, threads: 1 });
      expect(backend.lora.dtype, kind).toBe('f32');
      backend.destroy();
    }
  });
});

describe('lora.dtype on a node', () => {
  it('auto on an f16 base: f16 factors, shown as engine.lora_dtype on the status page; f32 on the f32 base', async () => {
    for (const [dtype, want] of [['f16', 'f16'], ['auto', 'f32']] as const) {
      const t = await startTestNode({ overrides: { 'model.dtype': dtype } });
      try {
        expect(t.config.lora.dtype).toBe('auto');
        expect(t.node.backend.lora.dtype).toBe(want);
        const status = (await (await fetch(`${t.node.url}/v1/node/status`)).json()) as NodeStatus;
        expect(status.engine.lora_dtype).toBe(want);
      } finally {
        await t.node.stop();
      }
    }
  });
});

describe('the range error under auto', () => {
  it('names lora.dtype: f32, and the commands its hint gives parse to it', async () => {
    const hint = new LoraDtypeRangeError('layers.0.q_proj.lora_A', 3, 70000, 'f16').hint!;
    expect(hint).toContain('lora.dtype: f32');
    expect(hint).toContain('auto');
    const set = /--set (lora\.dtype=f32)/.exec(hint)![1];
    expect((await configFromOptions({ set: [set] })).lora.dtype).toBe('f32');
    const flag = /--lora-dtype (f32)/.exec(hint)![0].split(' ');
    const program = new Command().exitOverride();
    registerNode(program);
    registerGenerate(program);
    const start = program.commands.find((c) => c.name() === 'node')!.commands.find((c) => c.name() === 'start')!;
    expect(start.parseOptions(flag).unknown).toEqual([]);
    expect(start.opts().loraDtype).toBe('f32');
    const generate = program.commands.find((c) => c.name() === 'generate')!;
    expect(generate.opts().loraDtype).toBe('auto');
    generate.parseOptions(flag);
    expect(generate.opts().loraDtype).toBe('f32');
  });
});
