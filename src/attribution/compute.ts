/**
 * `openlora attribution compute`: for every contribution `z` of the adapter's Datanets,
 * `w(z) = max(0, L_base(z) - L_adapter(z))`, the summed negative log-likelihood of its tokens under
 * the base model minus that under base + adapter, scored teacher-forced with base and adapter rows
 * in the same engine steps. Weights are summed per contributor into the attribution tree.
 */
import type { BackendChoice } from '../engine/chooseBackend.ts';
import type { Hex } from 'viem';
import { getContracts } from '../chain/contracts.ts';
import type { ChainContext } from '../chain/context.ts';
import { checkDatanetOnChain } from '../datanet/chain.ts';
import { loadDatanet, type LoadedDatanet } from '../datanet/local.ts';
import { createLogger } from '../log.ts';
import { loadModel } from '../model/load.ts';
import { AttributionAdapterMismatchError, AttributionBaseModelMismatchError, AttributionInputError } from './errors.ts';
import { createScoringEngine } from './engine.ts';
import { baseModelHash } from './modelHash.ts';
import { buildReport, type AttributionReport, type ContributionAttribution } from './report.ts';
import { scoreBaseAndAdapter } from './score.ts';
import { contributionSequences } from './sequences.ts';
import { natsToUnits } from './units.ts';

