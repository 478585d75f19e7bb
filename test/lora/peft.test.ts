import { copyFile, mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { matmul, loraExpand, loraShrink } from '../../src/engine/reference/ops.ts';
import { projectionShape } from '../../src/model/config.ts';
import { loadModel } from '../../src/model/load.ts';
import { createAdapter } from '../../src/lora/create.ts';
import { adapterIdOfDir } from '../../src/lora/id.ts';
import { loadPeftAdapter } from '../../src/lora/peft.ts';
import { parsePeftConfig, resolvePeftTargets } from '../../src/lora/peftConfig.ts';
import { parseModelConfig } from '../../src/model/parseConfig.ts';
import { presetConfigJson } from '../../src/model/presets.ts';
import { normalStream } from '../../src/model/random.ts';
import { loraKey, tempDir, tinyConfig, tinyModel, writeAdapter } from './helpers.ts';

let root: string;
let model: string;
beforeAll(async () => {
  root = await tempDir();
  model = await tinyModel(root);
});

const load = (dir: string) => loadPeftAdapter({ dir, config: tinyConfig });
const qv = (layer: number, rank = 4) => ({
  [loraKey(layer, 'q_proj', 'A')]: [rank, 128],
  [loraKey(layer, 'q_proj', 'B')]: [128, rank],
  [loraKey(layer, 'v_proj', 'A')]: [rank, 128],
  [loraKey(layer, 'v_proj', 'B')]: [64, rank],
});

describe('createAdapter + loadPeftAdapter', () => {
  it('round-trips a generated adapter with all seven targets', async () => {
    const out = join(root, 'gen');
    const created = await createAdapter({ model, rank: 8, seed: 5, out });
    const { weights, meta } = await load(out);
    expect(meta).toMatchObject({ id: created.id, rank: 8, alpha: 16, scale: 2, targets: created.targets, layers: [0, 1] });
    expect(created.targets).toHaveLength(7);
    expect(meta.id).toBe(await adapterIdOfDir({ dir: out }));
    expect(weights.layers[1].down_proj!.a).toHaveLength(8 * 384);
    expect(weights.layers[1].down_proj!.b).toHaveLength(128 * 8);
    expect(weights.layers[0].q_proj!.b.some((v) => v !== 0)).toBe(true); // B is not PEFT's zero init
  });

  it('is deterministic for a seed; seeds, ranks and single bytes change the id', async () => {
    const a = await createAdapter({ model, rank: 4, seed: 1, out: join(root, 'd1') });
    const b = await createAdapter({ model, rank: 4, seed: 1, out: join(root, 'd2') });
    const c = await createAdapter({ model, rank: 4, seed: 2, out: join(root, 'd3') });
    expect(b.id).toBe(a.id);
    expect(c.id).not.toBe(a.id);
    expect(await readFile(join(root, 'd2/adapter_model.safetensors'))).toEqual(await readFile(join(root, 'd1/adapter_model.safetensors')));
    // Flip one byte of the weights (last byte of the data section): different id.
    const path = join(root, 'd2/adapter_model.safetensors');
    const bytes = await readFile(path);
    bytes[bytes.length - 1] ^= 1;
    await writeFile(path, bytes);
    expect(await adapterIdOfDir({ dir: join(root, 'd2') })).not.toBe(a.id);
    expect((await load(join(root, 'd2'))).meta.id).not.toBe(a.id);
  });

  it('makes a delta of realistic size: ~DELTA_RATIO of the base projection output', async () => {
    const out = join(root, 'size');
    await createAdapter({ model, rank: 16, seed: 3, out, targets: ['q_proj', 'down_proj'] });
    const { weights } = await load(out);
    const base = await loadModel({ dir: model });
    try {
      for (const proj of ['q_proj', 'down_proj'] as const) {
        const [outF, inF] = projectionShape(tinyConfig, proj);
        const rows = 8;
        const x = normalStream(9, proj).fill(new Float32Array(rows * inF), 1, 0); // unit-RMS inputs (as after RMSNorm)
        const w = await base.weights.f32(`model.layers.0.${proj === 'q_proj' ? 'self_attn' : 'mlp'}.${proj}.weight`);
        const y = matmul({ x, w, rows, inFeatures: inF, outFeatures: outF });
        const t = weights.layers[0][proj]!;
        const delta = loraExpand({ y: new Float32Array(rows * outF), v: loraShrink({ x, a: t.a, rows, inFeatures: inF, rank: 16 }), b: t.b, rows, rank: 16, outFeatures: outF, scale: weights.scale });
        const rms = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
        const ratio = rms(delta) / rms(y);
        expect(ratio).toBeGreaterThan(0.15);
        expect(ratio).toBeLessThan(0.6);
      }
    } finally {
      await base.close();
    }
  });
});

describe('adapter_config.json', () => {
  /** The (layer, module) pairs an adapter_config.json selects on the tiny model, as "layer.module". */
  const targets = (json: Record<string, unknown>, config = tinyConfig) => [...resolvePeftTargets({ targets: parsePeftConfig({ json: { r: 4, ...json }, file: 'c' }).targets, config, file: 'c' })];

  it('computes alpha/r, alpha/sqrt(r) with rsLoRA', () => {
    expect(parsePeftConfig({ json: { r: 16, lora_alpha: 32, target_modules: ['q_proj'] }, file: 'c' }).scale).toBe(2);
    expect(parsePeftConfig({ json: { r: 16, lora_alpha: 32, use_rslora: true, target_modules: ['q_proj'] }, file: 'c' }).scale).toBe(8);
  });

  it('selects modules as PEFT does: names by suffix, a regex fully matched against every module path, all-linear', () => {
    expect(targets({ target_modules: 'all-linear' })).toHaveLength(14);
    expect(targets({ target_modules: '.*\\.(q|v)_proj' })).toEqual(['0.q_proj', '0.v_proj', '1.q_proj', '1.v_proj']);
    expect(targets({ target_modules: ['model.layers.0.mlp.up_proj', 'k_proj'] })).toEqual(['0.k_proj', '0.up_proj', '1.k_proj']);
    // A valid PEFT regex naming layer 1 only (refused before: it was tried on layer 0's path alone).
    expect(targets({ target_modules: 'model\\.layers\\.1\\.self_attn\\.(q_proj|v_proj)' })).toEqual(['1.q_proj', '1.v_proj']);
    // re.fullmatch: a bare name is not a full path, so as a regex it selects nothing.
    expect(() => targets({ target_modules: 'q_pro' })).toThrow(expect.objectContaining({ code: 'OPENLORA_LORA_TARGET_UNKNOWN' }));
    expect(targets({ target_modules: ['q_proj', 'v_proj'], layers_to_transform: 1 })).toEqual(['1.q_proj', '1.v_proj']);
    expect(targets({ target_modules: 'all-linear', exclude_modules: ['down_proj', 'model.layers.0.self_attn.q_proj'] })).toHaveLength(11);
    expect(() => targets({ target_modules: ['q_proj', 'lm_head'] })).toThrow(expect.objectContaining({ code: 'OPENLORA_LORA_FEATURE_UNSUPPORTED', message: expect.stringMatching(/lm_head/) }));
    expect(() => targets({ target_modules: ['q_proj', 'o_prj'] })).toThrow(expect.objectContaining({ code: 'OPENLORA_LORA_TARGET_UNKNOWN', message: expect.stringMatching(/"o_prj"/) }));
    expect(() => targets({ target_modules: '.*(q_proj|lm_head)' })).toThrow(expect.objectContaining({ code: 'OPENLORA_LORA_FEATURE_UNSUPPORTED', message: expect.stringMatching(/lm_head/) }));
  });

  it("targets an architecture's own modules: Phi-3's fused qkv_proj and gate_up_proj", () => {
    const phi3 = parseModelConfig({ json: presetConfigJson('tiny-phi3'), file: 'phi3' });
    expect(targets({ target_modules: ['qkv_proj', 'gate_up_proj'] }, phi3)).toEqual(['0.qkv_proj', '0.gate_up_proj', '1.qkv_proj', '1.gate_up_proj']);
    expect(targets({ target_modules: 'all-linear' }, phi3)).toHaveLength(8);
    expect(() => targets({ target_modules: ['q_proj'] }, phi3)).toThrow(expect.objectContaining({ code: 'OPENLORA_LORA_TARGET_UNKNOWN', message: expect.stringMatching(/"q_proj"/) }));
  });

  it.each([
    [{ modules_to_save: ['lm_head'] }, 'OPENLORA_LORA_FEATURE_UNSUPPORTED', /modules_to_save/],
    [{ r: 256 }, 'OPENLORA_LORA_RANK_UNSUPPORTED', /rank 256/],
    [{ r: 'four' }, 'OPENLORA_LORA_CONFIG_INVALID', /"r"/],
    [{ use_dora: true }, 'OPENLORA_LORA_FEATURE_UNSUPPORTED', /use_dora/],
  ])('rejects %j', (patch, code, message) => {
    const call = () => parsePeftConfig({ json: { r: 4, lora_alpha: 8, target_modules: ['q_proj'], ...patch }, file: 'adapter_config.json' });
    expect(call).toThrow(message);
    try {
      call();
    } catch (error) {
      expect((error as { code: string }).code).toBe(code);
    }
  });
});

describe('bad adapter files', () => {
  const expectError = async (dir: string, code: string, message: RegExp) => {
    const error = await load(dir).then(() => undefined, (e: unknown) => e as { code: string; message: string });
    expect(error?.code).toBe(code);
    expect(error?.message).toMatch(message);
  };

  it('accepts a well-formed hand-written adapter', async () => {
    const { meta } = await load(await writeAdapter(join(root, 'ok'), {}, { ...qv(0), ...qv(1) }));
    expect(meta.targets).toEqual(['q_proj', 'v_proj']);
  });

  it('rank mismatch between A and B names both tensors and shapes', async () => {
    const t = { ...qv(0), [loraKey(0, 'v_proj', 'B')]: [64, 8] };
    await expectError(await writeAdapter(join(root, 'rank'), {}, t), 'OPENLORA_LORA_RANK_MISMATCH', /v_proj\.lora_A\.weight" has shape \[4, 128\].*v_proj\.lora_B\.weight" has shape \[64, 8\]/);
  });

  it('rank different from adapter_config.json r', async () => {
    await expectError(await writeAdapter(join(root, 'rank-r'), { r: 8 }, qv(0, 4)), 'OPENLORA_LORA_RANK_MISMATCH', /r = 8/);
  });

  it('missing lora_B', async () => {
    const t: Record<string, number[]> = qv(0);
    delete t[loraKey(0, 'q_proj', 'B')];
    await expectError(await writeAdapter(join(root, 'missing'), {}, t), 'OPENLORA_LORA_TENSOR_MISSING', /q_proj\.lora_B\.weight" is missing/);
  });

  it('shapes of another base model', async () => {
    const t = { ...qv(0), [loraKey(0, 'q_proj', 'A')]: [4, 256], [loraKey(0, 'q_proj', 'B')]: [256, 4] };
    await expectError(await writeAdapter(join(root, 'other'), {}, t), 'OPENLORA_LORA_TENSOR_SHAPE', /q_proj\.lora_A\.weight".*\[4, 256\].*needs \[4, 128\]/);
  });

  it('layer index out of range', async () => {
    await expectError(await writeAdapter(join(root, 'layer'), {}, { ...qv(0), ...qv(2) }), 'OPENLORA_LORA_TENSOR_UNEXPECTED', /layers\.2\..*layer 2 is out of range.*2 layers/);
  });

  it('tensor for a module not in target_modules', async () => {
    const t = { ...qv(0), [loraKey(0, 'up_proj', 'A')]: [4, 128], [loraKey(0, 'up_proj', 'B')]: [384, 4] };
    await expectError(await writeAdapter(join(root, 'untargeted'), {}, t), 'OPENLORA_LORA_TENSOR_UNEXPECTED', /model\.layers\.0\.mlp\.up_proj is not selected by adapter_config.json target_modules/);
  });

  it('a regex naming one layer accepts that layer\'s tensors and refuses the others', async () => {
    const config = { target_modules: 'model\\.layers\\.1\\.self_attn\\.(q_proj|v_proj)' };
    const { meta } = await load(await writeAdapter(join(root, 'layer1'), config, qv(1)));
    expect(meta.layers).toEqual([1]);
    await expectError(await writeAdapter(join(root, 'layer01'), config, { ...qv(0), ...qv(1) }), 'OPENLORA_LORA_TENSOR_UNEXPECTED', /model\.layers\.0\.self_attn\.q_proj is not selected/);
  });

  it('truncated safetensors file', async () => {
    const dir = await writeAdapter(join(root, 'trunc'), {}, qv(0));
    const path = join(dir, 'adapter_model.safetensors');
    const size = (await readFile(path)).byteLength;
    await truncate(path, size - 100);
    await expectError(dir, 'OPENLORA_LORA_FILE_INVALID', /run past the data section|truncated/);
  });

  it('missing and unparsable adapter_config.json', async () => {
    const dir = join(root, 'noconfig');
    await mkdir(dir, { recursive: true });
    await copyFile(join(root, 'ok/adapter_model.safetensors'), join(dir, 'adapter_model.safetensors'));
    await expectError(dir, 'OPENLORA_LORA_CONFIG_INVALID', /cannot be read/);
    await writeFile(join(dir, 'adapter_config.json'), '{"r": 4,');
    await expectError(dir, 'OPENLORA_LORA_CONFIG_INVALID', /does not parse/);
  });
});
