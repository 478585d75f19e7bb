/**
 * The deployment file: which chain, which contract addresses, from which block. Written by
 * `openlora chain deploy`, read by the node.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import { readSource } from '../source.ts';
import { DeploymentFileError } from './errors.ts';

const Address = Type.String({ pattern: '^0x[0-9a-fA-F]{40}$' });

/** Schema of the deployment file (format version 1). */
export const DeploymentSchema = Type.Object({
  version: Type.Literal(1),
  chainId: Type.Integer({ minimum: 1 }),
  /** Block of the first deployment transaction: where the node starts reading events. */
  blockNumber: Type.Integer({ minimum: 0 }),
  deployer: Address,
  contracts: Type.Object({
    token: Address,
    nodeRegistry: Address,
    datanetRegistry: Address,
    adapterRegistry: Address,
    paymentChannels: Address,
    attributionRewards: Address,
  }),
  /** Whether `token` is the dev/test token deployed with the contracts. */
  testToken: Type.Boolean(),
  deployedAt: Type.String(),
});

/** A deployment (addresses as checksummed hex strings). */
export type Deployment = Static<typeof DeploymentSchema> & { contracts: Record<keyof Static<typeof DeploymentSchema>['contracts'], `0x${string}`>; deployer: `0x${string}` };

/** Validates parsed JSON as a deployment; throws `DeploymentFileError` listing what is wrong. */
export function parseDeployment(value: unknown, file = '(inline)'): Deployment {
  if (!Value.Check(DeploymentSchema, value)) {
    const problems = [...Value.Errors(DeploymentSchema, value)].slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new DeploymentFileError(file, 'does not match the deployment schema', { details: problems.join('; ') });
  }
  return value as Deployment;
}

/** Reads and validates a deployment file (or the `http(s)://` URL of one). */
export async function readDeployment(file: string): Promise<Deployment> {
  let text: string;
  try {
    text = await readSource(file);
  } catch (cause) {
    throw new DeploymentFileError(file, 'cannot be read', { cause, details: (cause as Error).message });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new DeploymentFileError(file, 'is not valid JSON', { cause, details: (cause as Error).message });
  }
  return parseDeployment(json, file);
}

/** Validates and writes a deployment file (creating its folder). */
export async function writeDeployment(file: string, deployment: Deployment): Promise<void> {
  parseDeployment(deployment, file);
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, JSON.stringify(deployment, null, 2) + '\n');
}
