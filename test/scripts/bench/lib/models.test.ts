import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchModelDir } from '../../../../scripts/bench/lib/models.ts';
import { makeTempDir } from '../../../fixtures/model.ts';

// scripts/bench/lib/models.ts: `--model DIR` runs what DIR holds; a directory without a model is
// refused (it used to get --preset's random weights written into it and benchmarked silently).
describe('the model a benchmark runs', () => {
  it('refuses --model without a config.json, naming it and the command that makes one, and writes nothing there', async () => {
    const dir = join(await makeTempDir('openlora-bench-model-'), 'typo');
    await expect(benchModelDir({ model: dir, preset: 'bench-135m' }, () => {})).rejects.toThrow(`--model ${dir}: no config.json there. Point --model at a model directory, or make one with \`npx openlora model create --preset tiny --out ${dir}\``);
    expect(existsSync(dir)).toBe(false);
  });

  it('takes a directory holding a model as it is', async () => {
    const dir = await makeTempDir('openlora-bench-model-');
    await writeFile(join(dir, 'config.json'), '{}');
    const lines: string[] = [];
    expect(await benchModelDir({ model: dir, preset: 'bench-135m' }, (l) => lines.push(l))).toBe(dir);
    expect(lines).toEqual([]);
  });
});
