/**
 * Datanets on-chain: `DatanetRegistry.createDatanet` by the curator; each contribution registered
 * for its contributor only, sent with their own key (`contribute`) or by the curator with their
 * EIP-712 signature (`contributeFor`); and checks that local files match what the chain records.
 */
import { isAddressEqual, keccak256, parseEventLogs, stringToBytes, type Address, type Hex } from 'viem';
import { datanetRegistryAbi, getContracts } from '../chain/contracts.ts';
import { assertDeploymentChain, type ChainContext } from '../chain/context.ts';
import { recoverContributionSigner, signContribution } from '../chain/eip712.ts';
import { waitForSuccess } from '../chain/waitForSuccess.ts';
import { DatanetChainMismatchError, DatanetContributionError, DatanetHashMismatchError } from './errors.ts';
import { loadDatanet, type ContributionProblem, type LoadedContribution, type LoadedDatanet } from './local.ts';
import { writeDatanetManifest, type DatanetManifest } from './manifest.ts';

/** Metadata hash registered for a Datanet: keccak256 of `{"name":..,"version":..}` (UTF-8). */
export function datanetMetadataHash(manifest: Pick<DatanetManifest, 'name' | 'version'>): Hex {
  return keccak256(stringToBytes(JSON.stringify({ name: manifest.name, version: manifest.version })));
}

/** Result of {@link checkDatanetOnChain}. */
export interface CheckDatanetOnChainReturnType {
  datanetId: bigint;
  /** Contributions the chain records as the manifest says. */
  registered: LoadedContribution[];
  /** Contributions not registered yet (their contributors have not published or signed them). */
  pending: LoadedContribution[];
  /** Contributions whose contributor registered other content instead (the local file is not theirs). */
  problems: ContributionProblem[];
}

/** Throws unless the manifest names this deployment's DatanetRegistry; returns the Datanet id. */
function publishedId(ctx: ChainContext, datanet: LoadedDatanet): bigint {
  const ref = datanet.manifest.chain;
  if (!ref) throw new DatanetChainMismatchError(`Datanet ${datanet.dir} is not published.`, { hint: 'Run `openlora datanet publish DIR` first.' });
  if (ref.chainId !== ctx.deployment.chainId || !isAddressEqual(ref.datanetRegistry as Address, ctx.deployment.contracts.datanetRegistry)) {
    throw new DatanetChainMismatchError(`Datanet ${datanet.dir} is published on chain ${ref.chainId} at ${ref.datanetRegistry}, not on this deployment (chain ${ctx.deployment.chainId}, ${ctx.deployment.contracts.datanetRegistry}).`);
  }
  return BigInt(ref.datanetId);
}

/**
 * Compares a loaded Datanet with the chain: each local file's hash (as read, not as the manifest
 * claims) must be a contribution registered by the manifest's contributor with the same token
 * count. Looks each up by `(contributor, hash)`: records others made of the same content (anyone
 * may) neither count nor get in the way.
 */
export async function checkDatanetOnChain(ctx: ChainContext, datanet: LoadedDatanet): Promise<CheckDatanetOnChainReturnType> {
  const datanetId = publishedId(ctx, datanet);
  const { datanetRegistry } = getContracts({ deployment: ctx.deployment, publicClient: ctx.publicClient });
  const records = await Promise.all(datanet.contributions.map((c) => datanetRegistry.read.contributionBy([datanetId, c.contributor, c.contentHash])));
  const registered: LoadedContribution[] = [];
  const pending: LoadedContribution[] = [];
  for (const [i, c] of datanet.contributions.entries()) {
    const [isRegistered, , tokenCount] = records[i];
    if (!isRegistered) {
      pending.push(c);
      continue;
    }
    if (tokenCount !== BigInt(c.tokenCount)) {
      throw new DatanetChainMismatchError(`Contribution ${c.contentHash} is registered by ${c.contributor} with ${tokenCount} tokens; the manifest says ${c.tokenCount}.`, { meta: { contributor: c.contributor } });
    }
    registered.push(c);
  }
  // A pending text whose contributor registered content the manifest does not list: the file was
  // replaced (manifest and file edited together), not merely unpublished.
  const problems: ContributionProblem[] = [];
  const listed = new Set(datanet.contributions.map((c) => `${c.contributor}:${c.contentHash}`));
  for (const contributor of new Set(pending.map((c) => c.contributor))) {
    const theirs = await datanetRegistry.getEvents.ContributionAdded({ datanetId, contributor }, { fromBlock: BigInt(ctx.deployment.blockNumber) });
    const unlisted = theirs.map((e) => e.args.contentHash!.toLowerCase()).filter((h) => !listed.has(`${contributor}:${h}`));
    if (unlisted.length === 0) continue;
    for (const c of pending.filter((p) => p.contributor === contributor)) {
      problems.push({ datanet: datanet.manifest.name, file: c.file, contributor, error: new DatanetHashMismatchError({ file: c.file, contributor, expected: unlisted.join(' or '), actual: c.contentHash, where: 'chain' }) });
    }
  }
  return { datanetId, registered, pending: pending.filter((c) => !problems.some((p) => p.file === c.file)), problems };
}

