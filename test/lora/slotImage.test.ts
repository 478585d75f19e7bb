import { describe, expect, it } from 'vitest';
import type { LoraWeights } from '../../src/engine/backend.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { f32ToF16Bits } from '../../src/model/dtype.ts';
import { loraDeviceWeights } from '../../src/lora/dtype.ts';
import { parseSafetensorsHeader } from '../../src/model/safetensors.ts';
import { createLoraSlotImageLayout, loraSlotImageDecodedWeights, loraSlotImageWeights, packLoraSlotImage, type LoraSlotImageLayout } from '../../src/lora/slotImage.ts';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { createAdapter } from '../../src/lora/create.ts';
import { loadPeftAdapter, parsePeftWeights } from '../../src/lora/peft.ts';
import { parsePeftConfig } from '../../src/lora/peftConfig.ts';
import { tempDir, tinyConfig, tinyModel } from './helpers.ts';

/** One layer with a fused q|v of odd input size (padding) and a plain o. */
const odd: ModelConfig = {
  ...tinyConfig,
  numLayers: 2,
  modules: [
    { name: 'q_proj', path: 'self_attn.q_proj', out: 6, in: 5, bias: false },
    { name: 'v_proj', path: 'self_attn.v_proj', out: 3, in: 5, bias: false },
    { name: 'o_proj', path: 'self_attn.o_proj', out: 5, in: 6, bias: false },
  ],
};
const oddGroups = (layer: number) => [
  { layer, inPad: 8, members: [{ module: 'q_proj', column: 0 }, { module: 'v_proj', column: 6 }] },
  { layer, inPad: 8, members: [{ module: 'o_proj', column: 0 }] },
];

function weights(config: ModelConfig, rank: number, targets: string[], seed: number): LoraWeights {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const layers = Array.from({ length: config.numLayers }, () => {
    const layer: LoraWeights['layers'][number] = {};
    for (const m of config.modules) if (targets.includes(m.name)) layer[m.name] = { a: Float32Array.from({ length: rank * m.in }, next), b: Float32Array.from({ length: m.out * rank }, next) };
    return layer;
  });
  return { rank, scale: 1.5, layers };
}

/** What a slot's buffers hold after loading `w`, written element by element from the pool's layout comment. */
function expectedSlot(layout: LoraSlotImageLayout, w: LoraWeights): number[][] {
  const r4 = Math.ceil(w.rank / 4) * 4;
  const rb = Math.ceil(w.rank / layout.bAlign) * layout.bAlign;
  return layout.groups.flatMap((g) => {
    const columns = g.members.reduce((n, m) => n + m.out, 0);
    const a = Array.from({ length: g.members.length * layout.rank4 * g.inPad }, () => 0);
    const b = Array.from({ length: columns * layout.rankB }, () => 0);
    g.members.forEach((m, i) => {
      const t = w.layers[g.layer][m.module];
      if (!t) return;
      for (let row = 0; row < w.rank; row++) for (let k = 0; k < m.in; k++) a[(i * r4 + row) * g.inPad + k] = t.a[row * m.in + k];
      for (let o = 0; o < m.out; o++) for (let row = 0; row < w.rank; row++) b[(m.column + o) * rb + row] = t.b[o * w.rank + row];
    });
    return [a, b];
  });
}

/** Applies an image's copies to zeroed slot buffers, as the pool's copyBufferToBuffer calls do. */
function applied(layout: LoraSlotImageLayout, image: ReturnType<typeof packLoraSlotImage>, expected: number[][]): number[][] {
  const eb = layout.dtype === 'f16' ? 2 : 4;
  const out = expected.map((e) => new Uint8Array(e.length * eb));
  for (let i = 0; i < image.copies.length; i += 4) {
    const [buffer, src, dst, bytes] = image.copies.subarray(i, i + 4);
    out[buffer].set(image.bytes.subarray(src, src + bytes), dst);
  }
  return out.map((u) => [...(eb === 4 ? new Float32Array(u.buffer) : new Uint16Array(u.buffer))]);
}

/** tinyConfig's fused projections, as the WebGPU recipe groups them. */
const tinyGroups = [0, 1].flatMap((layer) => [
  { layer, inPad: 128, members: [{ module: 'q_proj', column: 0 }, { module: 'k_proj', column: 128 }, { module: 'v_proj', column: 192 }] },
  { layer, inPad: 128, members: [{ module: 'o_proj', column: 0 }] },
  { layer, inPad: 128, members: [{ module: 'gate_proj', column: 0 }, { module: 'up_proj', column: 384 }] },
  { layer, inPad: 384, members: [{ module: 'down_proj', column: 0 }] },
]);

/**
 * A tiny-model adapter written in `fileDtype`, loaded into a `slotDtype` image straight from the file
 * (`direct`) and decoded then packed (`packed`); expects both images' bytes, copies and info equal.
 */
