/**
 * A Datanet as files a curator publishes: `datanet.json` (the manifest) and the contribution texts
 * under `contributions/`. Contents are named by `keccak256(file bytes)`, the `contentHash` that
 * `DatanetRegistry` records per contributor; the chain holds hashes, never content.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import { DatanetManifestError } from './errors.ts';

/** File name of the manifest inside a Datanet directory. */
export const DATANET_MANIFEST_FILE = 'datanet.json';
/** Folder of the contribution texts inside a Datanet directory. */
export const DATANET_CONTRIBUTIONS_DIR = 'contributions';

const Hex32 = Type.String({ pattern: '^0x[0-9a-fA-F]{64}$' });
const AddressString = Type.String({ pattern: '^0x[0-9a-fA-F]{40}$' });
const Signature = Type.String({ pattern: '^0x[0-9a-fA-F]{130}$' });

/** One contribution: who gave which text (by hash), its size in tokens, under which license. */
export const ContributionSchema = Type.Object({
  contributor: AddressString,
  /** keccak256 of the text file's bytes. */
  contentHash: Hex32,
  /** Tokens of the text under the base model's tokenizer (no special tokens). */
  tokenCount: Type.Integer({ minimum: 1 }),
  /** SPDX id or free text. */
  license: Type.String(),
  /** Path of the text relative to the Datanet directory. */
  file: Type.String({ minLength: 1 }),
  /**
   * The contributor's EIP-712 `Contribution` signature for the published Datanet (`openlora datanet
   * sign`): lets the curator register the text for them (`DatanetRegistry.contributeFor`).
   */
  signature: Type.Optional(Signature),
});

/** Where the Datanet is registered, written by `openlora datanet publish`. */
export const DatanetChainRefSchema = Type.Object({
  chainId: Type.Integer({ minimum: 1 }),
  datanetRegistry: AddressString,
  /** Decimal string (uint256). */
  datanetId: Type.String({ pattern: '^[1-9][0-9]*$' }),
});

export const DatanetManifestSchema = Type.Object({
  name: Type.String({ minLength: 1 }),
  version: Type.String({ minLength: 1 }),
  contributions: Type.Array(ContributionSchema),
  chain: Type.Optional(DatanetChainRefSchema),
});

export type Contribution = Static<typeof ContributionSchema>;
export type DatanetChainRef = Static<typeof DatanetChainRefSchema>;
export type DatanetManifest = Static<typeof DatanetManifestSchema>;

/** Reads and validates `DIR/datanet.json`. */
export async function readDatanetManifest(dir: string): Promise<DatanetManifest> {
  const file = join(dir, DATANET_MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new DatanetManifestError(file, 'cannot be read', { cause, details: (cause as Error).message });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new DatanetManifestError(file, 'is not JSON', { cause, details: (cause as Error).message });
  }
  if (!Value.Check(DatanetManifestSchema, json)) {
    const first = [...Value.Errors(DatanetManifestSchema, json)][0];
    throw new DatanetManifestError(file, 'does not match the manifest schema', { details: first ? `${first.instancePath || '/'}: ${first.message}` : undefined });
  }
  return json;
}

/** Writes `DIR/datanet.json` (pretty JSON, trailing newline). */
export async function writeDatanetManifest(dir: string, manifest: DatanetManifest): Promise<void> {
  await writeFile(join(dir, DATANET_MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
}