/** Parameters of {@link signContributions}. */
export interface SignContributionsParameters {
  dir: string;
  /** The contributor's wallet. */
  ctx: ChainContext;
}

/**
 * Signs the signer's pending contributions of a published Datanet (EIP-712 `Contribution`, the
 * consent `DatanetRegistry.contributeFor` checks) and writes each signature into the manifest, so
 * the curator can register them with `publishDatanet`. Nothing is sent.
 */
export async function signContributions(p: SignContributionsParameters): Promise<{ datanetId: bigint; signed: LoadedContribution[] }> {
  const wallet = p.ctx.walletClient;
  if (!wallet) throw new DatanetChainMismatchError('Signing contributions needs the contributor\'s key.', { hint: 'Pass --key-file.' });
  await assertDeploymentChain(p.ctx);
  const datanet = await loadDatanet({ dir: p.dir });
  const check = await checkDatanetOnChain(p.ctx, datanet);
  if (check.problems.length > 0) throw check.problems[0].error;
  const mine = check.pending.filter((c) => isAddressEqual(c.contributor, wallet.account.address));
  for (const c of mine) {
    const contribution = { datanetId: check.datanetId, contentHash: c.contentHash, tokenCount: BigInt(c.tokenCount) };
    datanet.manifest.contributions[c.index].signature = await signContribution({ account: wallet, contribution, chainId: p.ctx.deployment.chainId, datanetRegistry: p.ctx.deployment.contracts.datanetRegistry });
  }
  if (mine.length > 0) await writeDatanetManifest(datanet.dir, datanet.manifest);
  return { datanetId: check.datanetId, signed: mine };
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
  /** Contributions this call registered: the signer's own, and others' that carry their signature. */
  submitted: Hex[];
  /** Contributions still waiting for their contributors to publish or sign them. */
  pending: LoadedContribution[];
}

/**
 * Registers the Datanet (once, by the curator), the signer's own contributions, and every other
 * contribution whose manifest entry carries its contributor's signature (`openlora datanet sign`),
 * then checks every local file against the chain. Nothing is sent when a local file fails its
 * manifest hash or a signature is not its contributor's.
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
  const me = wallet.account.address;
  const own = before.pending.filter((c) => isAddressEqual(c.contributor, me));
  const signed = before.pending.filter((c) => !isAddressEqual(c.contributor, me) && c.signature !== undefined);
  for (const c of signed) {
    const contribution = { datanetId: before.datanetId, contentHash: c.contentHash, tokenCount: BigInt(c.tokenCount) };
    const signer = await recoverContributionSigner({ contribution, chainId: ctx.deployment.chainId, datanetRegistry: ctx.deployment.contracts.datanetRegistry, signature: c.signature as Hex }).catch(() => undefined);
    if (!signer || !isAddressEqual(signer, c.contributor)) {
      throw new DatanetContributionError(`The signature of ${c.file} is not ${c.contributor}'s consent to contribute it to Datanet #${before.datanetId} on this deployment.`, {
        hint: `Ask ${c.contributor} to sign again with \`openlora datanet sign DIR --key-file THEIR_KEY\`, or remove the "signature" field.`,
        meta: { contributor: c.contributor, file: c.file },
      });
    }
  }
  const submitted: Hex[] = [];
  for (const c of own) {
    await waitForSuccess(ctx.publicClient, await contracts.datanetRegistry.write.contribute([before.datanetId, c.contentHash, BigInt(c.tokenCount)]));
    submitted.push(c.contentHash);
  }
  for (const c of signed) {
    await waitForSuccess(ctx.publicClient, await contracts.datanetRegistry.write.contributeFor([before.datanetId, c.contributor, c.contentHash, BigInt(c.tokenCount), c.signature as Hex]));
    submitted.push(c.contentHash);
  }
  const after = await checkDatanetOnChain(ctx, datanet);
  if (after.problems.length > 0) throw after.problems[0].error;
  return { datanetId: after.datanetId, created, submitted, pending: after.pending };
}
