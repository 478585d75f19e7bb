import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { lockDataDir } from '../../src/node/dataDirLock.ts';
import { DataDirLockedError } from '../../src/node/errors.ts';
import { ROOT } from '../fixtures/cli.ts';
import { makeTempDir } from '../fixtures/model.ts';

describe('data directory lock', () => {
  it('refuses a second holder with the first one\'s pid, and frees the directory on release', async () => {
    const dir = await makeTempDir('openlora-lock-');
    const lock = lockDataDir({ dir });
    let error: unknown;
    try {
      lockDataDir({ dir });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DataDirLockedError);
    expect((error as DataDirLockedError).message).toContain(`pid ${process.pid}`);
    lock.release();
    lockDataDir({ dir }).release();
  });

  it('a holder killed with SIGKILL never blocks the next start', async () => {
    const dir = await makeTempDir('openlora-lock-');
    const script = `import { lockDataDir } from './src/node/dataDirLock.ts'; lockDataDir({ dir: ${JSON.stringify(dir)} }); console.log('LOCKED'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('LOCKED') && resolve());
      child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
    });
    expect(() => lockDataDir({ dir })).toThrow(DataDirLockedError);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    lockDataDir({ dir }).release();
  });
});
