import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DevSession } from '../../src/dev/run.ts';
import { ROOT, runCli } from '../fixtures/cli.ts';
import { runCliInProcess } from '../fixtures/cliInProcess.ts';
import { makeTempDir } from '../fixtures/model.ts';

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** `openlora dev` in a child process; resolves with its URL once ready, and how to stop it (Ctrl-C). */
async function startDev(dir: string, port: number) {
  const child = spawn(process.execPath, ['bin/openlora.js', 'dev', '--dir', dir, '--backend', 'cpu', '--port', String(port), '--chain-port', String(port + 5000)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (running.delete(child), resolve(code))));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /READY (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    void exited.then((code) => reject(new Error(`dev exited with ${code}\n${out}\n${err}`)));
  });
  return { url, stderr: () => err, stop: async () => (child.kill('SIGINT'), exited) };
}

/** `openlora chat --dev DIR --json`: the answer, or the error the CLI printed. */
async function chat(dir: string, model = 'poet') {
  const { code, stdout } = await runCliInProcess(['chat', '--dev', dir, '--model', model, '--max-tokens', '6', '--json', 'Write a line about the sea']);
  return { code, json: JSON.parse(stdout) as { usage?: { completion_tokens: number }; receipt?: { receipt: { adapterId: string; attributionDigest: string; channelId: string } }; error?: { code: string; message: string } } };
}

const session = async (dir: string) => JSON.parse(await readFile(join(dir, 'session.json'), 'utf8')) as DevSession;

describe('openlora dev', () => {
  it('restarts cleanly any number of times, and two instances run side by side without touching each other', async () => {
    const port = 21_000 + Math.floor(Math.random() * 4000);
    const a = await makeTempDir('openlora-dev-a-');
    const b = await makeTempDir('openlora-dev-b-');
    let first = await startDev(a, port);
    expect(first.url).toBe(`http://127.0.0.1:${port}`);
    expect(first.stderr()).toContain('dev: publishing the sample Datanet and computing attribution roots');
    // The README tour's chat, twice (the second resumes the lane the first paid on).
    for (let i = 0; i < 2; i++) {
      const answer = await chat(a);
      expect(answer.code, JSON.stringify(answer.json)).toBe(0);
      expect(answer.json.usage!.completion_tokens).toBeGreaterThan(0);
      const poet = (await session(a)).adapters.find((x) => x.name === 'poet')!;
      expect(answer.json.receipt!.receipt.adapterId).toBe(poet.laneId);
      expect(answer.json.receipt!.receipt.channelId).toBe((await session(a)).channelId);
      if (poet.root) expect(answer.json.receipt!.receipt.attributionDigest).toBe(poet.root);
    }
    const typo = await chat(a, 'peot');
    expect(typo.code).toBe(1);
    expect(typo.json.error!.message).toMatch(/HTTP 404.*peot/s);
    expect(typo.json.error!.message).not.toMatch(/Connection error/);
    const unpaid = await fetch(`${first.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'coder', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(unpaid.status).toBe(402);

    // A second instance on the same directory is refused before it writes anything.
    const before = await readFile(join(a, 'session.json'), 'utf8');
    const clash = await runCli(['dev', '--dir', a, '--backend', 'cpu', '--port', String(port + 1), '--chain-port', String(port + 5001)]);
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toMatch(/in use by another openlora process/);
    // Another directory and other ports: side by side.
    const other = await startDev(b, port + 2);
    expect((await chat(b)).code).toBe(0);
    expect(await readFile(join(a, 'session.json'), 'utf8')).toBe(before);
    expect((await session(b)).url).toBe(other.url);
    expect((await chat(a)).code).toBe(0);

    // Ctrl-C, then again, and again.
    for (let restart = 0; restart < 2; restart++) {
      expect(await first.stop()).toBe(0);
      first = await startDev(a, port);
      const answer = await chat(a);
      expect(answer.code, JSON.stringify(answer.json)).toBe(0);
    }
    expect(await first.stop()).toBe(0);
    expect(await other.stop()).toBe(0);
    expect((await readdir(a)).sort()).toEqual(expect.arrayContaining(['adapters', 'attribution', 'deployment.json', 'model', 'node', 'session.json']));
  }, 900_000); // four `openlora dev` starts (chain, contracts, attribution) on a busy 2-core machine
});
