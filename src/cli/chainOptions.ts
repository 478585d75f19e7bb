/**
 * The chain flags of every command that reads or writes the contracts: `--rpc URL`,
 * `--deployment FILE`, `--key-file F` (+ `--passphrase-file` or $OPENLORA_KEY_PASSPHRASE), turned
 * into viem clients and the deployment (the same clients `openlora chain deploy` uses).
 */
import { Option, type Command } from 'commander';
import { createChainClients } from '../chain/clients.ts';
import { readDeployment } from '../chain/deployment.ts';
import { DEFAULT_RPC_URL } from '../constants.ts';
import type { ChainContext } from '../datanet/chain.ts';
import { BaseError } from '../errors.ts';
import { loadAccount } from '../keys/account.ts';
import { resolvePassphrase } from '../keys/passphrase.ts';
import { DEFAULT_DEPLOYMENT_FILE } from './commands/chain.ts';

/** Parsed chain flags. */
export interface ChainOptions {
  rpc: string;
  deployment: string;
  keyFile?: string;
  passphraseFile?: string;
}

/** A command needs a key it was not given. */
export class CliKeyRequiredError extends BaseError {
  override name = 'CliKeyRequiredError' as const;
  constructor(what: string) {
    super('OPENLORA_CLI_KEY_REQUIRED', `${what} sends a transaction and needs a key.`, { hint: 'Pass --key-file FILE (see `openlora key new`) and its passphrase.' });
  }
}

/** Adds `--rpc`, `--deployment`, `--key-file`, `--passphrase-file` to a command. */
export function addChainOptions(command: Command): Command {
  return command
    .addOption(new Option('--rpc <url>', 'EVM JSON-RPC endpoint').default(DEFAULT_RPC_URL).env('OPENLORA_RPC_URL'))
    .option('--deployment <file>', 'deployment file written by `openlora chain deploy`', DEFAULT_DEPLOYMENT_FILE)
    .option('--key-file <file>', 'keystore of the signing account')
    .option('--passphrase-file <file>', 'file holding the keystore passphrase (default: $OPENLORA_KEY_PASSPHRASE)');
}

/** Clients and deployment from the flags; with `needsKey` a signing wallet is required. */
export async function chainContextFromOptions(options: ChainOptions, { needsKey, what = 'This command' }: { needsKey: boolean; what?: string }): Promise<ChainContext> {
  if (needsKey && !options.keyFile) throw new CliKeyRequiredError(what);
  const account = options.keyFile ? await loadAccount({ keyFile: options.keyFile, passphrase: await resolvePassphrase({ passphraseFile: options.passphraseFile }) }) : undefined;
  const deployment = await readDeployment(options.deployment);
  const { publicClient, walletClient } = await createChainClients({ rpcUrl: options.rpc, account });
  return { publicClient, walletClient, deployment };
}
