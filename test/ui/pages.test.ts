import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { createPublicClient, createWalletClient, http, toHex, type Address, type Hex, type LocalAccount } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAttributionReport } from '../../src/attribution/reportFile.ts';
import { reportTree, treeWeights } from '../../src/attribution/report.ts';
import { attributionRewardsAbi, paymentChannelsAbi } from '../../src/chain/generated/abis.ts';
import { createPaidClient } from '../../src/client/paidFetch.ts';
import { DEV_MNEMONIC, DEV_ROLES, runDev, type DevEnvironment } from '../../src/dev/run.ts';
import { writeKeyFile } from '../../src/keys/account.ts';
import { LIGHT_SCRYPT } from '../../src/keys/keystore.ts';
import { buildUi } from '../../src/ui/build.ts';
import { consoleErrors, launchChromium } from '../fixtures/browser.ts';
import { freePort } from '../fixtures/sdkPackage.ts';
import { ROOT } from '../fixtures/cli.ts';
import { runCliInProcess } from '../fixtures/cliInProcess.ts';
import { makeTempDir } from '../fixtures/model.ts';

/**
 * The operator page and the contributor page in headless Chromium against `openlora dev` (in this
 * process) with paid traffic running: live throughput, adapter tiers, a settled lane equal to the
 * chain's `laneClaimed`; a contributor's claimable equal to `AttributionRewards.claimable`, claimed
 * with an injected EIP-1193 wallet, and another's claimed with the CLI command the page shows.
 */
const OUT = join(ROOT, 'out');
let dev: DevEnvironment;
let dir: string;
let browser: BrowserContext;
let running: { stop(): Promise<void> } | undefined;
const account = (i: number) => mnemonicToAccount(DEV_MNEMONIC, { addressIndex: i });

