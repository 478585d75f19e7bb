/**
 * Datanets on-chain: `DatanetRegistry.createDatanet` by the curator, `contribute` by each
 * contributor (the registry records `msg.sender` as the contributor, so a contribution is
 * registered only by its own contributor's key), and checks that local files match what the chain
 * records.
 */
import { getAddress, keccak256, parseEventLogs, stringToBytes, type Account, type Address, type Chain, type Hex, type PublicClient, type Transport, type WalletClient } from 'viem';
import { datanetRegistryAbi, getContracts } from '../chain/contracts.ts';
import type { Deployment } from '../chain/deployment.ts';
import { DeploymentChainMismatchError } from '../chain/errors.ts';
import { DatanetChainMismatchError, DatanetHashMismatchError } from './errors.ts';
import { loadDatanet, type ContributionProblem, type LoadedContribution, type LoadedDatanet } from './local.ts';
import { writeDatanetManifest, type DatanetManifest } from './manifest.ts';

/** Clients and deployment for on-chain Datanet and attribution operations. */
export interface ChainContext {
  publicClient: PublicClient;
  /** Needed for writes. */
  walletClient?: WalletClient<Transport, Chain, Account>;
  deployment: Deployment;
}

/** Waits for a transaction and throws when it reverted. */
export async function waitForSuccess(publicClient: PublicClient, hash: Hex) {
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new DatanetChainMismatchError(`Transaction ${hash} reverted.`);
  return receipt;
}

/** Throws unless the RPC serves the deployment's chain. */
export async function assertDeploymentChain(ctx: ChainContext): Promise<void> {
  const actual = await ctx.publicClient.getChainId();
  if (actual !== ctx.deployment.chainId) throw new DeploymentChainMismatchError(ctx.deployment.chainId, actual);
}

/** Metadata hash registered for a Datanet: keccak256 of `{"name":..,"version":..}` (UTF-8). */
export function datanetMetadataHash(manifest: Pick<DatanetManifest, 'name' | 'version'>): Hex {
  return keccak256(stringToBytes(JSON.stringify({ name: manifest.name, version: manifest.version })));
}

/** What the chain records for one Datanet: contributions by content hash. */
export interface OnChainDatanet {
  datanetId: bigint;
  owner: Address;
  contributions: Map<Hex, { index: number; contributor: Address; tokenCount: bigint }>;
}

/** Reads a Datanet's contributions from `DatanetRegistry`. */
export async function readOnChainDatanet(ctx: ChainContext, datanetId: bigint): Promise<OnChainDatanet> {
  const { datanetRegistry } = getContracts({ deployment: ctx.deployment, publicClient: ctx.publicClient });
  const d = await datanetRegistry.read.datanetOf([datanetId]);
  const list = await Promise.all(Array.from({ length: Number(d.contributionCount) }, (_, i) => datanetRegistry.read.contributionOf([datanetId, BigInt(i)])));
  const contributions = new Map<Hex, { index: number; contributor: Address; tokenCount: bigint }>();
  list.forEach((c, index) => contributions.set(c.contentHash.toLowerCase() as Hex, { index, contributor: getAddress(c.contributor), tokenCount: c.tokenCount }));
  return { datanetId, owner: getAddress(d.owner), contributions };
}

/** Result of {@link checkDatanetOnChain}. */
export interface CheckDatanetOnChainReturnType {
  datanetId: bigint;
  /** Contributions the chain records as the manifest says. */
  registered: LoadedContribution[];
  /** Contributions not registered yet (their contributors have not published them). */
  pending: LoadedContribution[];
  /** Contributions the chain records differently (hash of the file, contributor or token count). */
  problems: ContributionProblem[];
}

/**
 * Compares a loaded Datanet with the chain: each local file's hash (as read, not as the manifest
 * claims) must be a registered contribution of the same contributor with the same token count.
 */
