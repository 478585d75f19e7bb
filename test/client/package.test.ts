/**
 * The SDK as a dApp gets it: `npm pack packages/client`, installed with `openai` into a project
 * outside the repository (from the local npm cache where it can), then a paid request to a running
 * `openlora dev` from Node 20, 22 and 24 and from a browser bundle in headless Chromium.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../fixtures/cli.ts';
import { startDevProcess, type DevProcess } from '../fixtures/devProcess.ts';
import { makeTempDir } from '../fixtures/model.ts';
import { chromiumPath, nodeBinary, NODE_PATH, npmInstall, packClient } from '../fixtures/sdkPackage.ts';

const run = promisify(execFile);

/** A dApp's payment, the same in Node and in the page: a channel of its own, one paid chat completion. */
const PAY = `
import OpenAI from 'openai';
import { createChainClients, createPaidClient, openChannel, parseUnits, privateKeyToAccount } from '@openlora/client';

export async function pay({ url, rpcUrl, payerKey, deployment, browser }) {
  const account = privateKeyToAccount(payerKey);
  const { publicClient, walletClient } = await createChainClients({ rpcUrl, account });
  const { node } = await (await fetch(url + '/v1/payment')).json();
  const { channelId } = await openChannel({ publicClient, walletClient, deployment }, { node, amount: parseUnits('1', 18) });
  const paid = await createPaidClient({ url, account, channelId, nodeRegistry: deployment.contracts.nodeRegistry });
  const openai = new OpenAI({ baseURL: url + '/v1', apiKey: 'unused', fetch: paid.fetch, maxRetries: 0, dangerouslyAllowBrowser: browser });
  const answer = await openai.chat.completions.create({ model: 'coder', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
  await paid.payTail();
  return { tokens: answer.usage.completion_tokens, charged: paid.lanes().map((l) => l.charged.toString()), channelId };
}
`;

