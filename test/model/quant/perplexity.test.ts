/**
 * Perplexity of a quantized model against its float form, on the CPU reference, teacher-forced on
 * an English test text (byte tokens). A random network's perplexity says little (its logits are
 * noise that quantization reshuffles), so the model is made to know the text: embeddings are
 * random unit-ish rows and lm_head scores each next byte by the text's bigram counts
 * (`lm_head[n] = 1.5 Σ count(c → n) E[c] / |E[c]|²`: 1.5 nats per occurrence), with two Llama layers of N(0, 0.5²/fan_in)
 * weights on top. Every matrix has rows of 256 (whole Q4_K super-blocks) and is quantized at load
 * (`--quantize`). Bounds on |ppl_q / ppl_f32 - 1|: Q8_0 0.25%, Q4_K 1%, Q4_0 2% (measured
 * 0.03%, 0.04%, 0.43% at perplexity 27.8; the test prints them).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createReferenceBackend } from '../../../src/engine/reference/backend.ts';
import { loadModel } from '../../../src/model/load.ts';
import { parseModelConfig } from '../../../src/model/parseConfig.ts';
import type { QuantizeType } from '../../../src/model/quant/formats.ts';
import { normalStream } from '../../../src/model/random.ts';
import { writeSafetensors } from '../../../src/model/safetensorsWrite.ts';
import { expectedTensors } from '../../../src/model/tensorNames.ts';
import { f32ToBytes } from '../../../src/model/dtype.ts';
import { makeTempDir, smallConfigJson } from '../../fixtures/model.ts';

const TEXT =
  'The quick brown fox jumps over the lazy dog. A quantized model should read this sentence almost as well as the model it came from, ' +
  'and the numbers printed below say how much worse it reads it.';
const BOUND: Record<QuantizeType, number> = { q8_0: 0.0025, q4_k: 0.01, q4_0: 0.02 };
const HIDDEN = 256;
const VOCAB = 264;

/** Writes the bigram model described above. */
async function writeBigramModel(dir: string): Promise<void> {
  const configJson = smallConfigJson({ hidden_size: HIDDEN, intermediate_size: 512, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: VOCAB });
  await writeFile(join(dir, 'config.json'), JSON.stringify(configJson));
  const config = parseModelConfig({ json: configJson, file: 'config.json' });
  const embed = normalStream(11, 'embed').fill(new Float32Array(VOCAB * HIDDEN), 1, 0);
  const head = new Float32Array(VOCAB * HIDDEN);
  const ids = Array.from(Buffer.from(TEXT));
  for (let i = 0; i + 1 < ids.length; i++) {
    const [c, n] = [ids[i], ids[i + 1]];
    for (let k = 0; k < HIDDEN; k++) head[n * HIDDEN + k] += (1.5 * embed[c * HIDDEN + k]) / HIDDEN;
  }
  await writeSafetensors({
    path: join(dir, 'model.safetensors'),
    tensors: expectedTensors(config).map((t) => {
      const count = t.shape.reduce((a, b) => a * b, 1);
      let values: Float32Array;
      if (t.name === 'model.embed_tokens.weight') values = embed;
      else if (t.name === 'lm_head.weight') values = head;
      else if (t.shape.length === 1) values = new Float32Array(count).fill(1);
      else values = normalStream(3, t.name).fill(new Float32Array(count), 0.5 / Math.sqrt(t.shape[1]), 0);
      return { name: t.name, dtype: 'F32' as const, shape: t.shape, data: () => f32ToBytes(values, 'F32') };
    }),
  });
}

async function perplexity(dir: string, quantize?: QuantizeType): Promise<number> {
  const model = await loadModel({ dir, quantize });
  try {
    const backend = await createReferenceBackend({ model, numKvBlocks: 16 });
    const ids = Array.from(Buffer.from(TEXT));
    const [out] = await backend.step([{ tokens: ids.slice(0, -1), targets: ids.slice(1), startPos: 0, blockTable: Array.from({ length: 16 }, (_, i) => i), adapterSlot: -1 }]);
    const lp = out.targetLogprobs!;
    return Math.exp(-lp.reduce((a, b) => a + b, 0) / lp.length);
  } finally {
    await model.close();
  }
}

describe('perplexity of quantized models (CPU reference)', () => {
  it('stays within the stated bound of the f32 model for Q8_0, Q4_K and Q4_0', async () => {
    const dir = await makeTempDir('openlora-ppl-');
    await writeBigramModel(dir);
    const base = await perplexity(dir);
    expect(base).toBeLessThan(VOCAB / 4); // the model knows the text
    const rel: Partial<Record<QuantizeType, number>> = {};
    for (const type of ['q8_0', 'q4_k', 'q4_0'] as const) rel[type] = (await perplexity(dir, type)) / base - 1;
    process.stdout.write(`perplexity f32 ${base.toFixed(3)}; relative change ${Object.entries(rel).map(([k, v]) => `${k} ${(100 * v).toFixed(3)}%`).join(', ')}\n`);
    for (const type of ['q8_0', 'q4_k', 'q4_0'] as const) expect(Math.abs(rel[type]!), type).toBeLessThan(BOUND[type]);
  });
});
