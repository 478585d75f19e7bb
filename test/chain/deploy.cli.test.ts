/**
 * `openlora key import` + `openlora chain deploy` against a real JSON-RPC chain (`hardhat node`),
 * the way an operator deploys on any EVM chain; then the deployment file is read back and checked
 * against the chain.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChainClients } from '../../src/chain/clients.ts';
import { getContracts } from '../../src/chain/contracts.ts';
import { readDeployment } from '../../src/chain/deployment.ts';
import { main } from '../../src/cli/main.ts';
import { HARDHAT_KEY, startHardhatNode, type HardhatNode } from '../fixtures/hardhatNode.ts';

describe('openlora chain deploy', () => {
  let hardhat: HardhatNode | undefined;
  let rpc: string;

  beforeAll(async () => {
    hardhat = await startHardhatNode();
    rpc = hardhat.rpc;
  }, 90_000);

  afterAll(() => {
    hardhat?.stop();
  });

  it('imports a key, deploys from its keystore and writes a deployment file the node can use', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'openlora-deploy-'));
    const rawKey = path.join(dir, 'raw.txt');
    const pass = path.join(dir, 'pass.txt');
    const keyFile = path.join(dir, 'deployer.json');
    const out = path.join(dir, 'deployment.json');
    await writeFile(rawKey, `0x${HARDHAT_KEY}\n`);
    await writeFile(pass, 'correct horse\n');
    const stdout: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (stdout.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      expect(await main(['node', 'openlora', 'key', 'import', '--private-key-file', rawKey, '--out', keyFile, '--passphrase-file', pass, '--light', '--json'])).toBe(0);
      expect(await main(['node', 'openlora', 'key', 'address', '--key-file', keyFile])).toBe(0);
      expect(await main(['node', 'openlora', 'chain', 'deploy', '--rpc', rpc, '--key-file', keyFile, '--passphrase-file', pass, '--out', out, '--protocol-fee-bps', '150', '--json'])).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    const imported = JSON.parse(stdout[0]) as { address: string };
    expect(imported.address).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
    expect(stdout[1].trim()).toBe(imported.address);
    expect(stdout.join('')).not.toContain(HARDHAT_KEY);

    const deployment = await readDeployment(out);
    expect(deployment.chainId).toBe(31337);
    expect(deployment.deployer).toBe(imported.address);
    expect(deployment.testToken).toBe(true);
    const { publicClient } = await createChainClients({ rpcUrl: rpc });
    const contracts = getContracts({ deployment, publicClient });
    expect(await contracts.paymentChannels.read.protocolFeeBps()).toBe(150);
    expect(await contracts.paymentChannels.read.rewards()).toBe(deployment.contracts.attributionRewards);
    expect(await contracts.attributionRewards.read.paymentChannels()).toBe(deployment.contracts.paymentChannels);
    expect(await contracts.nodeRegistry.read.owner()).toBe(imported.address);
  });
});
