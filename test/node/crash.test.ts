import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { LIGHT_SCRYPT, writeKeyFile } from '../../src/keys/index.ts';
import { ROOT } from '../fixtures/cli.ts';
import { createTinyModel, makeTempDir } from '../fixtures/model.ts';

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts `openlora node start` in a child process; resolves with its URL once it listens. */
function startNodeProcess(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/openlora.js', 'node', 'start', ...args], {
      cwd: ROOT,
      env: { ...process.env, OPENLORA_KEY_PASSPHRASE: 'test passphrase', OPENLORA_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.stderr!.on('data', (d) => (err += d));
    child.on('exit', (code) => reject(new Error(`node exited with ${code}\n${out}\n${err}`)));
  });
}

interface Completed {
  seq: string;
  signature: string;
}

async function request(url: string, i: number): Promise<Completed> {
  const response = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'coder', prompt: `request ${i} `, max_tokens: 6, temperature: 0.5, seed: i }),
  });
  if (response.status !== 200) throw new Error(`status ${response.status}`);
  await response.json();
  const receipt = JSON.parse(Buffer.from(response.headers.get('x-openlora-receipt')!, 'base64').toString());
  return { seq: receipt.receipt.seq, signature: receipt.signature };
}

describe('a node killed with SIGKILL under load', () => {
  it('keeps the receipt of every completed response and never reuses a seq', async () => {
    const modelDir = await createTinyModel();
    const dataDir = await makeTempDir('openlora-crash-');
    const keyFile = join(dataDir, 'node-key.json');
    await writeKeyFile({ keyFile, passphrase: 'test passphrase', scrypt: LIGHT_SCRYPT });
    const { createTestAdapters } = await import('../fixtures/node.ts');
    const [coder] = await createTestAdapters(modelDir, [{ name: 'coder', rank: 8, seed: 3 }]);
    const args = ['--model', modelDir, '--backend', 'cpu', '--port', '0', '--data-dir', dataDir, '--key-file', keyFile, '--set', `lora.adapters=${JSON.stringify([{ path: coder.dir, name: 'coder' }])}`];

    const first = await startNodeProcess(args);
    const completed: Completed[] = [];
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        try {
          completed.push(await request(first.url, i));
        } catch {
          return; // the node died under this request
        }
      }
    };
    const workers = Array.from({ length: 6 }, worker);
    while (completed.length < 12) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGKILL');
    await Promise.all(workers);
    expect(completed.length).toBeGreaterThanOrEqual(12);

    const second = await startNodeProcess(args);
    // A third process on the same data directory is refused at once, naming the holder.
    const third = await startNodeProcess(args).then(() => 'started', (error: Error) => error.message);
    expect(third).toMatch(/in use by another openlora process \(pid \d+\)/);
    const stored = new Map<string, string>();
    let after: string | null = null;
    do {
      const page = (await (await fetch(`${second.url}/v1/receipts?limit=5${after ? `&after=${after}` : ''}`)).json()) as { data: Array<{ signature: string; receipt: { seq: string } }>; next: string | null };
      for (const r of page.data) {
        expect(stored.has(r.receipt.seq)).toBe(false);
        stored.set(r.receipt.seq, r.signature);
      }
      after = page.next;
    } while (after);
    for (const c of completed) expect(stored.get(c.seq)).toBe(c.signature);

    const fresh = await request(second.url, 1000);
    const maxBefore = Math.max(...[...stored.keys()].map(Number), ...completed.map((c) => Number(c.seq)));
    expect(Number(fresh.seq)).toBeGreaterThan(maxBefore);
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
    const db = new DatabaseSync(join(dataDir, 'ledger.db'));
    expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    db.close();
  });
});
