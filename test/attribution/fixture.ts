/**
 * Shared setup for attribution tests: the tiny model, a three-contributor Datanet (English prose,
 * code, CSV numbers) and an adapter fitted to the first contributor's texts.
 */
import { join } from 'node:path';
import { mnemonicToAccount } from 'viem/accounts';
import { addContribution, createDatanetDir } from '../../src/datanet/local.ts';
import { loadModel } from '../../src/model/load.ts';
import { createTinyModel, makeTempDir } from '../fixtures/model.ts';
import { fitAdapter } from './fitAdapter.ts';

/** Hardhat's default accounts 1..3 (public test addresses). */
export const CONTRIBUTORS = [1, 2, 3].map((i) => mnemonicToAccount('test test test test test test test test test test test junk', { addressIndex: i }).address);

export const TEXTS: readonly (readonly string[])[] = [
  ['the cat sat on the mat and the dog sat on the log.', 'the cat and the dog sat on the mat by the log.'],
  ['fn(x){return x+1;} fn(y){return y*2;}', 'if(a<b){a=b;}else{b=a;}'],
  ['17,4,9.99\n18,12,0.45\n19,1,120.00', '2024-01-02;101.5;102.25;99.75'],
];

/** Writes the sample Datanet into `dir` with contributors given (default {@link CONTRIBUTORS}). */
export async function writeSampleDatanet(p: { model: string; dir: string; contributors?: readonly string[] }): Promise<string> {
  const model = await loadModel({ dir: p.model });
  await createDatanetDir({ dir: p.dir, name: 'sample', version: '1.0.0' });
  for (const [k, texts] of TEXTS.entries()) {
    for (const text of texts) {
      await addContribution({ dir: p.dir, bytes: new TextEncoder().encode(text), contributor: (p.contributors ?? CONTRIBUTORS)[k], license: 'CC0-1.0', countTokens: (t) => model.tokenizer!.encode(t).length });
    }
  }
  await model.close();
  return p.dir;
}

/** Tiny model, sample Datanet and the fitted adapter, in a fresh temporary directory. */
export async function setupAttribution(p: { contributors?: readonly string[] } = {}) {
  const model = await createTinyModel();
  const root = await makeTempDir('openlora-attribution-');
  const datanet = await writeSampleDatanet({ model, dir: join(root, 'datanet'), contributors: p.contributors });
  const adapter = join(root, 'adapter-cat');
  const fit = await fitAdapter({ model, texts: TEXTS[0], out: adapter, steps: 30 });
  return { model, root, datanet, adapter, fit };
}
