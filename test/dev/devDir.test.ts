import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clearDevDir } from '../../src/dev/devDir.ts';
import { makeTempDir } from '../fixtures/model.ts';

const STATE = ['deployment.json', 'session.json', 'node'];

describe('openlora dev: clearing its directory for a new run', () => {
  it('clears what the last run left in its own directory (marked, or holding a session.json) and keeps the rest', async () => {
    const dir = await makeTempDir();
    await clearDevDir(dir, STATE); // a new directory: marked
    await mkdir(join(dir, 'node'));
    await writeFile(join(dir, 'node', 'ledger.db'), 'last run');
    await writeFile(join(dir, 'deployment.json'), '{}');
    await mkdir(join(dir, 'model'));
    await clearDevDir(dir, STATE);
    expect((await readdir(dir)).sort()).toEqual(['.openlora-dev', 'model']);

    const legacy = await makeTempDir(); // made before the marker: it has a session.json
    await writeFile(join(legacy, 'session.json'), '{}');
    await mkdir(join(legacy, 'node'));
    await clearDevDir(legacy, STATE);
    expect((await readdir(legacy)).sort()).toEqual(['.openlora-dev']);
  });

  it('deletes nothing in a directory it did not make, and its hint`s command makes room', async () => {
    const dir = await makeTempDir();
    await mkdir(join(dir, 'node'));
    await writeFile(join(dir, 'node', 'ledger.db'), 'a real node`s receipts');
    await writeFile(join(dir, 'deployment.json'), '{"mine": true}');
    const error = await clearDevDir(dir, STATE).catch((e: { code: string; hint: string }) => e);
    expect(error).toMatchObject({ code: 'OPENLORA_DEV_DIR_FOREIGN', meta: { entries: ['deployment.json', 'node'] } });
    expect(existsSync(join(dir, 'node', 'ledger.db')) && existsSync(join(dir, 'deployment.json'))).toBe(true);
    execFileSync('sh', ['-c', /\((mkdir [^)]+)\)/.exec((error as { hint: string }).hint)![1]]);
    await clearDevDir(dir, STATE);
    expect(existsSync(join(`${dir}.bak`, 'node', 'ledger.db'))).toBe(true);
  });
});
