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
import { describe, expect, it } from 'vitest';
import { createReferenceBackend } from '../../../src/engine/reference/backend.ts';
import { loadModel } from '../../../src/model/load.ts';
import type { QuantizeType } from '../../../src/model/quant/formats.ts';
import { PERPLEXITY_BOUND as BOUND, TEXT, VOCAB, writeBigramModel } from '../../fixtures/bigramModel.ts';
import { makeTempDir } from '../../fixtures/model.ts';

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
