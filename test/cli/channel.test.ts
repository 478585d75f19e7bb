/**
 * `openlora channel open|topup|withdraw|status` against a real JSON-RPC chain (`hardhat node`):
 * contracts deployed with `openlora chain deploy`, then a payer's channel through its life.
 */
import { zeroHash } from 'viem';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../fixtures/cliInProcess.ts';
import { HARDHAT_KEY, startHardhatNode, type HardhatNode } from '../fixtures/hardhatNode.ts';

const PAYER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'; // address of HARDHAT_KEY
const NODE = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'; // Hardhat account #1
const LANE = zeroHash; // base-model lane

const cli = runCliInProcess;

async function json<T = Record<string, unknown>>(args: string[]): Promise<T> {
  const { code, stdout } = await cli([...args, '--json']);
  expect(code, stdout).toBe(0);
  return JSON.parse(stdout) as T;
}

describe('openlora channel', () => {
  let hardhat: HardhatNode | undefined;
  let chain: string[];

  beforeAll(async () => {
    hardhat = await startHardhatNode();
    const dir = await mkdtemp(path.join(tmpdir(), 'openlora-channel-'));
    const rawKey = path.join(dir, 'raw.txt');
    const pass = path.join(dir, 'pass.txt');
    const keyFile = path.join(dir, 'payer.json');
    const deployment = path.join(dir, 'deployment.json');
    await writeFile(rawKey, `0x${HARDHAT_KEY}\n`);
    await writeFile(pass, 'correct horse\n');
    chain = ['--rpc', hardhat.rpc, '--deployment', deployment, '--key-file', keyFile, '--passphrase-file', pass];
    expect((await cli(['key', 'import', '--private-key-file', rawKey, '--out', keyFile, '--passphrase-file', pass, '--light', '--json'])).code).toBe(0);
    expect((await cli(['chain', 'deploy', '--rpc', hardhat.rpc, '--key-file', keyFile, '--passphrase-file', pass, '--out', deployment, '--fund', PAYER, '--json'])).code).toBe(0);
  });

  afterAll(() => {
    hardhat?.stop();
  });

  it('opens, tops up, requests the withdrawal and withdraws after the delay, with status at each step', async () => {
    const opened = await json<{ channelId: string; payer: string; amount: string }>(['channel', 'open', ...chain, '--node', NODE, '--amount', '10.5', '--withdraw-delay', '900']);
    expect(opened.channelId).toMatch(/^0x[0-9a-f]{64}$/);
    expect(opened.payer).toBe(PAYER);
    expect(opened.amount).toBe('10500000000000000000');
    const id = opened.channelId;

    let status = await json(['channel', 'status', id, ...chain, '--adapter', LANE]);
    expect(status).toMatchObject({ channelId: id, payer: PAYER, node: NODE, authorizer: PAYER, balance: '10500000000000000000', withdraw: 'none', withdrawReadyAt: null, withdrawDelay: 900 });
    expect(status.lanes).toEqual([{ adapterId: LANE, claimed: '0' }]);

    const topped = await json(['channel', 'topup', id, ...chain, '--amount-wei', '500000000000000000']);
    expect(topped.balance).toBe('11000000000000000000');
    status = await json(['channel', 'status', id, ...chain]);
    expect(status.balance).toBe('11000000000000000000');

    const requested = await json<{ action: string; readyAt: number }>(['channel', 'withdraw', id, ...chain]);
    expect(requested.action).toBe('requested');
    status = await json(['channel', 'status', id, ...chain]);
    expect(status).toMatchObject({ withdraw: 'pending', withdrawReadyAt: requested.readyAt, balance: '11000000000000000000' });
    expect(await json(['channel', 'withdraw', id, ...chain])).toMatchObject({ action: 'pending', readyAt: requested.readyAt });

    const text = await cli(['channel', 'status', id, ...chain]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('balance     11 tokens');
    expect(text.stdout).toContain(`withdraw    pending (ready at ${new Date(requested.readyAt * 1000).toISOString()})`);

    // Let the delay pass on the chain, then the same command withdraws.
    const rpc = (method: string, params: unknown[]) => fetch(hardhat!.rpc, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
    await rpc('evm_increaseTime', [901]);
    await rpc('evm_mine', []);
    expect((await json(['channel', 'status', id, ...chain])).withdraw).toBe('ready');
    expect(await json(['channel', 'withdraw', id, ...chain])).toMatchObject({ action: 'withdrawn', amount: '11000000000000000000' });
    expect(await json(['channel', 'status', id, ...chain])).toMatchObject({ balance: '0', withdraw: 'none' });
  });

  it('fails clearly on an unknown channel id and on a bad amount', async () => {
    const unknown = `0x${'ab'.repeat(32)}`;
    for (const args of [['channel', 'status', unknown, ...chain], ['channel', 'topup', unknown, ...chain, '--amount', '1']]) {
      const { code, stdout } = await cli([...args, '--json']);
      expect(code).toBe(1);
      const { error } = JSON.parse(stdout) as { error: { code: string; message: string; hint: string } };
      expect(error.code).toBe('OPENLORA_CLI_CHANNEL_UNKNOWN');
      expect(error.message).toContain(unknown);
      expect(error.hint).toContain('channel open');
    }
    const bad = await cli(['channel', 'open', ...chain, '--node', NODE, '--amount', '1.5e3', '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).error.code).toBe('OPENLORA_CLI_CHANNEL_INPUT');
  });
});