/** Parameters of {@link computeAttribution}. */
export interface ComputeAttributionParameters {
  /** Base model directory. */
  model: string;
  /** Adapter directory (PEFT layout). */
  adapter: string;
  /** Datanet directories. */
  datanets: readonly string[];
  /** Default `cpu`. */
  backend?: BackendChoice;
  /** Id the tree's leaves carry: the adapter's on-chain `AdapterRegistry` id. Default: its content id. */
  adapterId?: Hex;
  /** When given: Datanets are checked against the chain, and with `adapterId` the registered adapter against the files. */
  chain?: ChainContext;
  /** Longest scored sequence (longer texts are windowed); default min(model context, 2048). */
  maxContext?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Loads Datanets, checking files against their manifests (and the chain), and refuses unregistered contributions. */
async function loadDatanets(dirs: readonly string[], chain?: ChainContext): Promise<LoadedDatanet[]> {
  if (dirs.length === 0) throw new AttributionInputError('No Datanet was given.', { hint: 'Pass --datanet DIR[,DIR].' });
  const out: LoadedDatanet[] = [];
  for (const dir of dirs) {
    const d = await loadDatanet({ dir });
    if (chain) {
      const check = await checkDatanetOnChain(chain, d);
      if (check.problems.length > 0) throw check.problems[0].error;
      if (check.pending.length > 0) {
        const who = [...new Set(check.pending.map((c) => c.contributor))].join(', ');
        throw new AttributionInputError(`Datanet ${d.manifest.name} has ${check.pending.length} contribution(s) not registered on-chain (contributors ${who}).`, {
          hint: 'Each contributor registers their own texts with `openlora datanet publish DIR --key-file THEIR_KEY`, or signs them with `openlora datanet sign DIR --key-file THEIR_KEY` for the curator to publish.',
        });
      }
    }
    out.push(d);
  }
  return out;
}

/** Checks the on-chain adapter record against the files: weights hash, base model, Datanets. */
async function checkAdapterOnChain(p: { chain: ChainContext; adapterId: Hex; contentId: Hex; modelHash: Hex; datanets: LoadedDatanet[] }): Promise<void> {
  const { adapterRegistry } = getContracts({ deployment: p.chain.deployment, publicClient: p.chain.publicClient });
  const a = await adapterRegistry.read.adapterOf([p.adapterId]);
  if (/^0x0+$/.test(a.owner)) throw new AttributionAdapterMismatchError(`Adapter ${p.adapterId} is not registered on-chain.`, { hint: 'Register it with AdapterRegistry.register (salt = its content id).' });
  if (a.weightsHash.toLowerCase() !== p.contentId.toLowerCase()) {
    throw new AttributionAdapterMismatchError(`Adapter ${p.adapterId} is registered with weights hash ${a.weightsHash}, but the adapter files hash to ${p.contentId}.`);
  }
  if (a.baseModelHash.toLowerCase() !== p.modelHash.toLowerCase()) throw new AttributionBaseModelMismatchError({ adapterId: p.adapterId, expected: a.baseModelHash, actual: p.modelHash });
  for (const d of p.datanets) {
    const id = d.manifest.chain ? BigInt(d.manifest.chain.datanetId) : undefined;
    if (id === undefined || !a.datanetIds.includes(id)) {
      throw new AttributionAdapterMismatchError(`Datanet ${d.manifest.name} (#${id ?? 'unpublished'}) is not one of adapter ${p.adapterId}'s Datanets (${a.datanetIds.join(', ') || 'none'}).`);
    }
  }
}

/** Computes the attribution report of one adapter over its Datanets. */
export async function computeAttribution(p: ComputeAttributionParameters): Promise<AttributionReport> {
  const log = createLogger({ name: 'attribution' });
  const datanets = await loadDatanets(p.datanets, p.chain);
  const model = await loadModel({ dir: p.model, signal: p.signal });
  try {
    const tokenizer = model.tokenizer;
    if (!tokenizer) throw new AttributionInputError(`Model ${p.model} has no tokenizer.json; contributions are text.`);
    const maxContext = Math.min(p.maxContext ?? 2048, model.config.maxPositionEmbeddings);
    const bos = model.generation.bosTokenId;
    const items = datanets.flatMap((d) => d.contributions.map((c) => {
      const tokens = tokenizer.encode(c.text);
      if (tokens.length !== c.tokenCount) {
        throw new AttributionInputError(`Contribution ${c.file} of ${c.contributor} has ${tokens.length} tokens under this model's tokenizer; the manifest says ${c.tokenCount}.`, {
          hint: 'The Datanet was tokenized for another base model; use the model it was made for.',
        });
      }
      return { datanet: d, contribution: c, ...contributionSequences({ tokens, bosTokenId: bos, maxContext }) };
    }));
    const modelHash = await baseModelHash({ dir: p.model, signal: p.signal });
    const engine = await createScoringEngine({ model, adapter: p.adapter, backend: p.backend, maxSequenceTokens: Math.max(2, ...items.flatMap((i) => i.sequences.map((s) => s.length))), signal: p.signal });
    try {
      const adapterId = p.adapterId ?? engine.adapterId;
      if (p.chain && p.adapterId) await checkAdapterOnChain({ chain: p.chain, adapterId, contentId: engine.adapterId, modelHash, datanets });
      const sequences = items.flatMap((i) => i.sequences);
      const t0 = performance.now();
      const scores = await scoreBaseAndAdapter({ scheduler: engine.scheduler, adapterId: engine.adapterId, sequences, onProgress: p.onProgress, signal: p.signal });
      log.info({ contributions: items.length, sequences: sequences.length, ms: Math.round(performance.now() - t0) }, 'scored');
      let k = 0;
      const contributions: ContributionAttribution[] = items.map(({ datanet, contribution: c, sequences: seqs, scoredTokens }) => {
        let lossBase = 0;
        let lossAdapter = 0;
        for (let j = 0; j < seqs.length; j++, k++) {
          lossBase += scores.base[k];
          lossAdapter += scores.adapter[k];
        }
        const weightNats = Math.max(0, lossBase - lossAdapter);
        return {
          datanet: datanet.manifest.name,
          datanetId: datanet.manifest.chain?.datanetId ?? null,
          index: c.index,
          contributor: c.contributor,
          contentHash: c.contentHash,
          tokenCount: c.tokenCount,
          scoredTokens,
          lossBase,
          lossAdapter,
          weightNats,
          weight: natsToUnits(weightNats).toString(),
        };
      });
      return buildReport({
        adapterId,
        adapterContentId: engine.adapterId,
        baseModelHash: modelHash,
        backend: engine.backend.kind,
        dtype: engine.backend.dtype,
        datanets: datanets.map((d) => ({ name: d.manifest.name, version: d.manifest.version, datanetId: d.manifest.chain?.datanetId ?? null })),
        contributions,
      });
    } finally {
      await engine.close();
    }
  } finally {
    await model.close();
  }
}
