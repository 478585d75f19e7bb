/**
 * The chain flags of every command that reads or writes the contracts: `--rpc URL`,
 * `--deployment FILE`, `--key-file F` (+ `--passphrase-file` or $OPENLORA_KEY_PASSPHRASE), turned
 * into viem clients and the deployment (the same clients `openlora chain deploy` uses). With
 * `--dev DIR` (or $OPENLORA_DEV) the RPC, the deployment and the keystores' passphrase come from
 * what `openlora dev` wrote there.
 */
import { resolve, sep } from 'node:path';
import { Option, type Command } from 'commander';
import { DEFAULT_RPC_URL } from '../constants.ts';
import type { ChainContext } from '../chain/context.ts';
import type { DevDirectory } from '../dev/envFile.ts';
import { BaseError } from '../errors.ts';

/** Default path of the deployment file the node reads. */
export const DEFAULT_DEPLOYMENT_FILE = '.openlora/deployment.json';

/** Parsed chain flags. */
export interface ChainOptions {
  rpc?: string;
  deployment?: string;
  keyFile?: string;
  passphraseFile?: string;
  dev?: string;
}

/** A command needs a key it was not given. */
export class CliKeyRequiredError extends BaseError {
  override name = 'CliKeyRequiredError' as const;
  constructor(what: string, dev?: DevDirectory) {
    super('OPENLORA_CLI_KEY_REQUIRED', `${what} sends a transaction and needs a key.`, {
      hint: dev
        ? `Pass the keystore of the account that signs, e.g. --key-file ${dev.keysDir}/contributor-1.json (the dev accounts' keystores are in ${dev.keysDir}).`
        : 'Pass --key-file FILE and its passphrase (--passphrase-file or OPENLORA_KEY_PASSPHRASE); `openlora key new --out FILE` makes one.',
    });
  }
}

/** Adds `--rpc`, `--deployment`, `--key-file`, `--passphrase-file` and `--dev` to a command. */
export function addChainOptions(command: Command): Command {
  return command
    .addOption(new Option('--rpc <url>', `EVM JSON-RPC endpoint (default: the dev chain with --dev, else ${DEFAULT_RPC_URL})`).env('OPENLORA_RPC_URL'))
    .option('--deployment <file>', `deployment file written by \`openlora chain deploy\` (default: the dev one with --dev, else ${DEFAULT_DEPLOYMENT_FILE})`)
    .addOption(new Option('--key-file <file>', 'keystore of the signing account').env('OPENLORA_KEY_FILE'))
    .option('--passphrase-file <file>', 'file holding the keystore passphrase (default: $OPENLORA_KEY_PASSPHRASE; for the dev keystores of --dev, the dev passphrase)')
    .addOption(new Option('--dev <dir>', 'use the `openlora dev` session in DIR: its chain, deployment, attribution reports and key passphrase').env('OPENLORA_DEV'));
}

/** The `openlora dev` session the flags point at, if any (`--dev DIR` names one that must exist). */
export async function devFromOptions(options: ChainOptions): Promise<DevDirectory | undefined> {
  if (!options.dev) return undefined;
  const { readDevDirectory } = await import('../dev/envFile.ts');
  const { DevNotRunError } = await import('../dev/errors.ts');
  const dev = await readDevDirectory(options.dev);
  if (!dev) throw new DevNotRunError(options.dev);
  return dev;
}

/** Clients and deployment from the flags; with `needsKey` a signing wallet is required. */
export async function chainContextFromOptions(options: ChainOptions, { needsKey, what = 'This command' }: { needsKey: boolean; what?: string }): Promise<ChainContext> {
  const dev = await devFromOptions(options);
  if (needsKey && !options.keyFile) throw new CliKeyRequiredError(what, dev);
  const [{ createChainClients }, { readDeployment }, { loadAccount }, { resolvePassphrase }] = await Promise.all([
    import('../chain/clients.ts'),
    import('../chain/deployment.ts'),
    import('../keys/account.ts'),
    import('../keys/passphrase.ts'),
  ]);
  // The dev keystores open with the dev passphrase, whatever OPENLORA_KEY_PASSPHRASE holds for the user's own keys.
  const devKey = dev && options.keyFile && resolve(options.keyFile).startsWith(dev.keysDir + sep);
  const passphraseFile = options.passphraseFile ?? (devKey ? dev.passphraseFile : undefined);
  const account = options.keyFile ? await loadAccount({ keyFile: options.keyFile, passphrase: await resolvePassphrase({ passphraseFile }) }) : undefined;
  const deployment = await readDeployment(options.deployment ?? dev?.deploymentFile ?? DEFAULT_DEPLOYMENT_FILE);
  const { publicClient, walletClient } = await createChainClients({ rpcUrl: options.rpc ?? dev?.session.rpcUrl ?? DEFAULT_RPC_URL, account });
  return { publicClient, walletClient, deployment };
}