/** Paid chats through the SDK (as the dev payer, on the dev channel) until stopped; then the tail is acknowledged too. */
async function traffic(model: string) {
  const { session } = dev;
  const paid = await createPaidClient({ url: session.url, account: account(session.payerIndex), channelId: session.channelId, nodeRegistry: session.nodeRegistry });
  const client = new OpenAI({ baseURL: `${session.url}/v1`, apiKey: 'unused', fetch: paid.fetch, maxRetries: 0 });
  let stopped = false;
  let done = 0;
  const loop = (async () => {
    while (!stopped) {
      const answer = await client.chat.completions.create({ model, messages: [{ role: 'user', content: `Tell me about the sea, part ${done}` }], max_tokens: 8 });
      expect(answer.usage!.completion_tokens).toBeGreaterThan(0);
      done++;
    }
    await paid.idle();
    await paid.payTail();
  })();
  loop.catch(() => undefined); // surfaced by stop()
  return {
    count: () => done,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** An EIP-1193 provider in the page backed by a viem account here: it signs and sends; reads go to the chain. */
async function injectWallet(context: BrowserContext, wallet: LocalAccount, rpcUrl: string, chainId: number): Promise<void> {
  const publicClient = createPublicClient({ transport: http(rpcUrl) });
  const walletClient = createWalletClient({ account: wallet, transport: http(rpcUrl) });
  await context.exposeBinding('__openloraWallet', async (_source, method: string, params: unknown[]) => {
    if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [wallet.address];
    if (method === 'eth_chainId') return toHex(chainId);
    if (method === 'eth_sendTransaction') {
      const tx = params[0] as { to: Address; data?: Hex; value?: Hex; gas?: Hex };
      return walletClient.sendTransaction({ chain: null, to: tx.to, data: tx.data, value: tx.value ? BigInt(tx.value) : undefined, gas: tx.gas ? BigInt(tx.gas) : undefined });
    }
    return publicClient.request({ method: method as 'eth_call', params: params as never });
  });
  await context.addInitScript(() => {
    const call = (globalThis as unknown as { __openloraWallet: (method: string, params: unknown[]) => Promise<unknown> }).__openloraWallet;
    (globalThis as unknown as { ethereum: unknown }).ethereum = { request: ({ method, params }: { method: string; params?: unknown[] }) => call(method, params ?? []), on() {}, removeListener() {} };
  });
}

/** Polls `read` until `done` accepts its value. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const pageErrors = new Map<Page, string[]>();
const watch = (page: Page): string[] => {
  const errors = consoleErrors(page);
  pageErrors.set(page, errors);
  return errors;
};

/** An attribute of the first match; on a timeout the error carries what the page shows (and a screenshot is left in out/). */
async function attr(page: Page, selector: string, name: string): Promise<string | null> {
  try {
    return await page.locator(selector).first().getAttribute(name, { timeout: 120_000 });
  } catch (error) {
    await page.screenshot({ path: join(OUT, 'ui-failure.png'), fullPage: true }).catch(() => undefined);
    throw new Error(`${(error as Error).message}\npage text: ${await page.locator('body').innerText().catch(() => '?')}\nerrors: ${pageErrors.get(page)?.join('\n')}`);
  }
}

beforeAll(async () => {
  dir = join(await makeTempDir('openlora-ui-'), 'dev');
  dev = await runDev({ dir, port: 0, chainPort: await freePort(), backend: 'cpu', onProgress: () => undefined }); // the node on any free port; Hardhat needs a number
  browser = await launchChromium();
  await mkdir(OUT, { recursive: true });
}, 900_000);

afterAll(async () => {
  await running?.stop().catch(() => undefined);
  await browser?.close();
  await dev?.stop();
});

describe('the web pages', () => {
  it('operator page: live throughput, tiers, a settled lane equal to laneClaimed; rewards page: claimable equal to the contract, claimed by wallet and by CLI', async () => {
    const { session, deployment } = dev;
    const chain = createPublicClient({ transport: http(session.rpcUrl) });
    // The adapter under traffic has a published root and contributors with weight.
    const index = session.adapters.findIndex((a) => a.root);
    const adapter = session.adapters[index];
    const report = await readAttributionReport(join(dir, 'attribution', `attribution-${index}.json`));
    const weights = treeWeights(reportTree(report));
    const contributors = DEV_ROLES.contributors.map(account).filter((a) => (weights.get(a.address.toLowerCase()) ?? 0n) > 0n);
    expect(contributors.length).toBeGreaterThan(1); // one claims with the wallet, one with the CLI

    const load = (running = await traffic(adapter.name));
    const operator = await browser.newPage();
    const operatorErrors = watch(operator);
    await operator.goto(`${session.url}/`);
    // Two different non-zero readings of tokens/s while traffic runs.
    const seen: number[] = [];
    await until(
      async () => {
        const text = await operator.getByTestId('tokens-per-s').textContent();
        const value = Number(text?.replace(/,/g, ''));
        if (value > 0 && value !== seen.at(-1)) seen.push(value);
        await new Promise((r) => setTimeout(r, 700));
        return seen.length;
      },
      (n) => n >= 2,
      'tokens/s readings',
    );
    expect(seen[0]).not.toBe(seen[1]);
    await operator.screenshot({ path: join(OUT, 'ui-operator-live.png') });
    await operator.locator(`[data-tier="gpu"] tr[data-adapter="${adapter.name}"]`).waitFor({ timeout: 120_000 });
    await expect(operator.locator('[data-tier="disk"], [data-tier="host"]').count()).resolves.toBe(2);
    // The admin parts.
    await operator.fill('input[name="token"]', session.adminToken);
    await operator.click('form.admin-form button[type="submit"]');
    await operator.getByTestId('money').waitFor({ timeout: 60_000 });
    await load.stop();
    expect(load.count()).toBeGreaterThan(1);
    const lane = `tr[data-lane="${session.channelId}:${adapter.laneId}"]`;
    const settled = await until(
      async () => [await attr(operator, lane, 'data-settled'), await attr(operator, lane, 'data-acknowledged')] as const,
      ([s, a]) => s !== null && BigInt(s) > 0n && s === a,
      'the lane settled up to its voucher',
    );
    const claimed = await chain.readContract({ address: deployment.contracts.paymentChannels, abi: paymentChannelsAbi, functionName: 'laneClaimed', args: [session.channelId, adapter.laneId] });
    expect(BigInt(settled[0]!)).toBe(claimed);
    const receiptHref = await operator.getByTestId('receipt-link').first().getAttribute('href');
    const receipt = (await (await fetch(new URL(receiptHref!, `${session.url}/`))).json()) as { receipt: { seq: string } };
    expect(receipt.receipt.seq).toMatch(/^\d+$/);
    await operator.screenshot({ path: join(OUT, 'ui-operator.png'), fullPage: true });

    // Contributor page with a wallet: claimable as the contract says, then claimed.
    const first = contributors[0];
    const walletContext = await launchChromium();
    try {
      await injectWallet(walletContext, first, session.rpcUrl, session.chainId);
      const rewards = await walletContext.newPage();
      const rewardsErrors = watch(rewards);
      await rewards.goto(`${session.url}/rewards`);
      await rewards.getByTestId('connect').click();
      const row = `tr[data-adapter="${adapter.laneId}"]`;
      const weight = weights.get(first.address.toLowerCase())!;
      const onChain = await chain.readContract({ address: deployment.contracts.attributionRewards, abi: attributionRewardsAbi, functionName: 'claimable', args: [adapter.laneId, first.address, weight] });
      expect(onChain).toBeGreaterThan(0n);
      expect(BigInt((await attr(rewards, row, 'data-claimable'))!)).toBe(onChain);
      await rewards.screenshot({ path: join(OUT, 'ui-rewards-before-claim.png'), fullPage: true });
      await rewards.getByTestId('claim').click();
      await rewards.getByTestId('claim-status').filter({ hasText: 'Claimed' }).waitFor({ timeout: 120_000 });
      const after = await until(async () => [await attr(rewards, row, 'data-claimable'), await attr(rewards, row, 'data-claimed')] as const, ([c]) => c === '0', 'claimable back to 0');
      const claimedOnChain = await chain.readContract({ address: deployment.contracts.attributionRewards, abi: attributionRewardsAbi, functionName: 'claimedOf', args: [adapter.laneId, first.address] });
      expect(BigInt(after[1]!)).toBe(claimedOnChain);
      expect(claimedOnChain).toBe(onChain);
      await rewards.screenshot({ path: join(OUT, 'ui-rewards.png'), fullPage: true });
      expect(rewardsErrors).toEqual([]);
    } finally {
      await walletContext.close();
    }

    // Without a wallet: the page shows the CLI command; run as shown (with a keystore), it claims.
    const second = contributors[1];
    const page = await browser.newPage();
    const errors = watch(page);
    await page.goto(`${session.url}/rewards?address=${second.address}`);
    const command = (await page.getByTestId('cli-command').textContent({ timeout: 120_000 }))!;
    expect(command).toMatch(/^openlora claim /);
    const keyFile = join(dir, 'contributor-key.json');
    const passphrase = 'contributor passphrase';
    await writeKeyFile({ keyFile, passphrase, privateKey: toHex(second.getHdKey().privateKey!), scrypt: LIGHT_SCRYPT });
    const args = command.replace('YOUR_KEYSTORE.json', keyFile).split(/\s+/).slice(1);
    const result = await runCliInProcess([...args, '--json'], { env: { OPENLORA_KEY_PASSPHRASE: passphrase } });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    await page.reload();
    await until(async () => attr(page, `tr[data-adapter="${adapter.laneId}"]`, 'data-claimable'), (c) => c === '0', 'claimable after the CLI claim');
    expect(errors).toEqual([]);
    await page.close();

    // The contributor page as static files on another origin, told everything by its query string.
    const { files } = await buildUi();
    const site = createServer((request, response) => {
      const file = files.get(new URL(request.url!, 'http://x').pathname.slice(1));
      if (file) response.writeHead(200, { 'content-type': file.type }).end(file.body);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    try {
      const query = new URLSearchParams({ rpc: session.rpcUrl, deployment: `${session.url}/v1/chain/deployment`, report: `${session.url}/v1/attribution/reports/${adapter.laneId}`, address: second.address });
      const staticPage = await browser.newPage();
      const staticErrors = watch(staticPage);
      await staticPage.goto(`http://127.0.0.1:${(site.address() as { port: number }).port}/rewards.html?${query}`);
      const claimedOnChain = await chain.readContract({ address: deployment.contracts.attributionRewards, abi: attributionRewardsAbi, functionName: 'claimedOf', args: [adapter.laneId, second.address] });
      expect(claimedOnChain).toBeGreaterThan(0n);
      expect(BigInt((await attr(staticPage, `tr[data-adapter="${adapter.laneId}"]`, 'data-claimed'))!)).toBe(claimedOnChain);
      expect(staticErrors).toEqual([]);
    } finally {
      site.close();
    }
    expect(operatorErrors).toEqual([]);
  }, 900_000);
});
