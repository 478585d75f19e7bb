import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEV_KEY_ROLES, writeDevEnv } from '../../src/dev/envFile.ts';
import { makeTempDir } from '../fixtures/model.ts';

describe('openlora dev: the env file and keys', () => {
  it('rewrites its own keys on every start and leaves other files in keys/ alone', async () => {
    const dir = await makeTempDir();
    const session = { url: 'http://127.0.0.1:1', rpcUrl: 'http://127.0.0.1:2', chainId: 31337, channelId: '0x01', payerIndex: 2, nodeRegistry: '0x0000000000000000000000000000000000000001', adapters: [] };
    await writeFile(join(dir, 'session.json'), JSON.stringify(session));
    await mkdir(join(dir, 'keys'));
    await writeFile(join(dir, 'keys', 'my-own-node.json'), 'a key of the user`s');
    await writeDevEnv({ dir });
    await writeDevEnv({ dir }); // a second start replaces the dev keys (written with O_EXCL)
    const files = (await readdir(join(dir, 'keys'))).sort();
    expect(files).toEqual(['my-own-node.json', 'passphrase', ...Object.keys(DEV_KEY_ROLES).map((r) => `${r}.json`)].sort());
    expect(await readFile(join(dir, 'keys', 'my-own-node.json'), 'utf8')).toBe('a key of the user`s');
  });
});
