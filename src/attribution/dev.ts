/**
 * Sample attribution for `openlora dev`: a Datanet of three contributors' texts, created by the
 * curator, signed by each contributor and registered by the curator with their signatures, the sample adapters registered with that Datanet, their weights
 * computed by the engine and their roots published. Reports are written next to the Datanet so
 * `openlora rewards` / `openlora claim` can use them.
 */
import type { BackendChoice } from '../engine/chooseBackend.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Account, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem';
import type { Deployment } from '../chain/deployment.ts';
import type { ChainContext } from '../chain/context.ts';
import { publishDatanet, signContributions } from '../datanet/chain.ts';
import { addContribution, createDatanetDir } from '../datanet/local.ts';
import { readDatanetManifest } from '../datanet/manifest.ts';
import { loadModel } from '../model/load.ts';
import { computeAttribution } from './compute.ts';
import { AttributionInputError } from './errors.ts';
import { publishAttribution } from './publish.ts';
import { registerAdapterOnChain } from './register.ts';
import { writeAttributionReport } from './reportFile.ts';

/** Texts of the sample Datanet: three contributors with clearly different kinds of text. */
export const DEV_DATANET_TEXTS: readonly (readonly string[])[] = [
  [
    'The kettle whistled while the bread rose slowly by the warm window.',
    'Slice the onions thin, fry them in butter until golden, then add a pinch of salt.',
  ],
  [
    'function add(a, b) { return a + b; }\nconst total = items.reduce(add, 0);',
    'for (let i = 0; i < n; i++) { sum += values[i] * weights[i]; }',
  ],
  [
    'date,open,close\n2024-01-02,101.5,102.25\n2024-01-03,102.25,99.75',
    'id;qty;price\n17;4;9.99\n18;12;0.45\n19;1;120.00',
  ],
];

/** Parameters of {@link publishDevAttribution}. */
export interface PublishDevAttributionParameters {
  publicClient: PublicClient;
  deployment: Deployment;
  /** Curator of the Datanet and owner of the sample adapters (publishes their roots). */
  owner: WalletClient<Transport, Chain, Account>;
  /** Three contributors' wallets (each signs its own texts; the curator registers them). */
  contributors: readonly WalletClient<Transport, Chain, Account>[];
  /** Base model directory. */
  model: string;
  /** Sample adapter directories. */
  adapters: readonly string[];
  /** Directory for the Datanet and the reports (created). */
  dir: string;
  backend?: BackendChoice;
  /** Adapter royalty, bps; default 1000. */
  royaltyBps?: number;
  /** Contributor part of the royalty, bps; default 5000. */
  contributorBps?: number;
}

/** One sample adapter's outcome. */
export interface DevAdapterAttribution {
  dir: string;
  contentId: Hex;
  /** AdapterRegistry id (keccak256(owner, contentId)). */
  adapterId: Hex;
  /** null when the adapter removes no loss on the Datanet (no root: the owner keeps the contributor share). */
  root: Hex | null;
  totalWeight: bigint;
  reportFile: string;
}

/** Creates and registers the sample Datanet, registers the adapters, computes and publishes their roots. */
export async function publishDevAttribution(p: PublishDevAttributionParameters): Promise<{ datanetDir: string; datanetId: bigint; adapters: DevAdapterAttribution[] }> {
  if (p.contributors.length < DEV_DATANET_TEXTS.length) throw new AttributionInputError(`The sample Datanet needs ${DEV_DATANET_TEXTS.length} contributor wallets, got ${p.contributors.length}.`);
  const datanetDir = join(p.dir, 'datanet');
  const ctxOf = (walletClient: WalletClient<Transport, Chain, Account>): ChainContext => ({ publicClient: p.publicClient, walletClient, deployment: p.deployment });
  const existing = await readDatanetManifest(datanetDir).catch(() => undefined);
  if (!existing) {
    await createDatanetDir({ dir: datanetDir, name: 'openlora-dev-samples', version: '1.0.0' });
    const model = await loadModel({ dir: p.model });
    try {
      const tokenizer = model.tokenizer;
      if (!tokenizer) throw new AttributionInputError(`Model ${p.model} has no tokenizer.json.`);
      for (const [k, texts] of DEV_DATANET_TEXTS.entries()) {
        for (const text of texts) {
          await addContribution({ dir: datanetDir, bytes: new TextEncoder().encode(text), contributor: p.contributors[k].account.address, license: 'CC0-1.0', countTokens: (t) => tokenizer.encode(t).length });
        }
      }
    } finally {
      await model.close();
    }
  }
  // The curator creates the Datanet; each contributor signs its texts; the curator registers them all.
  await publishDatanet({ dir: datanetDir, ctx: ctxOf(p.owner) });
  for (const c of p.contributors.slice(0, DEV_DATANET_TEXTS.length)) await signContributions({ dir: datanetDir, ctx: ctxOf(c) });
  const { datanetId } = await publishDatanet({ dir: datanetDir, ctx: ctxOf(p.owner) });
  const owner = ctxOf(p.owner);
  const adapters: DevAdapterAttribution[] = [];
  for (const [i, dir] of p.adapters.entries()) {
    const { adapterId, contentId } = await registerAdapterOnChain({ ctx: owner, adapter: dir, model: p.model, datanetIds: [datanetId], royaltyBps: p.royaltyBps ?? 1000, contributorBps: p.contributorBps ?? 5000 });
    const report = await computeAttribution({ model: p.model, adapter: dir, datanets: [datanetDir], adapterId, chain: owner, backend: p.backend });
    const reportFile = join(p.dir, `attribution-${i}.json`);
    await writeAttributionReport(reportFile, report);
    const published = report.root ? await publishAttribution({ ctx: owner, report }) : undefined;
    adapters.push({ dir, contentId, adapterId, root: published?.root ?? null, totalWeight: published?.totalWeight ?? 0n, reportFile });
  }
  await writeFile(join(p.dir, 'attribution-index.json'), JSON.stringify(adapters.map((a) => ({ ...a, totalWeight: a.totalWeight.toString() })), null, 2) + '\n');
  return { datanetDir, datanetId, adapters };
}