describe('@openlora/client from npm pack', () => {
  let dev: DevProcess;
  let project: string;
  let tarball: string;

  beforeAll(async () => {
    const work = await makeTempDir('openlora-sdk-');
    project = join(work, 'dapp');
    await mkdir(project);
    [tarball, dev] = await Promise.all([packClient(work), startDevProcess()]);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'dapp', private: true, type: 'module' }));
    await npmInstall(project, [tarball, 'openai', 'esbuild']);
    await writeFile(join(project, 'pay.js'), PAY);
    await writeFile(join(project, 'node.js'), `import { readFile } from 'node:fs/promises';\nimport { pay } from './pay.js';\nconst e = process.env;\nconst result = await pay({ url: e.OPENLORA_URL, rpcUrl: e.OPENLORA_RPC_URL, payerKey: e.OPENLORA_PAYER_KEY, deployment: JSON.parse(await readFile(e.OPENLORA_DEPLOYMENT, 'utf8')), browser: false });\nconsole.log(JSON.stringify({ node: process.versions.node, ...result }));\n`);
  }, 600_000);

  afterAll(async () => {
    expect(await dev?.stop()).toBe(0);
  });

  it('ships compiled ESM with .d.ts that need nothing beyond viem, and pulls in no node-side package', async () => {
    const listed = (await run('tar', ['-tzf', tarball])).stdout.split('\n');
    expect(listed).toContain('package/dist/client/index.js');
    expect(listed).toContain('package/dist/client/index.d.ts');
    expect(listed.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toBe(false);
    const installed = join(project, 'node_modules/@openlora/client');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies)).toEqual(['viem']);
    for (const heavy of ['webgpu', 'hardhat', 'fastify', 'libp2p', 'solc']) expect(existsSync(join(project, 'node_modules', heavy)), heavy).toBe(false);
    // Every import of the compiled files is relative or viem.
    const files = (readdirSync(join(installed, 'dist'), { recursive: true }) as string[]).filter((f) => /\.(js|d\.ts)$/.test(f));
    for (const f of files) {
      for (const m of readFileSync(join(installed, 'dist', f), 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) expect(m[1], f).toMatch(/^(\.|viem($|\/))/);
    }
    // The types are real: a TypeScript consumer is checked against them.
    await writeFile(join(project, 'check.ts'), `import { createPaidClient, parseUnits, type PaidClient } from '@openlora/client';\nexport const amount: bigint = parseUnits('1', 18);\nexport const client: Promise<PaidClient> = createPaidClient({ url: 'http://x', account: {} as never, channelId: '0x00', nodeRegistry: '0x00' });\n// @ts-expect-error url must be a string\nvoid createPaidClient({ url: 1 });\n`);
    await run(join(ROOT, 'node_modules/.bin/tsc'), ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', '', 'check.ts'], { cwd: project });
  });

  it('pays the node through the official openai client on Node 24, 22 and 20', async () => {
    const binaries: Array<[number, string | undefined]> = [[24, process.execPath], [22, await nodeBinary(22, await makeTempDir('openlora-node22-'))], [20, await nodeBinary(20, await makeTempDir('openlora-node20-'))]];
    for (const [major, bin] of binaries) {
      expect(bin, `no Node ${major} here or from npm`).toBeDefined();
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(bin!, ['node.js'], { cwd: project, env: { ...process.env, ...dev.env, PATH: NODE_PATH } }, (error, stdout, stderr) => resolve({ code: error ? (error.code as number) ?? 1 : 0, stdout, stderr }));
      });
      expect(result.code, `Node ${major}: ${result.stderr}`).toBe(0);
      const paid = JSON.parse(result.stdout) as { node: string; tokens: number; charged: string[] };
      expect(paid.node.split('.')[0]).toBe(String(major));
      expect(paid.tokens).toBeGreaterThan(0);
      expect(BigInt(paid.charged[0])).toBeGreaterThan(0n);
    }
  });

  it('pays the node from a browser bundle in headless Chromium', async () => {
    await writeFile(join(project, 'page.js'), `import { pay } from './pay.js';\npay({ ...window.OPENLORA, browser: true }).then((r) => (window.result = { ok: true, ...r }), (e) => (window.result = { ok: false, error: String(e && e.stack || e) + ' cause: ' + String(e && e.cause && (e.cause.stack || e.cause)) }));\n`);
    await run(join(project, 'node_modules/.bin/esbuild'), ['page.js', '--bundle', '--format=esm', '--platform=browser', '--outfile=page.bundle.js', '--log-level=warning'], { cwd: project, env: { ...process.env, PATH: NODE_PATH } });
    const config = { url: dev.env.OPENLORA_URL, rpcUrl: dev.env.OPENLORA_RPC_URL, payerKey: dev.env.OPENLORA_PAYER_KEY, deployment: JSON.parse(readFileSync(dev.env.OPENLORA_DEPLOYMENT, 'utf8')) as unknown };
    const html = `<!doctype html><meta charset="utf-8"><title>dApp</title><script>window.OPENLORA = ${JSON.stringify(config)};</script><script type="module" src="/page.bundle.js"></script>`;
    const bundle = readFileSync(join(project, 'page.bundle.js'));
    // The page's own origin, another than the node's and the chain's: CORS as for a real dApp.
    const server: Server = createServer((request, response) => {
      if (request.url === '/page.bundle.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else response.writeHead(200, { 'content-type': 'text/html' }).end(html);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // A fresh profile (user data dir) per run.
    const browser = await chromium.launchPersistentContext(await makeTempDir('openlora-chromium-'), {
      executablePath: await chromiumPath(),
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
      await page.waitForFunction(() => (globalThis as { result?: unknown }).result !== undefined, undefined, { timeout: 120_000 });
      const result = await page.evaluate(() => (globalThis as unknown as { result: { ok: boolean; error?: string; tokens?: number; charged?: string[] } }).result);
      expect(result.ok, `${result.error}\n${errors.join('\n')}`).toBe(true);
      expect(result.tokens).toBeGreaterThan(0);
      expect(BigInt(result.charged![0])).toBeGreaterThan(0n);
    } finally {
      await browser.close();
      server.close();
    }
  }, 600_000); // a fresh machine installs Chromium with apt first
});
