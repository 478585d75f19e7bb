import { execFileSync } from 'node:child_process';
import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitCommit, shaderHash, versionInfo } from '../src/version.ts';
import { ROOT } from './fixtures/cli.ts';
import { makeTempDir } from './fixtures/model.ts';

describe('version', () => {
  it('names the git commit and the shaders from the repository', () => {
    const v = versionInfo();
    expect(v.build).toBe('source');
    expect(v.commit.replace(/-dirty$/, '')).toBe(execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim());
    expect(v.shaderHash).toBe(shaderHash(join(ROOT, 'shaders')));
  });

  it('the shader hash changes with any shader byte and with a file name, and not with nothing', async () => {
    const dir = await makeTempDir('openlora-shaders-');
    await cp(join(ROOT, 'shaders'), dir, { recursive: true });
    const before = shaderHash(dir);
    expect(shaderHash(dir)).toBe(before);
    await writeFile(join(dir, 'extra.wgsl'), '');
    const added = shaderHash(dir);
    expect(added).not.toBe(before);
    await writeFile(join(dir, 'extra.wgsl'), ' ');
    expect(shaderHash(dir)).not.toBe(added);
  });

  it('no commit outside a git checkout', async () => {
    expect(gitCommit(await makeTempDir('openlora-nogit-'))).toBeUndefined();
  });
});
