/**
 * GGUF files as openlora writes and reads them: an independent parser (@huggingface/gguf) reads
 * what `model create --format gguf` writes (types, shapes, offsets, metadata); every architecture
 * round-trips through GGUF to the same config and weights; llama.cpp's conventions (q/k row
 * permutation, Gemma's `1 + w` norms, config from `{arch}.*` keys without openlora's own key) and
 * the tokenizer rebuilt from metadata; malformed files are refused with codes.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gguf as hfGguf } from '@huggingface/gguf';
import { describe, expect, it } from 'vitest';
import { createModel } from '../../../src/model/create.ts';
import { readDeviceMatrix } from '../../../src/model/deviceTensor.ts';
import { GGML_TYPES } from '../../../src/model/gguf/format.ts';
import { HF_CONFIG_KEY } from '../../../src/model/gguf/config.ts';
import { openGguf } from '../../../src/model/gguf/read.ts';
import { writeGguf } from '../../../src/model/gguf/write.ts';
import { loadModel, type LoadedModel } from '../../../src/model/load.ts';
import { presetConfigJson, type ModelPreset } from '../../../src/model/presets.ts';
import { makeTempDir } from '../../fixtures/model.ts';

const PRESETS = ['tiny', 'tiny-mistral', 'tiny-qwen2', 'tiny-gemma', 'tiny-gemma2', 'tiny-phi3'] as const satisfies readonly ModelPreset[];

async function both(preset: ModelPreset, options: { dtype?: 'f32' | 'f16'; quantize?: 'q8_0' | 'q4_0' | 'q4_k' } = {}): Promise<{ st: string; gg: string }> {
  const root = await makeTempDir(`openlora-gguf-${preset}-`);
  const st = join(root, 'st');
  const gg = join(root, 'gg');
  await createModel({ preset, seed: 3, dtype: options.dtype, out: st });
  await createModel({ preset, seed: 3, dtype: options.dtype, out: gg, format: 'gguf', quantize: options.quantize });
  return { st, gg };
}

async function withModels<T>(dirs: string[], f: (...m: LoadedModel[]) => Promise<T>, quantize?: 'q8_0' | 'q4_0' | 'q4_k'): Promise<T> {
  const models = await Promise.all(dirs.map((dir) => loadModel({ dir, quantize })));
  try {
    return await f(...models);
  } finally {
    await Promise.all(models.map((m) => m.close()));
  }
}

/** Rewrites a GGUF file without some metadata keys (what a file from llama.cpp's converter lacks). */
async function withoutKeys(path: string, out: string, keys: string[]): Promise<void> {
  const f = await openGguf({ path });
  try {
    const metadata = new Map([...f.metadata].filter(([k]) => !keys.includes(k)));
    const tensors = [...f.tensors.values()].map((t) => ({ name: t.name, shape: [...t.ne].reverse(), type: t.type, data: () => f.readBytes(t.name) }));
    await writeGguf({ path: out, metadata, tensors });
  } finally {
    await f.close();
  }
}

