import { Command } from 'commander';
import { CliUsageError } from '../errors.ts';

const ID = /^[A-Za-z0-9._-]+$/;

/**
 * `openlora api-key new --id NAME [--config FILE]`: a random API key for open mode. The secret is
 * printed once; the node keeps only `{ id, sha256 }` in `payments.apiKeys` (added to FILE when
 * given, which is created if absent).
 */
export function registerApiKey(program: Command): void {
  const apiKey = new Command('api-key').description('open mode: API keys, stored by the node as { id, sha256 } in payments.apiKeys');
  apiKey
    .command('new')
    .description('make a random API key; print the secret (once) and its payments.apiKeys entry, or add the entry to --config FILE')
    .requiredOption('--id <name>', 'key id, shown as the payer of its receipts (letters, digits, . _ -)')
    .option('--config <file>', 'JSON config file to add the entry to (created if absent)')
    .option('--json', 'print { id, secret, entry } as JSON')
    .action(async (o: { id: string; config?: string; json?: boolean }) => {
      if (!ID.test(o.id)) throw new CliUsageError(`--id "${o.id}" is not a key id.`, 'openlora api-key new', 'Use letters, digits, ".", "_" and "-", e.g. `openlora api-key new --id alice`.');
      const { createHash, randomBytes } = await import('node:crypto');
      const secret = `olk_${randomBytes(24).toString('base64url')}`;
      const entry = { id: o.id, sha256: createHash('sha256').update(secret).digest('hex') };
      if (o.config) await addToConfig(o.config, entry);
      if (o.json) {
        process.stdout.write(JSON.stringify({ id: o.id, secret, entry }) + '\n');
        return;
      }
      const where = o.config ? `Added ${JSON.stringify(entry)} to payments.apiKeys in ${o.config}.` : `Add this entry to payments.apiKeys in the node's config file:\n  ${JSON.stringify(entry)}`;
      process.stdout.write(`${secret}\n${where}\nGive the secret to the client (Authorization: Bearer <secret>); it is not stored anywhere.\n`);
    });
  program.addCommand(apiKey);
}

async function addToConfig(file: string, entry: { id: string; sha256: string }): Promise<void> {
  const { readFile, writeFile } = await import('node:fs/promises');
  const { ConfigFileError } = await import('../../config/errors.ts');
  let config: { payments?: { apiKeys?: Array<{ id: string }> } } = {};
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new ConfigFileError(file, 'not readable', error);
  });
  if (text !== undefined) {
    try {
      config = JSON.parse(text) as typeof config;
    } catch (cause) {
      throw new ConfigFileError(file, `not valid JSON (${(cause as Error).message})`, cause);
    }
  }
  const keys = (config.payments ??= {}).apiKeys ??= [];
  if (keys.some((k) => k.id === entry.id)) throw new CliUsageError(`${file} already has an API key with id "${entry.id}".`, 'openlora api-key new', `Pick another id, e.g. \`openlora api-key new --id ${entry.id}-2 --config ${file}\`.`);
  keys.push(entry);
  await writeFile(file, JSON.stringify(config, null, 2) + '\n');
}
