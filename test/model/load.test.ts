import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/load.ts';
import { parseModelConfig } from '../../src/model/parseConfig.ts';
import { openSafetensors } from '../../src/model/safetensors.ts';
import { writeSafetensors } from '../../src/model/safetensorsWrite.ts';
import { f16BitsToF32, f32ToF16Bits, bf16BitsToF32, f32ToBf16Bits } from '../../src/model/dtype.ts';
import { createTinyModel, makeTempDir, smallConfigJson, writeHandmadeModel } from '../fixtures/model.ts';

async function codeOf(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  return promise.then(
    () => ({ code: 'RESOLVED', message: '' }),
    (e: { code?: string; message: string }) => e,
  );
}

describe('parseModelConfig', () => {
  const parse = (json: Record<string, unknown>) => parseModelConfig({ json, file: 'config.json' });

  it('Llama 3 with llama3 rope_scaling, tied, head_dim', () => {
    const c = parse(
      smallConfigJson({
        head_dim: 16,
        rope_theta: 500000,
        rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
        tie_word_embeddings: true,
        eos_token_id: [1, 2],
        torch_dtype: 'bfloat16',
      }),
    );
    expect(c).toMatchObject({ headDim: 16, ropeTheta: 500000, tieWordEmbeddings: true, eosTokenIds: [1, 2], torchDtype: 'bfloat16' });
    expect(c.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  });

  it('Qwen2 has q/k/v biases; Mistral and TinyLlama-style defaults', () => {
    expect(parse(smallConfigJson({ architectures: ['Qwen2ForCausalLM'] })).attentionBias).toBe(true);
    const m = parse(smallConfigJson({ architectures: ['MistralForCausalLM'], num_key_value_heads: undefined, rope_theta: undefined, rms_norm_eps: 1e-6 }));
    expect(m).toMatchObject({ numKvHeads: 4, ropeTheta: 10000, rmsNormEps: 1e-6, headDim: 8, attentionBias: false, ropeScaling: undefined });
  });

  it('rejects unknown architectures and bad values with stable codes', () => {
    const arch = (() => {
      try {
        parse(smallConfigJson({ architectures: ['GPT2LMHeadModel'] }));
      } catch (e) {
        return e as { code: string; message: string };
      }
    })();
    expect(arch?.code).toBe('OPENLORA_MODEL_ARCHITECTURE_UNSUPPORTED');
    expect(arch?.message).toContain('GPT2LMHeadModel');
    expect(() => parse(smallConfigJson({ hidden_size: -1 }))).toThrow(/hidden_size/);
    expect(() => parse(smallConfigJson({ num_key_value_heads: 3 }))).toThrow(/num_key_value_heads.*must divide num_attention_heads/);
    expect(() => parse(smallConfigJson({ rope_scaling: { rope_type: 'yarn', factor: 2 } }))).toThrow(/yarn/);
  });
});

describe('loadModel', () => {
  it('loads the tiny preset with tokenizer, chat template and generation config', async () => {
    const model = await loadModel({ dir: await createTinyModel() });
    try {
      expect(model.config).toMatchObject({ hiddenSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 264, tieWordEmbeddings: false });
      expect(model.dtype).toBe('f32');
      expect(model.generation.eosTokenIds).toEqual([257, 259]);
      expect(model.tokenizer?.size).toBe(264);
      expect(model.chatTemplate).toBeDefined();
      expect(model.weights.info('model.layers.1.self_attn.k_proj.weight').shape).toEqual([64, 128]);
    } finally {
      await model.close();
    }
  });

  it('names the missing tensor', async () => {
    const dir = await makeTempDir();
    await writeHandmadeModel({ dir, configJson: smallConfigJson(), drop: ['model.layers.1.mlp.up_proj.weight'] });
    const e = await codeOf(loadModel({ dir }));
    expect(e.code).toBe('OPENLORA_MODEL_TENSOR_MISSING');
    expect(e.message).toContain('model.layers.1.mlp.up_proj.weight');
    expect(e.message).toContain('[64, 32]');
  });

  it('names expected and found shapes', async () => {
    const dir = await makeTempDir();
    await writeHandmadeModel({ dir, configJson: smallConfigJson(), reshape: { 'model.layers.0.self_attn.k_proj.weight': [32, 32] } });
    const e = await codeOf(loadModel({ dir }));
    expect(e.code).toBe('OPENLORA_MODEL_TENSOR_SHAPE');
    expect(e.message).toContain('model.layers.0.self_attn.k_proj.weight');
    expect(e.message).toContain('[32, 32]');
    expect(e.message).toContain('[16, 32]');
  });

  it('requires lm_head when untied, Qwen2 biases, and rejects an unknown architecture', async () => {
    const dir = await makeTempDir();
    await writeHandmadeModel({ dir, configJson: smallConfigJson({ tie_word_embeddings: true }) });
    await writeFile(join(dir, 'config.json'), JSON.stringify(smallConfigJson({ tie_word_embeddings: false })));
    expect((await codeOf(loadModel({ dir }))).message).toContain('lm_head.weight');
    await writeFile(join(dir, 'config.json'), JSON.stringify(smallConfigJson({ tie_word_embeddings: true, architectures: ['Qwen2ForCausalLM'] })));
    expect((await codeOf(loadModel({ dir }))).message).toContain('model.layers.0.self_attn.q_proj.bias');
    await writeFile(join(dir, 'config.json'), JSON.stringify(smallConfigJson({ architectures: ['FalconForCausalLM'] })));
    expect((await codeOf(loadModel({ dir }))).code).toBe('OPENLORA_MODEL_ARCHITECTURE_UNSUPPORTED');
    await rm(join(dir, 'config.json'));
    expect((await codeOf(loadModel({ dir }))).code).toBe('OPENLORA_MODEL_FILE_NOT_FOUND');
  });

  it('loads a Qwen2 model with biases and no tokenizer files (token ids only)', async () => {
    const dir = await makeTempDir();
    await writeHandmadeModel({ dir, configJson: smallConfigJson({ architectures: ['Qwen2ForCausalLM'] }) });
    const model = await loadModel({ dir });
    expect(model.tokenizer).toBeUndefined();
    expect(model.chatTemplate).toBeUndefined();
    expect(model.config.attentionBias).toBe(true);
    expect((await model.weights.f32('model.layers.1.self_attn.v_proj.bias')).length).toBe(16);
    await model.close();
  });

  it('reads sharded checkpoints through model.safetensors.index.json', async () => {
    const tiny = await createTinyModel();
    const dir = await makeTempDir();
    for (const f of ['config.json', 'generation_config.json']) await copyFile(join(tiny, f), join(dir, f));
    const src = await openSafetensors({ path: join(tiny, 'model.safetensors') });
    const names = [...src.header.tensors.keys()];
    const weightMap: Record<string, string> = {};
    const shards = [names.slice(0, 7), names.slice(7)];
    for (const [i, shard] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      const tensors = [];
      for (const name of shard) {
        weightMap[name] = file;
        const info = src.header.tensors.get(name)!;
        const bytes = await src.readBytes(name);
        tensors.push({ name, dtype: info.dtype, shape: info.shape, data: () => bytes });
      }
      await writeSafetensors({ path: join(dir, file), tensors });
    }
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const model = await loadModel({ dir });
    expect(model.weights.names().sort()).toEqual([...names].sort());
    expect(await model.weights.f32('model.norm.weight')).toEqual(await src.readF32('model.norm.weight'));
    await model.close();
    // An index that points a tensor at the wrong shard is an error.
    weightMap['model.norm.weight'] = 'model-00001-of-00002.safetensors';
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    const e = await codeOf(loadModel({ dir }));
    expect(e.code).toBe('OPENLORA_MODEL_SAFETENSORS_INVALID');
    expect(e.message).toContain('model.norm.weight');
    await src.close();
  });

  it('gives f32 and f16 views of f16 and bf16 weights', async () => {
    for (const dtype of ['f16', 'bf16'] as const) {
      const model = await loadModel({ dir: await createTinyModel({ dtype }) });
      expect(model.config.torchDtype).toBe(dtype === 'f16' ? 'float16' : 'bfloat16');
      expect(model.dtype).toBe(dtype); // bf16 checkpoints stay bf16 on the device (src/model/deviceTensor.ts)
      const f32 = await model.weights.f32('model.layers.0.mlp.down_proj.weight');
      const f16 = await model.weights.f16('model.layers.0.mlp.down_proj.weight');
      expect(f32.length).toBe(128 * 384);
      for (let i = 0; i < 200; i++) {
        expect(f16[i]).toBe(f32ToF16Bits(f32[i]));
        if (dtype === 'bf16') expect(bf16BitsToF32(f32ToBf16Bits(f32[i]))).toBe(f32[i]);
        else expect(f16BitsToF32(f16[i])).toBe(f32[i]);
      }
      await model.close();
    }
    // The same seed gives the same values up to the dtype's rounding.
    const ref = await loadModel({ dir: await createTinyModel() });
    const half = await loadModel({ dir: await createTinyModel({ dtype: 'f16' }) });
    const a = await ref.weights.f32('model.embed_tokens.weight');
    const b = await half.weights.f32('model.embed_tokens.weight');
    for (let i = 0; i < 100; i++) expect(b[i]).toBe(f16BitsToF32(f32ToF16Bits(a[i])));
    await ref.close();
    await half.close();
    expect(JSON.parse(await readFile(join(await createTinyModel({ dtype: 'f16' }), 'config.json'), 'utf8')).torch_dtype).toBe('float16');
  });
});
