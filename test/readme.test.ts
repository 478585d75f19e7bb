/**
 * README.md is a test: every `sh` block runs, in order, as a user would type it, against a fresh
 * `openlora dev` (CPU backend, free ports), with the dApp section's SDK from `npm pack` (see
 * test/fixtures/readme.ts for the rules). Then each hint of a failing command is run as written.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MoneyStatus } from '../src/api/statusSchemas.ts';
import { ROOT, runNode } from './fixtures/cli.ts';
import { runCliInProcess } from './fixtures/cliInProcess.ts';
import { makeTempDir } from './fixtures/model.ts';
import { blockCommands, outputByLine, readmeBlocks, readmeScript } from './fixtures/readme.ts';
import { freePort, NODE_PATH, packClient } from './fixtures/sdkPackage.ts';

const README = join(ROOT, 'README.md');
const blocks = readmeBlocks(README);

let work: string;
let result: { code: number | null; stdout: string; stderr: string };

/** The README line of the command whose text contains `fragment`. */
function lineOf(fragment: string): number {
  const found = blocks.filter((b) => b.lang === 'sh' && b.directive?.kind !== 'skip').flatMap(blockCommands).find((c) => c.text.includes(fragment));
  if (!found) throw new Error(`no README command contains ${JSON.stringify(fragment)}`);
  return found.line;
}

/** Stops every command the README left running (their whole process groups) and waits for them. */
async function stopBackground(): Promise<void> {
  const file = join(work, 'bg-pids');
  if (!existsSync(file)) return;
  const pids = readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  for (let i = 0; i < 300 && pids.some((pid) => { try { process.kill(-pid, 0); return true; } catch { return false; } }); i++) await new Promise((r) => setTimeout(r, 100));
}

