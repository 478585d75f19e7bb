import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDeployment, readDeployment, writeDeployment, type Deployment } from '../../src/chain/deployment.ts';
import { isBaseError } from '../../src/errors.ts';

const a = (n: number) => `0x${n.toString(16).padStart(40, '0')}` as const;
const deployment: Deployment = {
  version: 1, chainId: 31337, blockNumber: 0, deployer: a(1), testToken: true, deployedAt: '2025-01-01T00:00:00.000Z',
  contracts: { token: a(2), nodeRegistry: a(3), datanetRegistry: a(4), adapterRegistry: a(5), paymentChannels: a(6), attributionRewards: a(7) },
};

describe('deployment file', () => {
  it('round-trips and validates', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'openlora-deploy-'));
    const file = path.join(dir, 'sub', 'deployment.json');
    await writeDeployment(file, deployment);
    expect(await readDeployment(file)).toEqual(deployment);
  });

  it('reports missing, malformed and invalid files with a code', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'openlora-deploy-'));
    const invalid = (e: unknown) => isBaseError(e, 'OPENLORA_CHAIN_DEPLOYMENT_INVALID');
    await expect(readDeployment(path.join(dir, 'missing.json'))).rejects.toSatisfy(invalid);
    await writeFile(path.join(dir, 'bad.json'), '{');
    await expect(readDeployment(path.join(dir, 'bad.json'))).rejects.toSatisfy(invalid);
    expect(() => parseDeployment({ ...deployment, contracts: { ...deployment.contracts, token: '0x12' } })).toThrow(/token/);
    expect(() => parseDeployment({ ...deployment, chainId: 0 })).toThrow(/schema/);
  });
});
