import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { computeAttribution } from '../../src/attribution/compute.ts';
import { natsToUnits } from '../../src/attribution/units.ts';
import { createReferenceBackend } from '../../src/engine/reference/backend.ts';
import { createAdapter } from '../../src/lora/create.ts';
import { loadPeftAdapter } from '../../src/lora/peft.ts';
import { loadModel } from '../../src/model/load.ts';
import { createDatanetDir } from '../../src/datanet/local.ts';
import { makeTempDir, smallConfigJson, writeHandmadeModel } from '../fixtures/model.ts';
import { CONTRIBUTORS, setupAttribution, TEXTS } from './fixture.ts';

/** Summed NLL of each text under the base model and under base + adapter, straight from the CPU reference backend. */
async function directLosses(modelDir: string, adapterDir: string, text: string) {
  const model = await loadModel({ dir: modelDir });
  const backend = await createReferenceBackend({ model, numKvBlocks: 16, loraSlots: 1, maxLoraRank: 8 });
  await backend.lora.load(0, (await loadPeftAdapter({ dir: adapterDir, config: model.config })).weights);
  const tokens = [model.generation.bosTokenId!, ...model.tokenizer!.encode(text)];
  const targets = [...tokens.slice(1), 0];
  const sum = async (adapterSlot: number) => {
    const [out] = await backend.step([{ tokens, startPos: 0, blockTable: Array.from({ length: 16 }, (_, i) => i), adapterSlot, targets }]);
    let s = 0;
    for (let i = 0; i < tokens.length - 1; i++) s -= out.targetLogprobs![i];
    return s;
  };
  const result = { base: await sum(-1), adapter: await sum(0) };
  backend.destroy();
  await model.close();
  return result;
}

describe('attribution compute', () => {
  let s: Awaited<ReturnType<typeof setupAttribution>>;
  beforeAll(async () => {
    s = await setupAttribution();
  });

  it('gives the fitted contributor the largest weight, unrelated data zero, and matches the CPU reference', async () => {
    expect(s.fit.after).toBeLessThan(s.fit.before);
    const progress: number[] = [];
    const report = await computeAttribution({ model: s.model, adapter: s.adapter, datanets: [s.datanet], onProgress: (done) => progress.push(done) });
    expect(progress.at(-1)).toBe(12); // 6 contributions × (base + adapter)
    const weight = (who: string) => BigInt(report.contributors.find((c) => c.contributor === who)!.weight);
    expect(report.contributors[0].contributor).toBe(CONTRIBUTORS[0]);
    expect(weight(CONTRIBUTORS[0])).toBeGreaterThan(weight(CONTRIBUTORS[1]));
    expect(weight(CONTRIBUTORS[2])).toBe(0n);
    expect(report.root).toMatch(/^0x[0-9a-f]{64}$/);
    expect(BigInt(report.totalWeight)).toBe(weight(CONTRIBUTORS[0]) + weight(CONTRIBUTORS[1]));
    for (const [k, texts] of TEXTS.entries()) {
      for (const [j, text] of texts.entries()) {
        const row = report.contributions[k * texts.length + j];
        expect(row.contributor).toBe(CONTRIBUTORS[k]);
        const direct = await directLosses(s.model, s.adapter, text);
        expect(row.lossBase).toBeCloseTo(direct.base, 4);
        expect(row.lossAdapter).toBeCloseTo(direct.adapter, 4);
        expect(row.weight).toBe(natsToUnits(Math.max(0, row.lossBase - row.lossAdapter)).toString());
      }
    }
  });

  it('is deterministic on one machine', async () => {
    const a = await computeAttribution({ model: s.model, adapter: s.adapter, datanets: [s.datanet] });
    const b = await computeAttribution({ model: s.model, adapter: s.adapter, datanets: [s.datanet] });
    expect(b.contributions).toEqual(a.contributions);
    expect(b.root).toBe(a.root);
  });

  it('refuses an empty Datanet, an adapter of another base model, and a changed file', async () => {
    const dir = await makeTempDir('openlora-empty-');
    await createDatanetDir({ dir, name: 'empty', version: '1' });
    await expect(computeAttribution({ model: s.model, adapter: s.adapter, datanets: [dir] })).rejects.toMatchObject({ code: 'OPENLORA_DATANET_EMPTY' });

    const other = await makeTempDir('openlora-other-model-');
    await writeHandmadeModel({ dir: other, configJson: smallConfigJson() });
    const foreign = join(other, 'adapter');
    await createAdapter({ model: other, rank: 2, seed: 1, out: foreign });
    await expect(computeAttribution({ model: s.model, adapter: foreign, datanets: [s.datanet] })).rejects.toMatchObject({ code: expect.stringMatching(/^OPENLORA_LORA_/) });

    const copy = await makeTempDir('openlora-tampered-');
    const { cp } = await import('node:fs/promises');
    await cp(s.datanet, copy, { recursive: true });
    const manifest = JSON.parse(await (await import('node:fs/promises')).readFile(join(copy, 'datanet.json'), 'utf8'));
    await writeFile(join(copy, manifest.contributions[2].file), 'changed');
    await expect(computeAttribution({ model: s.model, adapter: s.adapter, datanets: [copy] })).rejects.toMatchObject({ code: 'OPENLORA_DATANET_HASH_MISMATCH', meta: { contributor: CONTRIBUTORS[1] } });
    await rm(copy, { recursive: true, force: true });
  });
});