/** Variables of the dev env file, as `source` would set them. */
function devEnv(): Record<string, string> {
  const text = readFileSync(join(work, '.openlora/dev/env'), 'utf8');
  return Object.fromEntries([...text.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
}

/** Runs the CLI in this process from the README's working directory. */
async function cliInWork(args: string[], env: Record<string, string | undefined> = {}) {
  const cwd = process.cwd();
  process.chdir(work);
  try {
    return await runCliInProcess(args, { env });
  } finally {
    process.chdir(cwd);
  }
}

describe('README.md', () => {
  beforeAll(async () => {
    work = await makeTempDir('openlora-readme-');
    const tarball = await packClient(work);
    const ports = new Map<string, string>();
    for (const port of ['8080', '8081', '8082']) ports.set(port, String(await freePort()));
    const script = readmeScript({
      blocks,
      root: ROOT,
      substitute: [
        ['npm install @openlora/client openai', `npm install ${tarball} openai --prefer-offline --no-audit --no-fund --loglevel=error`],
        ...[...ports].map(([from, to]) => [new RegExp(`\\b${from}\\b`, 'g'), to] as [RegExp, string]),
      ],
    });
    await writeFile(join(work, 'readme.sh'), script);
    const env = { ...process.env, PATH: NODE_PATH, OPENLORA_DEV_PORT: String(await freePort()), OPENLORA_DEV_CHAIN_PORT: String(await freePort()), OPENLORA_DEV_BACKEND: 'cpu', OPENLORA_MODEL_BACKEND: 'cpu' };
    result = await new Promise((resolve, reject) => {
      const child = spawn('bash', ['readme.sh'], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.once('error', reject);
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
  }, 600_000);

  afterAll(async () => {
    if (work) await stopBackground();
    if (process.env.OPENLORA_KEEP_README_DIR) console.log(`README working directory: ${work}`);
  });

  it('runs every sh block as written, each command succeeding', () => {
    const byLine = outputByLine(result.stdout);
    const last = [...byLine.keys()].at(-1);
    expect(result.code, `stopped after README line ${last}:\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`).toBe(0);
    expect(result.stdout).toContain('@@ end');
    const out = (fragment: string) => byLine.get(lineOf(fragment)) ?? '';
    expect(out('curl -s $OPENLORA_URL/v1/models')).toContain('"id":"poet"');
    expect(out('"model":"coder"')).toContain('OPENLORA_PAYMENT_REQUIRED');
    expect(out('/v1/receipts?limit=5')).toContain('"signature"');
    expect(out('grep openlora_tokens_total')).toMatch(/openlora_tokens_total\{kind="completion",adapter="0x[0-9a-f]{64}"\} \d+/);
    expect(out('(cd my-dapp && node pay.mjs)')).toMatch(/^\d+ tokens, paid 0\.\d+ through channel 0x[0-9a-f]{64}$/m);
    expect(out('channel status $OPENLORA_CHANNEL_ID')).toContain('balance');
    expect(out('authorization: Bearer $SECRET')).toContain('"usage"');
    expect(out('OPENLORA_URL=http://127.0.0.1:8081')).toMatch(/tokens, paid 0\.\d+/);
    expect(out('model info $MODEL')).toContain('model OK');
    expect(out('"id":"mine"')).toContain('"id":"mine"');
    expect(out('npx openlora rewards $OPENLORA_CONTRIBUTOR_1')).toMatch(/claimable 0\.0*[1-9]/);
    expect(out('claim --key-file $OPENLORA_KEYS/contributor-1.json')).toMatch(/^Claimed 0\.\d+ tokens from \d adapter/m);
  });

  it('answers a form-encoded `curl -d` with a 415 that says which header to send, and that header works', async () => {
    const { OPENLORA_URL: url } = devEnv();
    const body = '{"model":"coder","messages":[{"role":"user","content":"hi"}]}';
    const form = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    expect(form.status).toBe(415);
    const { error } = (await form.json()) as { error: { message: string; code: string } };
    expect(error.code).toBe('OPENLORA_API_UNSUPPORTED_MEDIA_TYPE');
    const header = /-H '([^:]+): ([^']+)'/.exec(error.message)!;
    const json = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { [header[1]]: header[2] }, body });
    expect(json.status).toBe(402); // understood: now it asks for payment
  });

  it('names process metrics once (openlora_process_cpu_*) and counts tokens by lane id, as receipts do', async () => {
    const { OPENLORA_URL: url } = devEnv();
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('openlora_process_cpu_user_seconds_total');
    expect(metrics).not.toContain('openlora_process_process');
    const receipts = (await (await fetch(`${url}/v1/receipts?limit=1000`)).json()) as { data: Array<{ receipt: { adapterId: string } }> };
    const lanes = new Set(receipts.data.map((r) => r.receipt.adapterId));
    const labelled = new Set([...metrics.matchAll(/openlora_tokens_total\{kind="completion",adapter="(0x[0-9a-f]{64})"\}/g)].map((m) => m[1]));
    expect([...labelled].sort()).toEqual([...lanes].sort());
  });

  it('prints a code and a hint for each failure, and each hint\'s command works', async () => {
    const env = devEnv();
    const noDev = { OPENLORA_DEV: undefined, OPENLORA_RPC_URL: undefined };
    const hintCommand = (stderr: string) => {
      expect(stderr).toMatch(/^error \[OPENLORA_[A-Z_]+\]: .+/m);
      const hint = /^Hint: (.*)$/m.exec(stderr)?.[1] ?? '';
      const commands = [...hint.matchAll(/`openlora ([^`]+)`/g)].map((m) => m[1]);
      expect(commands.length, stderr).toBeGreaterThan(0);
      return commands.map((c) => c.split(' '));
    };

    // A bad address: the hint's example runs.
    const bad = await cliInWork(['rewards', '0xnotanaddress'], noDev);
    expect(bad.code).toBe(1);
    const [example] = hintCommand(bad.stderr);
    expect((await cliInWork(example, noDev)).code).toBe(0);

    // No deployment here without the dev session: the hint says --dev .openlora/dev.
    const missing = await cliInWork(['rewards', env.OPENLORA_CONTRIBUTOR_1], noDev);
    expect(missing.stderr).toContain('[OPENLORA_CHAIN_DEPLOYMENT_INVALID]');
    expect(missing.stderr).toContain('pass --dev .openlora/dev');
    expect((await cliInWork(['rewards', env.OPENLORA_CONTRIBUTOR_1, '--dev', '.openlora/dev'], noDev)).code).toBe(0);

    // `claim` with nothing to claim from, then without a key: the hints lead to a claim that works
    // (once a new paid request has been settled).
    const nothing = await cliInWork(['claim'], noDev);
    expect(nothing.stderr).toContain('[OPENLORA_CLI_USAGE]');
    const [help, devClaim] = hintCommand(nothing.stderr);
    expect((await cliInWork(help, noDev)).code).toBe(0);
    const keyless = await cliInWork(['claim', '--dev', '.openlora/dev'], noDev);
    expect(keyless.stderr).toContain('[OPENLORA_CLI_KEY_REQUIRED]');
    expect(keyless.stderr).toContain('--key-file');
    // New paid requests (the README's dApp script, opening a channel of its own each time) accrue new
    // rewards. At the default price (1 base unit per token) one request pays a few dozen units, and a
    // contributor's entitlement is floor(weight · notified / total weight): one settlement may not
    // raise it by a unit, so the dApp pays again (at most 10 times) until it does.
    const money = async () => (await (await fetch(`${env.OPENLORA_URL}/admin/node/money`, { headers: { authorization: `Bearer ${env.OPENLORA_ADMIN_TOKEN}` } })).json()) as MoneyStatus;
    let accrued = false;
    for (let round = 0; round < 10 && !accrued; round++) {
      const paid = await runNode(['pay.mjs'], { cwd: join(work, 'my-dapp'), env: env });
      expect(paid.code, paid.stderr).toBe(0);
      // Until the dev node's settlement worker has settled it (its 5 s poll; slower on a busy machine).
      for (let i = 0; i < 600 && (await money()).settlement!.backlog.lanes > 0; i++) await new Promise((r) => setTimeout(r, 500));
      const rewards = await cliInWork(['rewards', env.OPENLORA_CONTRIBUTOR_1, '--dev', '.openlora/dev', '--json'], noDev);
      accrued = (JSON.parse(rewards.stdout) as { contributor: Array<{ claimable: string }> }).contributor.some((r) => r.claimable !== '0');
    }
    // When nothing accrued, the dev node's own account of its lanes and settlements says why.
    expect(accrued, `no claimable rewards after 10 paid requests; the dev node's /admin/node/money: ${accrued ? '' : JSON.stringify(await money())}`).toBe(true);
    const claimed = await cliInWork(devClaim, noDev);
    expect(claimed.code, claimed.stderr).toBe(0);
    expect(claimed.stdout).toMatch(/^Claimed /);

    // A dev directory where dev never ran.
    const notRun = await cliInWork(['chat', '--dev', 'elsewhere', '--model', 'poet', 'hi'], noDev);
    expect(notRun.stderr).toContain('[OPENLORA_DEV_NOT_RUN]');
    expect(notRun.stderr).toContain('`openlora dev --dir elsewhere`'); // (what this test did, on .openlora/dev)

    // An adapter whose base model cannot be found: the hint's command, with the model directory.
    const orphan = await cliInWork(['adapter', 'create', '--model', '.openlora/dev/model', '--rank', '2', '--out', 'orphan', '--json'], noDev);
    expect(orphan.code, orphan.stderr).toBe(0);
    const lost = await cliInWork(['adapter', 'inspect', 'orphan'], noDev);
    expect(lost.stderr).toContain('[OPENLORA_MODEL_CONFIG_INVALID]');
    const suggested = /`openlora (adapter inspect \S+ --model) MODEL_DIR`/.exec(lost.stderr)![1].split(' ');
    expect((await cliInWork([...suggested, '.openlora/dev/model'], noDev)).code).toBe(0);

    // A node without its key file: the hint's `key new` makes it, and the key error is gone.
    const start = ['node', 'start', '--model', 'no-such-model', '--data-dir', 'keyless-node'];
    const keyMissing = await cliInWork(start, { ...noDev, OPENLORA_KEY_PASSPHRASE: 'pass phrase' });
    expect(keyMissing.stderr).toContain('the node key file');
    const [keyNew] = hintCommand(keyMissing.stderr);
    expect((await cliInWork(keyNew, { ...noDev, OPENLORA_KEY_PASSPHRASE: 'pass phrase' })).code).toBe(0);
    const after = await cliInWork(start, { ...noDev, OPENLORA_KEY_PASSPHRASE: 'pass phrase' });
    expect(after.stderr).not.toContain('the node key file');
    expect(after.stderr).toContain('no-such-model');
  }, 600_000);
});
