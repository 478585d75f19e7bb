import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchModelDir } from '../../../../scripts/bench/lib/models.ts';
import { createModel } from '../../../../src/model/create.ts';
import { loadModel } from '../../../../src/model/load.ts';
import { makeTempDir } from '../../../fixtures/model.ts';

// scripts/bench/lib/models.ts: `--model PATH` runs what PATH holds, a model directory or a GGUF
// file; the loader refuses anything else (it used to get --preset's random weights written into
// any directory without a config.json and benchmarked silently).
describe('the model a benchmark runs', () => {
  it('refuses --model without a model, naming the command that makes one, and writes nothing there', async () => {
    const dir = join(await makeTempDir('openlora-bench-model-'), 'typo');
    const lines: string[] = [];
    const got = await benchModelDir({ model: dir, preset: 'bench-135m' }, (l) => lines.push(l));
    await expect(loadModel({ dir: got })).rejects.toMatchObject({ hint: expect.stringContaining('openlora model create --preset tiny --out DIR') });
    expect(existsSync(dir)).toBe(false);
    expect(lines).toEqual([]);
  });

  it('takes a GGUF file as it is', async () => {
    const dir = await makeTempDir('openlora-bench-model-');
    await createModel({ preset: 'tiny', seed: 0, out: dir, format: 'gguf' });
    const file = join(dir, 'model.gguf');
    expect(await benchModelDir({ model: file, preset: 'bench-135m' }, () => {})).toBe(file);
    const model = await loadModel({ dir: file });
    expect(model.config.vocabSize).toBe(264);
    await model.close();
  });
});
