import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { runCliInProcess as cli } from '../fixtures/cliInProcess.ts';
import { makeTempDir } from '../fixtures/model.ts';

describe('openlora api-key new', () => {
  it('prints a secret once and adds its { id, sha256 } to the config file, which the node accepts', async () => {
    const config = join(await makeTempDir('openlora-apikey-'), 'node.json');
    await writeFile(config, JSON.stringify({ api: { port: 0 } }));
    const alice = await cli(['api-key', 'new', '--id', 'alice', '--config', config]);
    expect(alice.code, alice.stderr).toBe(0);
    const secret = alice.stdout.split('\n')[0];
    expect(secret).toMatch(/^olk_[A-Za-z0-9_-]{32}$/);
    const bob = JSON.parse((await cli(['api-key', 'new', '--id', 'bob', '--config', config, '--json'])).stdout) as { secret: string; entry: { id: string; sha256: string } };
    const written = JSON.parse(await readFile(config, 'utf8')) as { api: unknown; payments: { apiKeys: Array<{ id: string; sha256: string }> } };
    expect(written.api).toEqual({ port: 0 }); // the rest of the file is kept
    expect(written.payments.apiKeys).toEqual([{ id: 'alice', sha256: createHash('sha256').update(secret).digest('hex') }, bob.entry]);
    expect(loadConfig({ file: config, env: {} }).payments.apiKeys).toHaveLength(2);
  });

  it('refuses a bad or repeated id with a hint whose command works', async () => {
    const config = join(await makeTempDir('openlora-apikey-'), 'node.json');
    const bad = await cli(['api-key', 'new', '--id', 'not ok']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('error [OPENLORA_CLI_USAGE]: --id "not ok" is not a key id.');
    const suggested = /`openlora (api-key new --id \S+)`/.exec(bad.stderr)![1].split(' ');
    expect((await cli(suggested)).code).toBe(0);
    expect((await cli(['api-key', 'new', '--id', 'carol', '--config', config])).code).toBe(0);
    const again = await cli(['api-key', 'new', '--id', 'carol', '--config', config]);
    expect(again.stderr).toContain('already has an API key with id "carol"');
    const next = /`openlora (api-key new [^`]+)`/.exec(again.stderr)![1].split(' ');
    expect((await cli(next)).code).toBe(0);
  });
});
