import { Command, InvalidArgumentError } from 'commander';
import { getAddress, isAddress, type Address } from 'viem';
import { createChainClients } from '../../chain/clients.ts';
import { DEFAULT_DEPLOY_PARAMS, deployContracts, devDeploy, type DeployParams } from '../../chain/deploy.ts';
import { writeDeployment } from '../../chain/deployment.ts';
import { loadAccount } from '../../keys/account.ts';
import { resolvePassphrase } from '../../keys/passphrase.ts';
import { createLogger } from '../../log.ts';
import { DEFAULT_DEPLOYMENT_FILE } from '../chainOptions.ts';


const address = (value: string): Address => {
  if (!isAddress(value)) throw new InvalidArgumentError(`"${value}" is not an address.`);
  return getAddress(value);
};
const integer = (value: string): number => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a non-negative integer.`);
  return Number(value);
};
const bigint = (value: string): bigint => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a non-negative integer.`);
  return BigInt(value);
};
const addresses = (value: string, previous: Address[] = []): Address[] => [...previous, ...value.split(',').filter(Boolean).map(address)];

interface DeployOptions {
  rpc: string;
  keyFile: string;
  passphraseFile?: string;
  out: string;
  admin?: Address;
  treasury?: Address;
  token?: Address;
  fund?: Address[];
  protocolFeeBps?: number;
  minStake?: bigint;
  unbondingDelay?: bigint;
  slashBps?: number;
  proverRewardBps?: number;
  json?: boolean;
}

/** `openlora chain deploy`: deploy the contracts on any EVM chain and write the deployment file. */
export function registerChain(program: Command): void {
  const chain = new Command('chain').description('on-chain contracts: deployment');
  chain
    .command('deploy')
    .description('deploy NodeRegistry, DatanetRegistry, AdapterRegistry, AttributionRewards and PaymentChannels (and a test token unless --token) and write the deployment file')
    .requiredOption('--rpc <url>', 'EVM JSON-RPC endpoint')
    .requiredOption('--key-file <file>', 'deployer keystore (see `openlora key new`)')
    .option('--passphrase-file <file>', 'file holding the keystore passphrase (default: $OPENLORA_KEY_PASSPHRASE)')
    .option('--out <file>', 'deployment file to write', DEFAULT_DEPLOYMENT_FILE)
    .option('--admin <address>', 'owner of fee, treasury and parameters (default: the deployer)', address)
    .option('--treasury <address>', 'receives protocol fees and slashes (default: the admin)', address)
    .option('--token <address>', 'ERC-20 for payments and stake (default: deploy the dev/test token)', address)
    .option('--fund <addresses>', 'with the test token: mint 1,000,000 tokens to these (comma-separated, repeatable)', addresses)
    .option('--protocol-fee-bps <n>', `protocol fee, basis points (default ${DEFAULT_DEPLOY_PARAMS.protocolFeeBps}, cap 1000)`, integer)
    .option('--min-stake <wei>', `minimum node stake, token base units (default ${DEFAULT_DEPLOY_PARAMS.minStake})`, bigint)
    .option('--unbonding-delay <seconds>', `node unbonding delay (default ${DEFAULT_DEPLOY_PARAMS.unbondingDelay})`, bigint)
    .option('--slash-bps <n>', `stake slashed per equivocation, basis points (default ${DEFAULT_DEPLOY_PARAMS.slashBps})`, integer)
    .option('--prover-reward-bps <n>', `part of a slash paid to the prover, basis points (default ${DEFAULT_DEPLOY_PARAMS.proverRewardBps}, cap 5000)`, integer)
    .option('--json', 'print the deployment as JSON')
    .action(async (options: DeployOptions) => {
      const log = createLogger({ name: 'chain' });
      const passphrase = await resolvePassphrase({ passphraseFile: options.passphraseFile });
      const account = await loadAccount({ keyFile: options.keyFile, passphrase });
      const { publicClient, walletClient } = await createChainClients({ rpcUrl: options.rpc, account });
      const params: Partial<DeployParams> = {};
      if (options.protocolFeeBps !== undefined) params.protocolFeeBps = options.protocolFeeBps;
      if (options.minStake !== undefined) params.minStake = options.minStake;
      if (options.unbondingDelay !== undefined) params.unbondingDelay = options.unbondingDelay;
      if (options.slashBps !== undefined) params.slashBps = options.slashBps;
      if (options.proverRewardBps !== undefined) params.proverRewardBps = options.proverRewardBps;
      const common = {
        walletClient: walletClient!,
        publicClient,
        admin: options.admin,
        treasury: options.treasury,
        params,
        onDeployed: (name: string, at: Address) => log.info({ contract: name, address: at }, 'deployed'),
      };
      const deployment = options.token ? await deployContracts({ ...common, token: options.token }) : await devDeploy({ ...common, fund: options.fund });
      await writeDeployment(options.out, deployment);
      if (options.json) {
        process.stdout.write(JSON.stringify(deployment, null, 2) + '\n');
      } else {
        const lines = Object.entries(deployment.contracts).map(([name, at]) => `  ${name.padEnd(19)} ${at}`);
        process.stdout.write(`Deployed on chain ${deployment.chainId} from block ${deployment.blockNumber}:\n${lines.join('\n')}\nWrote ${options.out}\n`);
      }
    });
  program.addCommand(chain);
}
