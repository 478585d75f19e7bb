import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { generatedAbisPath, renderAbis } from '../../scripts/gen-abis.ts';

const root = path.resolve(import.meta.dirname, '../..');

describe('generated ABIs', () => {
  it('match a fresh compile of contracts/ (run `npm run gen:abis` if this fails)', async () => {
    const hardhatCli = path.join(root, 'node_modules/hardhat/dist/src/cli.js');
    await promisify(execFile)(process.execPath, [hardhatCli, 'build', '--quiet'], { cwd: root });
    expect(await readFile(generatedAbisPath, 'utf8')).toBe(await renderAbis(path.join(root, 'artifacts')));
  }, 180_000);
});