describe('GGUF written by model create --format gguf', () => {
  it('parses with @huggingface/gguf: ggml type ids, ne order, aligned offsets, llama.cpp metadata', async () => {
    const { gg } = await both('tiny', { quantize: 'q8_0' });
    const path = join(gg, 'model.gguf');
    const parsed = await hfGguf(path, { allowLocalFile: true });
    const meta = parsed.metadata as unknown as Record<string, unknown>;
    const ours = await openGguf({ path });
    try {
      expect(parsed.metadata.version).toBe(3);
      expect(meta['general.architecture']).toBe('llama');
      expect(meta['llama.block_count']).toBe(2);
      expect(meta['llama.embedding_length']).toBe(128);
      expect(meta['llama.attention.head_count_kv']).toBe(2);
      expect(meta['tokenizer.ggml.model']).toBe('gpt2');
      expect((meta['tokenizer.ggml.tokens'] as string[]).length).toBe(264);
      expect(parsed.tensorInfos.map((t) => t.name)).toEqual([...ours.tensors.keys()]);
      const first = Math.min(...[...ours.tensors.values()].map((t) => t.offset));
      for (const info of parsed.tensorInfos) {
        const t = ours.tensors.get(info.name)!;
        expect(info.shape.map(Number)).toEqual(t.ne);
        expect(info.dtype).toBe(GGML_TYPES[t.type].id);
        expect(Number(info.offset)).toBe(t.offset - first);
        expect(t.offset % 32).toBe(0);
      }
      expect(parsed.tensorInfos.find((t) => t.name === 'blk.0.attn_q.weight')!.dtype).toBe(8); // Q8_0
      expect(parsed.tensorInfos.find((t) => t.name === 'blk.0.attn_norm.weight')!.dtype).toBe(0); // norms stay F32
      expect(parsed.tensorInfos.find((t) => t.name === 'token_embd.weight')!.shape.map(Number)).toEqual([128, 264]);
    } finally {
      await ours.close();
    }
  });

  for (const preset of PRESETS) {
    it(`${preset}: the same config and weights read back (Gemma norms within f32 rounding of 1 + w)`, async () => {
      const { st, gg } = await both(preset);
      await withModels([st, gg], async (a, b) => {
        expect(b.gguf).toBe(join(gg, 'model.gguf'));
        expect(b.config).toEqual(a.config);
        expect(b.weights.names().sort()).toEqual(a.weights.names().sort());
        for (const name of a.weights.names()) {
          const x = await a.weights.f32(name);
          const y = await b.weights.f32(name);
          const tol = name.endsWith('norm.weight') && preset.startsWith('tiny-gemma') ? 1.2e-7 : 0;
          let max = 0;
          for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
          expect(max, name).toBeLessThanOrEqual(tol);
        }
        expect(b.tokenizer!.encode('Hello, wörld!')).toEqual(a.tokenizer!.encode('Hello, wörld!'));
        expect(b.generation.eosTokenIds.sort()).toEqual(a.generation.eosTokenIds.sort());
        const messages = [{ role: 'user' as const, content: 'hi' }];
        expect(b.chatTemplate!.render({ messages, addGenerationPrompt: true })).toBe(a.chatTemplate!.render({ messages, addGenerationPrompt: true }));
      });
    });
  }

  it('stores Llama q/k rows in llama.cpp order: HF row half·h + i at 2i + half within each head', async () => {
    const { st, gg } = await both('tiny');
    const f = await openGguf({ path: join(gg, 'model.gguf') });
    try {
      await withModels([st], async (a) => {
        const hf = await a.weights.f32('model.layers.0.self_attn.k_proj.weight'); // [2 kv heads · 32, 128]
        const raw = new Float32Array((await f.readBytes('blk.0.attn_k.weight')).buffer);
        const cols = 128;
        for (const [h, half, i] of [[0, 0, 0], [0, 1, 0], [1, 0, 5], [1, 1, 15]]) {
          const from = h * 32 + half * 16 + i;
          const to = h * 32 + 2 * i + half;
          expect(raw.subarray(to * cols, (to + 1) * cols)).toEqual(hf.subarray(from * cols, (from + 1) * cols));
        }
      });
    } finally {
      await f.close();
    }
  });

  it("reads a file without openlora's config key from llama.cpp's keys alone", async () => {
    for (const preset of ['tiny', 'tiny-mistral', 'tiny-gemma', 'tiny-gemma2', 'tiny-phi3'] as const) {
      const { st, gg } = await both(preset);
      const bare = join(gg, 'bare.gguf');
      await withoutKeys(join(gg, 'model.gguf'), bare, [HF_CONFIG_KEY]);
      await withModels([st, bare], async (a, b) => {
        const expected = { ...a.config };
        if (preset === 'tiny-gemma2') expected.attnScale = 1 / Math.sqrt(a.config.headDim); // llama.cpp: head_dim^-1/2 below 27B
        expect(b.config, preset).toEqual(expected);
      });
    }
  });

  it('loads a Q8_0 GGUF to the same blocks as --quantize q8_0 on the safetensors model', async () => {
    const { st, gg } = await both('tiny', { quantize: 'q8_0' });
    await withModels([st], async (a) => {
      await withModels([gg], async (b) => {
        for (const name of ['model.layers.1.self_attn.q_proj.weight', 'model.layers.0.mlp.down_proj.weight', 'model.embed_tokens.weight']) {
          const x = await readDeviceMatrix({ weights: a.weights, name, dtype: 'f32', quantize: 'q8_0', keepQuantized: true });
          const y = await readDeviceMatrix({ weights: b.weights, name, dtype: 'f32', keepQuantized: true });
          expect(y.dtype).toBe('q8_0');
          expect(Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength).equals(Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength)), name).toBe(true);
        }
      });
    }, 'q8_0');
  });

  it('refuses malformed files with codes: bad magic, truncation, an unsupported tensor type', async () => {
    const { gg } = await both('tiny');
    const path = join(gg, 'model.gguf');
    const bytes = await readFile(path);
    const bad = join(gg, 'bad.gguf');
    await writeFile(bad, Buffer.concat([Buffer.from('GGUX'), bytes.subarray(4)]));
    await expect(openGguf({ path: bad })).rejects.toMatchObject({ code: 'OPENLORA_MODEL_GGUF_INVALID', shortMessage: expect.stringContaining('magic') });
    await writeFile(bad, bytes.subarray(0, bytes.byteLength - 1000));
    await expect(openGguf({ path: bad })).rejects.toMatchObject({ code: 'OPENLORA_MODEL_GGUF_INVALID', shortMessage: expect.stringContaining('runs past the end') });
    // Rewrite the first tensor's type (u32 after its dims) to q4_1 (3).
    const f = await openGguf({ path });
    const first = [...f.tensors.values()][0];
    await f.close();
    const name = Buffer.from(first.name);
    const at = bytes.indexOf(name) + name.byteLength + 4 + 8 * first.ne.length;
    const patched = Buffer.from(bytes);
    patched.writeUInt32LE(3, at);
    await writeFile(bad, patched);
    await expect(openGguf({ path: bad })).rejects.toMatchObject({ code: 'OPENLORA_MODEL_DTYPE_UNSUPPORTED', shortMessage: expect.stringContaining('q4_1') });
    const fh = await open(bad, 'r');
    await fh.close();
  });

  it('model create refuses --quantize without --format gguf', async () => {
    const out = await makeTempDir('openlora-gguf-refuse-');
    await expect(createModel({ preset: 'tiny', seed: 1, out, quantize: 'q4_0' })).rejects.toMatchObject({ code: 'OPENLORA_MODEL_QUANTIZE_FORMAT' });
    expect(presetConfigJson('tiny')).toBeDefined();
  });
});
