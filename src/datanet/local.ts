/**
 * Local Datanet operations: create the directory, add contributions, and load a Datanet with every
 * text checked against the hash its manifest records.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { getAddress, isAddress, keccak256, type Address, type Hex } from 'viem';
import { DATANET_CONTRIBUTIONS_DIR, DATANET_MANIFEST_FILE, readDatanetManifest, writeDatanetManifest, type Contribution, type DatanetManifest } from './manifest.ts';
import { DatanetContributionError, DatanetEmptyError, DatanetHashMismatchError, DatanetManifestError } from './errors.ts';

/** Content hash of a contribution: keccak256 of the file's exact bytes. */
export function contributionHash(bytes: Uint8Array): Hex {
  return keccak256(bytes);
}

/** Parameters of {@link createDatanetDir}. */
export interface CreateDatanetDirParameters {
  dir: string;
  name: string;
  version: string;
}

/** Creates an empty Datanet directory (manifest + contributions folder). Refuses to overwrite a manifest. */
export async function createDatanetDir(p: CreateDatanetDirParameters): Promise<DatanetManifest> {
  const file = join(p.dir, DATANET_MANIFEST_FILE);
  if (await stat(file).then(() => true, () => false)) throw new DatanetManifestError(file, 'already exists', { hint: 'Pick another directory, or add to this Datanet with `openlora datanet add`.' });
  await mkdir(join(p.dir, DATANET_CONTRIBUTIONS_DIR), { recursive: true });
  const manifest: DatanetManifest = { name: p.name, version: p.version, contributions: [] };
  await writeDatanetManifest(p.dir, manifest);
  return manifest;
}

/** Parameters of {@link addContribution}. */
export interface AddContributionParameters {
  dir: string;
  /** The text, as bytes (UTF-8 text files). */
  bytes: Uint8Array;
  contributor: string;
  license: string;
  /** Counts tokens of the text (the base model's tokenizer, no special tokens). */
  countTokens: (text: string) => number;
}

/** Copies a text into `contributions/<hash>.txt` and records it in the manifest. */
export async function addContribution(p: AddContributionParameters): Promise<Contribution> {
  if (!isAddress(p.contributor)) throw new DatanetContributionError(`Contributor "${p.contributor}" is not an address.`);
  const manifest = await readDatanetManifest(p.dir);
  if (manifest.chain) {
    throw new DatanetContributionError(`Datanet ${p.dir} is already published as #${manifest.chain.datanetId} on chain ${manifest.chain.chainId}.`, {
      hint: 'Contributions are registered by publishing; create a new version of the Datanet for new texts.',
    });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(p.bytes);
  } catch (cause) {
    throw new DatanetContributionError('The contribution is not UTF-8 text.', { cause });
  }
  const tokenCount = p.countTokens(text);
  if (tokenCount === 0) throw new DatanetContributionError('The contribution is empty (0 tokens).', { hint: 'Contributions must hold at least one token of text.' });
  const contentHash = contributionHash(p.bytes);
  if (manifest.contributions.some((c) => c.contentHash === contentHash)) {
    throw new DatanetContributionError(`This text (${contentHash}) is already in Datanet ${manifest.name}.`);
  }
  const file = `${DATANET_CONTRIBUTIONS_DIR}/${contentHash.slice(2, 18)}.txt`;
  await mkdir(join(p.dir, DATANET_CONTRIBUTIONS_DIR), { recursive: true });
  await writeFile(join(p.dir, file), p.bytes);
  const contribution: Contribution = { contributor: getAddress(p.contributor), contentHash, tokenCount, license: p.license, file };
  manifest.contributions.push(contribution);
  await writeDatanetManifest(p.dir, manifest);
  return contribution;
}

/** A contribution with its text, read and checked. */
export interface LoadedContribution extends Contribution {
  contributor: Address;
  contentHash: Hex;
  /** Index in the manifest (the order contributions are registered on-chain). */
  index: number;
  text: string;
}

/** A Datanet read from disk. */
export interface LoadedDatanet {
  dir: string;
  manifest: DatanetManifest;
  contributions: LoadedContribution[];
}

/** A contribution whose file does not match its manifest entry. */
export interface ContributionProblem {
  datanet: string;
  file: string;
  contributor: Address;
  error: DatanetHashMismatchError;
}

/** Parameters of {@link loadDatanet}. */
export interface LoadDatanetParameters {
  dir: string;
  /** Collect mismatching files in `problems` instead of throwing at the first. Default false. */
  collectProblems?: boolean;
}

/**
 * Reads a Datanet and checks every text against the manifest's hash. Throws
 * {@link DatanetEmptyError} for a Datanet without contributions and {@link DatanetHashMismatchError}
 * for a changed file (unless `collectProblems`).
 */
export async function loadDatanet(p: LoadDatanetParameters): Promise<LoadedDatanet & { problems: ContributionProblem[] }> {
  const dir = resolve(p.dir);
  const manifest = await readDatanetManifest(dir);
  if (manifest.contributions.length === 0) throw new DatanetEmptyError(dir);
  const contributions: LoadedContribution[] = [];
  const problems: ContributionProblem[] = [];
  for (const [index, c] of manifest.contributions.entries()) {
    const path = resolve(dir, c.file);
    if (relative(dir, path).startsWith('..')) throw new DatanetManifestError(join(dir, DATANET_MANIFEST_FILE), `names file ${c.file} outside the Datanet directory`);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      throw new DatanetManifestError(join(dir, DATANET_MANIFEST_FILE), `names contribution file ${c.file}, which cannot be read`, { cause, details: (cause as Error).message });
    }
    const actual = contributionHash(bytes);
    const contributor = getAddress(c.contributor);
    if (actual !== c.contentHash.toLowerCase()) {
      const error = new DatanetHashMismatchError({ file: path, contributor, expected: c.contentHash, actual, where: 'manifest' });
      if (!p.collectProblems) throw error;
      problems.push({ datanet: manifest.name, file: path, contributor, error });
    }
    contributions.push({ ...c, contributor, contentHash: c.contentHash.toLowerCase() as Hex, index, text: new TextDecoder().decode(bytes) });
  }
  return { dir, manifest, contributions, problems };
}