async function packedBothWays(p: { fileDtype: 'F16' | 'BF16' | 'F32'; slotDtype: 'f32' | 'f16'; rank: number; seed: number; targets: string[] }) {
  const root = await tempDir();
  const dir = (await createAdapter({ model: await tinyModel(root), rank: p.rank, seed: p.seed, out: join(root, 'a'), targets: p.targets, dtype: p.fileDtype })).dir;
  const layout = createLoraSlotImageLayout({ config: tinyConfig, dtype: p.slotDtype, maxRank: 16, groups: tinyGroups });
  const direct = await loadPeftAdapter({ dir, config: tinyConfig, slotImage: layout });
  const peft = parsePeftConfig({ json: JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')), file: 'adapter_config.json' });
  const decoded = parsePeftWeights({ file: 'adapter_model.safetensors', bytes: await readFile(join(dir, 'adapter_model.safetensors')), config: tinyConfig, peft });
  const packed = packLoraSlotImage({ config: tinyConfig, layout, weights: decoded });
  expect(direct.image!.bytes).toEqual(packed.bytes);
  expect(direct.image!.copies).toEqual(packed.copies);
  expect(direct.image!.info).toEqual(packed.info);
  return { direct, decoded, packed, layout, scale: peft.scale };
}

describe('LoRA slot image', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    it(`packs into the slot layout with padding, a rank below capacity and untargeted members (${dtype})`, () => {
      const layout = createLoraSlotImageLayout({ config: odd, dtype, maxRank: 8, groups: [...oddGroups(0), ...oddGroups(1)] });
      const w = weights(odd, 3, ['q_proj', 'o_proj'], 7); // rank 3 (r4 = 4 < R4 = 8), v untargeted
      const image = packLoraSlotImage({ config: odd, layout, weights: w });
      const expected = expectedSlot(layout, w).map((buf) => (dtype === 'f32' ? buf.map((x) => Math.fround(x)) : buf.map((x) => f32ToF16Bits(x))));
      expect(applied(layout, image, expected)).toEqual(expected);
      expect(image.rank).toBe(3);
      expect(new Float32Array(image.info.buffer, 0, 1)[0]).toBe(1.5);
      expect([...image.info]).toEqual([image.info[0], 3, 0, 3, 3, 0, 3]); // per layer: q, v, o
      expect(loraSlotImageWeights(layout, image, w.scale)).toBeUndefined(); // padded: not views
    });
  }

  for (const rank of [4, 8, 12, 16, 20]) {
    it(`packs f16 B at the rank rounded to 8, zeros past the rank (rank ${rank} in slots of rank 20)`, () => {
      const layout = createLoraSlotImageLayout({ config: odd, dtype: 'f16', maxRank: 20, bAlign: 8, groups: [...oddGroups(0), ...oddGroups(1)] });
      expect(layout).toMatchObject({ rank4: 20, bAlign: 8, rankB: 24 });
      expect(layout.key).not.toBe(createLoraSlotImageLayout({ config: odd, dtype: 'f16', maxRank: 20, groups: [...oddGroups(0), ...oddGroups(1)] }).key);
      const w = weights(odd, rank, ['q_proj', 'v_proj', 'o_proj'], rank);
      const image = packLoraSlotImage({ config: odd, layout, weights: w });
      const expected = expectedSlot(layout, w).map((buf) => buf.map((x) => f32ToF16Bits(x)));
      expect(applied(layout, image, expected)).toEqual(expected);
      const rb = Math.ceil(rank / 8) * 8;
      const bBytes = image.copies.filter((_, i) => i % 4 === 3 && image.copies[i - 3] % 2 === 1).reduce((n, x) => n + x, 0);
      expect(bBytes).toBe(2 * (9 + 5) * rb * 2); // B regions: (q|v 9 + o 5 columns) · rb halves, per layer
    });
  }

  it('merges contiguous regions and gives the f32 weights back as views into the image when nothing is padded', () => {
    const groups = tinyGroups;
    const layout = createLoraSlotImageLayout({ config: tinyConfig, dtype: 'f32', maxRank: 8, groups });
    const w = weights(tinyConfig, 8, tinyConfig.modules.map((m) => m.name), 3);
    const image = packLoraSlotImage({ config: tinyConfig, layout, weights: w });
    expect(image.copies.length / 4).toBe(2 * groups.length); // rank = capacity: one copy per buffer
    expect(applied(layout, image, expectedSlot(layout, w))).toEqual(expectedSlot(layout, w).map((b) => b.map((x) => Math.fround(x))));
    const views = loraSlotImageWeights(layout, image, w.scale)!;
    expect(views).toEqual(w);
    expect(views.layers[1].down_proj!.a.buffer).toBe(image.bytes.buffer);
    const lower = packLoraSlotImage({ config: tinyConfig, layout: createLoraSlotImageLayout({ config: tinyConfig, dtype: 'f32', maxRank: 16, groups }), weights: w });
    expect(lower.copies.length / 4).toBe(2 * groups.length); // rank below capacity: members compact at the adapter's rank, still one copy per buffer
  });

  it('refuses weights that do not fit the layout, and tells layouts apart by key', () => {
    const layout = createLoraSlotImageLayout({ config: odd, dtype: 'f32', maxRank: 4, groups: oddGroups(0).concat(oddGroups(1)) });
    expect(() => packLoraSlotImage({ config: odd, layout, weights: weights(odd, 8, ['q_proj'], 1) })).toThrow(expect.objectContaining({ code: 'OPENLORA_LORA_RANK_UNSUPPORTED' }));
    const other = createLoraSlotImageLayout({ config: odd, dtype: 'f16', maxRank: 4, groups: oddGroups(0).concat(oddGroups(1)) });
    expect(other.key).not.toBe(layout.key);
    expect(createLoraSlotImageLayout({ config: odd, dtype: 'f32', maxRank: 3, groups: oddGroups(0).concat(oddGroups(1)) }).key).not.toBe(layout.key); // same R4, other maxRank
  });

  for (const dtype of ['F16', 'BF16', 'F32'] as const) {
    it(`a ${dtype} file decoded straight into an f32 image gives the bytes of decoding, then packing, and the weights as views`, async () => {
      const { direct, decoded } = await packedBothWays({ fileDtype: dtype, slotDtype: 'f32', rank: 8, seed: 9, targets: ['q_proj', 'v_proj', 'gate_proj', 'up_proj', 'down_proj'] });
      expect(direct.weights).toEqual(decoded);
      expect(direct.weights.layers[1].gate_proj!.a.buffer).toBe(direct.image!.bytes.buffer);
      expect(direct.image!.copies.length / 4).toBe(2 * (4 + 2 + 2)); // per layer: q|k|v 4 (k untargeted between q and v: A and B in 2 regions each), gate|up 2, down 2
    });

    it(`a ${dtype} file packed straight into an f16 image (rank 6: padded) gives the bytes of decoding, rounding and packing; the image is the one copy, the weights decoded from it on use`, async () => {
      const { direct, decoded, packed, layout, scale } = await packedBothWays({ fileDtype: dtype, slotDtype: 'f16', rank: 6, seed: 11, targets: ['q_proj', 'v_proj', 'o_proj', 'down_proj'] });
      expect(direct.weightsFromImage).toBe(true);
      expect(direct.meta.bytes).toBe(direct.image!.bytes.byteLength); // no f32 copy beside the image
      expect(direct.meta.targets).toEqual(['q_proj', 'v_proj', 'o_proj', 'down_proj']);
      expect(direct.meta.layerTargets).toEqual([direct.meta.targets, direct.meta.targets]);
      expect(direct.weights.layers).toEqual(loraDeviceWeights(decoded, 'f16').layers); // the f16-rounded values every backend computes with
      expect(loraSlotImageDecodedWeights(layout, packed, scale).layers).toEqual(direct.weights.layers);
    });
  }

  it('a value beyond f16 in an F32 file packed into an f16 image is refused, naming the tensor and the element', async () => {
    const root = await tempDir();
    const dir = (await createAdapter({ model: await tinyModel(root), rank: 4, seed: 12, out: join(root, 'a'), targets: ['q_proj', 'o_proj'], dtype: 'F32' })).dir;
    const file = join(dir, 'adapter_model.safetensors');
    const bytes = new Uint8Array(await readFile(file));
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const header = parseSafetensorsHeader({ file, headerBytes: bytes.subarray(8, 8 + headerLength), fileSize: bytes.byteLength });
    const t = header.tensors.get('base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight')!;
    new DataView(bytes.buffer, bytes.byteOffset).setFloat32(t.offset + 4 * 5, 70000, true);
    await writeFile(file, bytes);
    const layout = createLoraSlotImageLayout({ config: tinyConfig, dtype: 'f16', maxRank: 16, groups: tinyGroups });
    const error = await loadPeftAdapter({ dir, config: tinyConfig, slotImage: layout }).then(() => undefined, (e: unknown) => e as Error & { code: string });
    expect(error?.code).toBe('OPENLORA_LORA_DTYPE_RANGE');
    expect(error?.message).toContain('layers.1.o_proj.lora_B');
    expect(error?.message).toContain('70000');
    await expect(loadPeftAdapter({ dir, config: tinyConfig, slotImage: createLoraSlotImageLayout({ config: tinyConfig, dtype: 'f32', maxRank: 16, groups: tinyGroups }) })).resolves.toBeDefined();
  });
});
