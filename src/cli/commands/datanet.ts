import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { publishDatanet, signContributions } from '../../datanet/chain.ts';
import { addContribution, createDatanetDir } from '../../datanet/local.ts';
import { loadModel } from '../../model/load.ts';
import { AttributionInputError } from '../../attribution/errors.ts';
import { addChainOptions, chainContextFromOptions, type ChainOptions } from '../chainOptions.ts';

const print = (json: boolean | undefined, value: unknown, text: string) => process.stdout.write(json ? JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n' : text + '\n');

/** `openlora datanet create|add|publish`: Datanets as files, registered on-chain by hash. */
export function registerDatanet(program: Command): void {
  const datanet = new Command('datanet').description('Datanets: contribution texts with a manifest, registered on-chain by content hash');
  datanet
    .command('create <dir>')
    .description('create an empty Datanet directory (datanet.json + contributions/)')
    .requiredOption('--name <name>', 'Datanet name')
    .option('--dataset-version <version>', 'Datanet version (manifest "version")', '1.0.0')
    .option('--json', 'print JSON')
    .action(async (dir: string, o: { name: string; datasetVersion: string; json?: boolean }) => {
      const manifest = await createDatanetDir({ dir, name: o.name, version: o.datasetVersion });
      print(o.json, manifest, `Created Datanet ${manifest.name}@${manifest.version} in ${dir}`);
    });
  datanet
    .command('add <dir>')
    .description('add a contribution text (copied into the Datanet, hashed, counted in tokens of --model)')
    .requiredOption('--file <file>', 'UTF-8 text file')
    .requiredOption('--contributor <address>', 'contributor address (registers it with their own key, or signs it for the curator: `datanet sign`)')
    .requiredOption('--model <dir>', 'base model whose tokenizer counts the tokens')
    .option('--license <license>', 'license of the text (SPDX id)', 'CC-BY-4.0')
    .option('--json', 'print JSON')
    .action(async (dir: string, o: { file: string; contributor: string; model: string; license: string; json?: boolean }) => {
      const model = await loadModel({ dir: o.model });
      try {
        const tokenizer = model.tokenizer;
        if (!tokenizer) throw new AttributionInputError(`Model ${o.model} has no tokenizer.json.`);
        const c = await addContribution({ dir, bytes: await readFile(o.file), contributor: o.contributor, license: o.license, countTokens: (t) => tokenizer.encode(t).length });
        print(o.json, c, `Added ${c.file}: ${c.tokenCount} tokens by ${c.contributor} (${c.contentHash})`);
      } finally {
        await model.close();
      }
    });
  addChainOptions(
    datanet
      .command('publish <dir>')
      .description('register the Datanet (curator, once), the signer\'s own contributions and every contribution signed by its contributor, then check every file against the chain')
      .option('--uri <uri>', 'where the Datanet files can be fetched (stored on-chain)')
      .option('--json', 'print JSON'),
  ).action(async (dir: string, o: ChainOptions & { uri?: string; json?: boolean }) => {
    const ctx = await chainContextFromOptions(o, { needsKey: true, what: '`datanet publish`' });
    const r = await publishDatanet({ dir, ctx, uri: o.uri });
    const pending = r.pending.map((c) => `  pending: ${c.file} (contributor ${c.contributor} must publish or sign it with their key)`);
    print(o.json, { ...r, pending: r.pending.map((c) => ({ file: c.file, contributor: c.contributor, contentHash: c.contentHash })) },
      [`Datanet #${r.datanetId}${r.created ? ' created' : ''}; registered ${r.submitted.length} contribution(s) now; all local files match the chain.`, ...pending].join('\n'));
  });
  addChainOptions(
    datanet
      .command('sign <dir>')
      .description("sign the key's own pending contributions of a published Datanet into its manifest, for the curator to register (`datanet publish`)")
      .option('--json', 'print JSON'),
  ).action(async (dir: string, o: ChainOptions & { json?: boolean }) => {
    const ctx = await chainContextFromOptions(o, { needsKey: true, what: '`datanet sign`' });
    const r = await signContributions({ dir, ctx });
    print(o.json, { datanetId: r.datanetId, signed: r.signed.map((c) => ({ file: c.file, contributor: c.contributor, contentHash: c.contentHash })) },
      `Signed ${r.signed.length} contribution(s) to Datanet #${r.datanetId}; the curator registers them with \`openlora datanet publish ${dir}\`.`);
  });
  program.addCommand(datanet);
}
