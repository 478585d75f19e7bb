import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel } from '../../src/model/create.ts';
import { f32ToBytes } from '../../src/model/dtype.ts';
import { parseModelConfig } from '../../src/model/parseConfig.ts';
import { presetConfigJson } from '../../src/model/presets.ts';
import { writeSafetensors } from '../../src/model/safetensorsWrite.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { createLoraSlotImageLayout, type LoraSlotImageLayout } from '../../src/lora/slotImage.ts';

/** The tiny model's config (hidden 128, 2 layers, 4 heads, 2 KV heads, intermediate 384). */
export const tinyConfig: ModelConfig = parseModelConfig({ json: presetConfigJson('tiny'), file: 'tiny' });

/** An f16 slot layout of the tiny model, one group per (layer, module) and no padding at ranks of 8: an image is then an adapter's only copy. */
export function tinyF16Layout(maxRank: number): LoraSlotImageLayout {
  const groups = Array.from({ length: tinyConfig.numLayers }, (_, layer) => tinyConfig.modules.map((m) => ({ layer, inPad: Math.ceil(m.in / 8) * 8, members: [{ module: m.name, column: 0 }] })));
  return createLoraSlotImageLayout({ config: tinyConfig, dtype: 'f16', maxRank, groups: groups.flat() });
}

/** A fresh temp directory. */
export function tempDir(prefix = 'openlora-lora-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Writes the tiny model into `<dir>/model` and returns its path. */
export async function tinyModel(dir: string): Promise<string> {
  const out = join(dir, 'model');
  await createModel({ preset: 'tiny', seed: 0, out });
  return out;
}

/** Writes a hand-made adapter: config JSON and tensors `{ name: shape }` (F32, zeros+index pattern). */
export async function writeAdapter(dir: string, config: Record<string, unknown>, tensors: Record<string, number[]>): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], ...config }));
  await writeSafetensors({
    path: join(dir, 'adapter_model.safetensors'),
    tensors: Object.entries(tensors).map(([name, shape]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return { name, dtype: 'F32' as const, shape, data: () => f32ToBytes(Float32Array.from({ length: n }, (_, i) => ((i % 13) - 6) / 10), 'F32') };
    }),
  });
  return dir;
}

/** Tensor name of a projection's LoRA weight. */
export function loraKey(layer: number, proj: string, ab: 'A' | 'B'): string {
  const block = proj === 'gate_proj' || proj === 'up_proj' || proj === 'down_proj' ? 'mlp' : 'self_attn';
  return `base_model.model.model.layers.${layer}.${block}.${proj}.lora_${ab}.weight`;
}
