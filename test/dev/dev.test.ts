import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DevSession } from '../../src/dev/run.ts';
import { ROOT, runCli } from '../fixtures/cli.ts';
import { makeTempDir } from '../fixtures/model.ts';

describe('openlora dev', () => {
  it('starts from a clean directory, answers a paid chat through the SDK, and stops cleanly on Ctrl-C', async () => {
    const dir = await makeTempDir('openlora-dev-');
    const port = 21_000 + Math.floor(Math.random() * 4000);
    const chainPort = port + 5000;
    const child = spawn(process.execPath, ['bin/openlora.js', 'dev', '--dir', dir, '--backend', 'cpu', '--port', String(port), '--chain-port', String(chainPort)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d) => {
          out += d;
          const m = /READY (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        void exited.then((code) => reject(new Error(`dev exited with ${code}\n${out}\n${err}`)));
      });
      expect(url).toBe(`http://127.0.0.1:${port}`);
      expect(err).toContain('dev: publishing the sample Datanet and computing attribution roots');
      const session = JSON.parse(await readFile(join(dir, 'session.json'), 'utf8')) as DevSession;
      const chat = await runCli(['chat', '--dev', dir, '--model', 'poet', '--max-tokens', '6', '--json', 'Hello there']);
      expect(chat.code, chat.stderr).toBe(0);
      const answer = JSON.parse(chat.stdout) as { usage: { completion_tokens: number }; receipt: { receipt: { adapterId: string; attributionDigest: string; channelId: string } } };
      expect(answer.usage.completion_tokens).toBeGreaterThan(0);
      const poet = session.adapters.find((a) => a.name === 'poet')!;
      expect(answer.receipt.receipt.adapterId).toBe(poet.laneId);
      expect(answer.receipt.receipt.channelId).toBe(session.channelId);
      if (poet.root) expect(answer.receipt.receipt.attributionDigest).toBe(poet.root);
      const unpaid = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'coder', messages: [{ role: 'user', content: 'hi' }] }) });
      expect(unpaid.status).toBe(402);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});