export async function checkDatanetOnChain(ctx: ChainContext, datanet: LoadedDatanet): Promise<CheckDatanetOnChainReturnType> {
  const ref = datanet.manifest.chain;
  if (!ref) throw new DatanetChainMismatchError(`Datanet ${datanet.dir} is not published.`, { hint: 'Run `openlora datanet publish DIR` first.' });
  if (ref.chainId !== ctx.deployment.chainId || ref.datanetRegistry.toLowerCase() !== ctx.deployment.contracts.datanetRegistry.toLowerCase()) {
    throw new DatanetChainMismatchError(`Datanet ${datanet.dir} is published on chain ${ref.chainId} at ${ref.datanetRegistry}, not on this deployment (chain ${ctx.deployment.chainId}, ${ctx.deployment.contracts.datanetRegistry}).`);
  }
  const onChain = await readOnChainDatanet(ctx, BigInt(ref.datanetId));
  const registered: LoadedContribution[] = [];
  const pending: LoadedContribution[] = [];
  const problems: ContributionProblem[] = [];
  for (const c of datanet.contributions) {
    const rec = onChain.contributions.get(c.contentHash);
    const byContributor = [...onChain.contributions.entries()].filter(([, r]) => r.contributor === c.contributor).map(([h]) => h);
    if (!rec) {
      if (byContributor.length === 0) pending.push(c);
      else problems.push({ datanet: datanet.manifest.name, file: c.file, contributor: c.contributor, error: new DatanetHashMismatchError({ file: c.file, contributor: c.contributor, expected: byContributor.join(' or '), actual: c.contentHash, where: 'chain' }) });
      continue;
    }
    if (rec.contributor !== c.contributor || rec.tokenCount !== BigInt(c.tokenCount)) {
      throw new DatanetChainMismatchError(`Contribution ${c.contentHash} is registered by ${rec.contributor} with ${rec.tokenCount} tokens; the manifest says ${c.contributor} with ${c.tokenCount}.`, { meta: { contributor: c.contributor } });
    }
    registered.push(c);
  }
  return { datanetId: onChain.datanetId, registered, pending, problems };
}

/** Parameters of {@link publishDatanet}. */
export interface PublishDatanetParameters {
  dir: string;
  ctx: ChainContext;
  /** Location of the Datanet's files, stored on-chain; default `datanet:<name>@<version>`. */
  uri?: string;
}

/** Result of {@link publishDatanet}. */
export interface PublishDatanetReturnType {
  datanetId: bigint;
  created: boolean;
  /** Contributions this call registered (those of the signing account). */
  submitted: Hex[];
  /** Contributions still waiting for their contributors to publish. */
  pending: LoadedContribution[];
}

/**
 * Registers the Datanet (once, by the curator) and the signer's own contributions, then checks
 * every local file against the chain. Nothing is sent when a local file fails its manifest hash.
 */
export async function publishDatanet(p: PublishDatanetParameters): Promise<PublishDatanetReturnType> {
  const { ctx } = p;
  const wallet = ctx.walletClient;
  if (!wallet) throw new DatanetChainMismatchError('Publishing a Datanet needs a signing key.', { hint: 'Pass --key-file.' });
  await assertDeploymentChain(ctx);
  const datanet = await loadDatanet({ dir: p.dir }); // throws on empty Datanets and changed files
  const contracts = getContracts({ deployment: ctx.deployment, publicClient: ctx.publicClient, walletClient: wallet });
  let created = false;
  if (!datanet.manifest.chain) {
    const uri = p.uri ?? `datanet:${datanet.manifest.name}@${datanet.manifest.version}`;
    const receipt = await waitForSuccess(ctx.publicClient, await contracts.datanetRegistry.write.createDatanet([datanetMetadataHash(datanet.manifest), uri]));
    const [event] = parseEventLogs({ abi: datanetRegistryAbi, logs: receipt.logs, eventName: 'DatanetCreated' });
    datanet.manifest.chain = { chainId: ctx.deployment.chainId, datanetRegistry: ctx.deployment.contracts.datanetRegistry, datanetId: event.args.datanetId.toString() };
    await writeDatanetManifest(datanet.dir, datanet.manifest);
    created = true;
  }
  const before = await checkDatanetOnChain(ctx, datanet);
  if (before.problems.length > 0) throw before.problems[0].error;
  const me = getAddress(wallet.account.address);
  const submitted: Hex[] = [];
  for (const c of before.pending.filter((c) => c.contributor === me)) {
    await waitForSuccess(ctx.publicClient, await contracts.datanetRegistry.write.contribute([before.datanetId, c.contentHash, BigInt(c.tokenCount)]));
    submitted.push(c.contentHash);
  }
  const after = await checkDatanetOnChain(ctx, datanet);
  if (after.problems.length > 0) throw after.problems[0].error;
  return { datanetId: after.datanetId, created, submitted, pending: after.pending };
}
