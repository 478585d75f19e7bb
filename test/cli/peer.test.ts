import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliInProcess as runCli } from '../fixtures/cliInProcess.ts';
import { makeTempDir } from '../fixtures/model.ts';

describe('openlora peer id', () => {
  it('creates the persistent key once and prints the same peer id and bootstrap multiaddrs after', async () => {
    const dataDir = await makeTempDir('openlora-peer-');
    const args = ['peer', 'id', '--json', '--set', `dataDir=${dataDir}`, '--set', 'p2p.listen=/ip4/127.0.0.1/tcp/4101'];
    const first = await runCli(args);
    expect(first.code, first.stderr).toBe(0);
    const a = JSON.parse(first.stdout) as { peerId: string; keyFile: string; multiaddrs: string[] };
    expect(a.peerId).toMatch(/^12D3KooW/);
    expect(a.keyFile).toBe(join(dataDir, 'peer-key'));
    expect(a.multiaddrs).toEqual([`/ip4/127.0.0.1/tcp/4101/p2p/${a.peerId}`]);
    const second = JSON.parse((await runCli(args)).stdout) as { peerId: string };
    expect(second.peerId).toBe(a.peerId);
  });
});
