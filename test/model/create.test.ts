import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createModel } from '../../src/model/create.ts';
import { parseModelConfig } from '../../src/model/parseConfig.ts';
import { MODEL_PRESETS, presetConfigJson } from '../../src/model/presets.ts';
import { expectedTensors } from '../../src/model/tensorNames.ts';
import { loadModel } from '../../src/model/load.ts';
import { runCliInProcess as runCli } from '../fixtures/cliInProcess.ts';
import { createTinyModel, makeTempDir } from '../fixtures/model.ts';

async function filesOf(dir: string): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const f of (await readdir(dir)).sort()) out[f] = await readFile(join(dir, f));
  return out;
}

describe('model create', () => {
  it('is deterministic: same seed → identical bytes, other seed → other weights', async () => {
    const a = await createTinyModel({ seed: 1 });
    const b = await makeTempDir();
    await createModel({ preset: 'tiny', seed: 1, out: b });
    const c = await makeTempDir();
    await createModel({ preset: 'tiny', seed: 2, out: c });
    const [fa, fb, fc] = await Promise.all([filesOf(a), filesOf(b), filesOf(c)]);
    expect(Object.keys(fa)).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    for (const f of Object.keys(fa)) expect(fb[f].equals(fa[f]), f).toBe(true);
    expect(fc['model.safetensors'].equals(fa['model.safetensors'])).toBe(false);
    expect(fc['config.json'].equals(fa['config.json'])).toBe(true);
  });

  it('initializes with the documented scales', async () => {
    const model = await loadModel({ dir: await createTinyModel() });
    const stats = (x: Float32Array) => {
      const mean = x.reduce((s, v) => s + v, 0) / x.length;
      return { mean, std: Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length) };
    };
    const q = stats(await model.weights.f32('model.layers.0.self_attn.q_proj.weight'));
    expect(Math.abs(q.mean)).toBeLessThan(0.005);
    expect(q.std).toBeCloseTo(1 / Math.sqrt(128), 2);
    const norm = stats(await model.weights.f32('model.norm.weight'));
    expect(norm.mean).toBeCloseTo(1, 1);
    expect(norm.std).toBeGreaterThan(0.01);
    expect(norm.std).toBeLessThan(0.03);
    await model.close();
  });

  it('bench presets have the real models\' shapes', () => {
    const count = (preset: (typeof MODEL_PRESETS)[number]) => {
      const config = parseModelConfig({ json: presetConfigJson(preset), file: preset });
      return { config, params: expectedTensors(config).reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0) };
    };
    const smol = count('bench-135m');
    expect(smol.config).toMatchObject({ hiddenSize: 576, numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64, vocabSize: 49152, tieWordEmbeddings: true, ropeTheta: 100000 });
    expect(smol.params).toBe(134_515_008); // SmolLM2-135M
    const llama = count('bench-1b');
    expect(llama.config).toMatchObject({ hiddenSize: 2048, numLayers: 16, numHeads: 32, numKvHeads: 8, vocabSize: 128256, tieWordEmbeddings: true, ropeTheta: 500000 });
    expect(llama.config.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(llama.params).toBe(1_235_814_400); // Llama-3.2-1B
  });

  it('has a tiny preset per architecture', async () => {
    const arch = Object.fromEntries(MODEL_PRESETS.filter((p) => p.startsWith('tiny')).map((p) => [p, parseModelConfig({ json: presetConfigJson(p), file: p }).architecture]));
    expect(arch).toEqual({
      tiny: 'LlamaForCausalLM',
      'tiny-mistral': 'MistralForCausalLM',
      'tiny-qwen2': 'Qwen2ForCausalLM',
      'tiny-gemma': 'GemmaForCausalLM',
      'tiny-gemma2': 'Gemma2ForCausalLM',
      'tiny-phi3': 'Phi3ForCausalLM',
    });
    const out = join(await makeTempDir(), 'phi3');
    const created = await runCli(['model', 'create', '--preset', 'tiny-phi3', '--seed', '1', '--out', out, '--json']);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ preset: 'tiny-phi3', dtype: 'f32' });
    const model = await loadModel({ dir: out });
    expect(model.config.modules.map((m) => m.name)).toEqual(['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj']);
    expect(model.weights.info('model.layers.0.self_attn.qkv_proj.weight').shape).toEqual([256, 128]);
    await model.close();
  });

  it('rejects an unknown preset', async () => {
    await expect(createModel({ preset: 'huge', seed: 1, out: await makeTempDir() })).rejects.toMatchObject({ code: 'OPENLORA_MODEL_PRESET_UNKNOWN' });
  });

  it('CLI: model create --json then model info', async () => {
    const out = join(await makeTempDir(), 'm');
    const created = await runCli(['model', 'create', '--preset', 'tiny', '--seed', '3', '--dtype', 'bf16', '--out', out, '--json']);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ preset: 'tiny', dtype: 'bf16', parameters: 461_440 });
    const info = await runCli(['model', 'info', out, '--json']);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout).config).toMatchObject({ torchDtype: 'bfloat16', vocabSize: 264 });
    const bad = await runCli(['model', 'info', join(out, 'missing'), '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).error.code).toBe('OPENLORA_MODEL_FILE_NOT_FOUND');
  });
});
