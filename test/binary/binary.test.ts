import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBinary } from '../../scripts/build-binary.ts';
import { shaderHash } from '../../src/version.ts';
import { HARDHAT_KEY, startHardhatNode } from '../fixtures/hardhatNode.ts';
import { makeTempDir } from '../fixtures/model.ts';

/**
 * The single binary as an operator gets it: built once here, copied alone into an empty directory
 * and run with an empty environment whose PATH holds no node (`env -i`).
 */
let dir: string;
let bin: string;
let env: Record<string, string>;

/** Runs the copied binary under `env -i` with `env`; resolves when it exits. */
function run(args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/env', ['-i', ...Object.entries({ ...env, ...extra }).map(([k, v]) => `${k}=${v}`), bin, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

beforeAll(async () => {
  const work = await makeTempDir('openlora-binary-');
  const built = await buildBinary({ out: join(work, 'build', 'openlora'), onProgress: () => undefined });
  dir = join(work, 'empty');
  await mkdir(dir);
  bin = join(dir, 'openlora');
  await copyFile(built.file, bin);
  spawnSync('chmod', ['755', bin]);
  const emptyPath = join(work, 'no-node-here');
  await mkdir(emptyPath);
  env = { PATH: emptyPath, HOME: join(work, 'home'), XDG_CACHE_HOME: join(work, 'cache'), OPENLORA_KEY_PASSPHRASE: 'binary test passphrase' };
  console.log(`binary: ${(built.bytes / 2 ** 20).toFixed(1)} MiB (bundle ${(built.bundleBytes / 2 ** 20).toFixed(1)} MiB, assets ${(built.assetBytes / 2 ** 20).toFixed(1)} MiB), built in ${built.seconds.toFixed(1)} s`);
}, 600_000);

describe('the single binary', () => {
  it('runs alone: version, doctor (two at once on an empty cache), model, adapter, key, node in open mode, a chat, SIGTERM', async () => {
    expect(spawnSync('/usr/bin/env', ['-i', `PATH=${env.PATH}`, 'sh', '-c', 'command -v node'], { encoding: 'utf8' }).status).not.toBe(0);
    expect(await readdir(dir)).toEqual(['openlora']);

    const version = await run(['--version']);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^openlora \d+\.\d+\.\d+ \(binary\)\ncommit  [0-9a-f]{40}(-dirty)?\n/);
    expect(version.stdout).toContain(`shaders ${shaderHash()}`);

    // Two processes extract the resources at once: both end with whole files.
    const [a, b] = await Promise.all([run(['doctor', '--json', '--offline']), run(['doctor', '--json', '--offline'])]);
    for (const d of [a, b]) {
      expect(d.code, d.stderr).toBe(0);
      const report = JSON.parse(d.stdout) as { ok: boolean; webgpu: { available: boolean }; node: { major: number } };
      expect(report.webgpu.available).toBe(true);
      expect(report.node.major).toBe(24);
    }
    const cached = await readdir(join(env.XDG_CACHE_HOME, 'openlora'));
    expect(cached).toHaveLength(1);
    expect((await readdir(join(env.XDG_CACHE_HOME, 'openlora', cached[0]), { recursive: true })).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // Start-up as a ratio to Node's own start at the same moment (best of three each; a figure, not a bound).
    let warm = Infinity;
    let node = Infinity;
    for (let i = 0; i < 3; i++) {
      warm = Math.min(warm, (await run(['--version'])).ms);
      const started = performance.now();
      spawnSync(process.execPath, ['-e', '0']);
      node = Math.min(node, performance.now() - started);
    }
    console.log(`binary start-up: --version ${Math.round(version.ms)} ms first (extracting), ${Math.round(warm)} ms warm = ${(warm / node).toFixed(1)}x node -e 0 (${Math.round(node)} ms); doctor ${Math.round(a.ms)} ms`);

    expect((await run(['model', 'create', '--preset', 'tiny', '--out', 'model'])).code).toBe(0);
    expect((await run(['adapter', 'create', '--model', 'model', '--rank', '4', '--out', 'poet'])).code).toBe(0);
    expect((await run(['key', 'new', '--light', '--out', 'data/node-key.json'])).code).toBe(0);
    const dev = await run(['dev', '--dir', 'dev']);
    expect(dev.code).not.toBe(0);
    expect(dev.stderr).toContain('OPENLORA_BINARY_REPO_ONLY');

    const child = spawn('/usr/bin/env', ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), bin, 'node', 'start', '--model', 'model', '--port', '0', '--data-dir', 'data', '--key-file', 'data/node-key.json', '--set', 'lora.adapters=[{"path":"poet","name":"poet"}]'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      void exited.then((code) => reject(new Error(`node exited with ${code}\n${out}\n${err}`)));
    });
    try {
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'open-mode' });
      const answer = await client.chat.completions.create({ model: 'poet', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4 });
      expect(answer.usage!.completion_tokens).toBeGreaterThan(0);
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('ui/operator.js');
      const script = await fetch(`${url}/ui/operator.js`);
      expect(script.headers.get('content-type')).toContain('javascript');
      const status = (await (await fetch(`${url}/v1/node/status`)).json()) as { version: { build: string; shader_hash: string }; live: { tokens_completion_total: number } };
      expect(status.version).toMatchObject({ build: 'binary', shader_hash: shaderHash() });
      expect(status.live.tokens_completion_total).toBe(answer.usage!.completion_tokens);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(err).toContain('node stopped');
    // The adapter was parsed on the loader's worker thread (bundled as its own asset), not on the main thread.
    expect(err).toContain('adapter loader thread started');
    expect(err).not.toContain('on the main thread');
    expect((await stat(join(dir, 'data', 'ledger.db'))).size).toBeGreaterThan(0);
  }, 600_000);

  it('deploys the contracts, opens a channel, reads rewards and makes a libp2p identity (viem, ABIs, bytecode and libp2p in the bundle)', async () => {
    const hardhat = await startHardhatNode();
    try {
      await writeFile(join(dir, 'raw.txt'), `0x${HARDHAT_KEY}\n`);
      await writeFile(join(dir, 'pass.txt'), 'binary chain passphrase\n');
      const key = ['--key-file', 'deployer.json', '--passphrase-file', 'pass.txt'];
      const imported = await run(['key', 'import', '--private-key-file', 'raw.txt', '--out', 'deployer.json', '--passphrase-file', 'pass.txt', '--light', '--json']);
      expect(imported.code, imported.stderr).toBe(0);
      const deployer = (JSON.parse(imported.stdout) as { address: string }).address;
      const deployed = await run(['chain', 'deploy', '--rpc', hardhat.rpc, ...key, '--out', 'deployment.json', '--fund', deployer, '--json']);
      expect(deployed.code, deployed.stderr).toBe(0);
      const chain = ['--rpc', hardhat.rpc, '--deployment', 'deployment.json'];
      const opened = await run(['channel', 'open', ...chain, ...key, '--node', '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', '--amount', '2', '--json']);
      expect(opened.code, opened.stderr).toBe(0);
      const { channelId } = JSON.parse(opened.stdout) as { channelId: string };
      const status = await run(['channel', 'status', channelId, ...chain, '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toContain('2000000000000000000');
      const rewards = await run(['rewards', deployer, ...chain, '--json']);
      expect(rewards.code, rewards.stderr).toBe(0);
      expect(JSON.parse(rewards.stdout)).toMatchObject({ paymentChannels: '0', nodeRegistry: '0' });
      const peer = await run(['peer', 'id', '--set', 'dataDir=data', '--json']);
      expect(peer.code, peer.stderr).toBe(0);
      expect((JSON.parse(peer.stdout) as { peerId: string }).peerId).toMatch(/^12D3KooW/);
    } finally {
      hardhat.stop();
    }
  });
});
