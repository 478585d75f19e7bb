/**
 * Deploys the openlora contracts on any EVM chain with a viem wallet client and public client,
 * wires them, and returns the deployment (chainId, addresses, first block).
 */
import {
  getAddress,
  getContractAddress,
  isAddressEqual,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem';
import { AbortedError } from '../errors.ts';
import type { Deployment } from './deployment.ts';
import { DeployError } from './errors.ts';
import { waitForSuccess } from './waitForSuccess.ts';
import {
  adapterRegistryAbi,
  adapterRegistryBytecode,
  attributionRewardsAbi,
  attributionRewardsBytecode,
  datanetRegistryAbi,
  datanetRegistryBytecode,
  nodeRegistryAbi,
  nodeRegistryBytecode,
  paymentChannelsAbi,
  paymentChannelsBytecode,
  testTokenAbi,
  testTokenBytecode,
} from './generated/abis.ts';

/** Default contract parameters (see docs/contracts.md). */
export const DEFAULT_DEPLOY_PARAMS = {
  /** Protocol fee of each payment, basis points (cap 1000). */
  protocolFeeBps: 200,
  /** Minimum node stake, token base units (100 tokens at 18 decimals). */
  minStake: 100n * 10n ** 18n,
  /** Unbonding delay, seconds: longer than the gossip window in which equivocations are found. */
  unbondingDelay: 7n * 24n * 3600n,
  /** Part of the stake slashed per equivocation, basis points. */
  slashBps: 5_000,
  /** Part of the slashed amount paid to the prover, basis points (cap 5000: self-slashing always costs half). */
  proverRewardBps: 1_000,
} as const;

export type DeployParams = { -readonly [K in keyof typeof DEFAULT_DEPLOY_PARAMS]: (typeof DEFAULT_DEPLOY_PARAMS)[K] extends bigint ? bigint : number };

type DeployWalletClient = WalletClient<Transport, Chain | undefined, Account>;

export interface DeployContractsParameters {
  walletClient: DeployWalletClient;
  publicClient: PublicClient;
  /** Owner of NodeRegistry and PaymentChannels (fee, treasury, parameters). Default: the deployer. */
  admin?: Address;
  /** Receives protocol fees and slashes. Default: the admin. */
  treasury?: Address;
  /** Payment and stake token. Default: deploy the dev/test token (owned by the deployer). */
  token?: Address;
  params?: Partial<DeployParams>;
  signal?: AbortSignal;
  /** Called after each contract is deployed. */
  onDeployed?: (name: string, address: Address) => void;
}

/** Deploys all contracts and returns the deployment. */
export async function deployContracts(parameters: DeployContractsParameters): Promise<Deployment> {
  const { walletClient, publicClient, signal, onDeployed } = parameters;
  const account = walletClient.account;
  const deployer = getAddress(account.address);
  const admin = parameters.admin ?? deployer;
  const treasury = parameters.treasury ?? admin;
  const params = { ...DEFAULT_DEPLOY_PARAMS, ...parameters.params };
  const chainId = await publicClient.getChainId();
  const walletChainId = await walletClient.getChainId();
  if (walletChainId !== chainId) throw new DeployError(`Wallet client is on chain ${walletChainId} but the public client is on chain ${chainId}.`);
  const startBlock = await publicClient.getBlockNumber();
  let nonce = await publicClient.getTransactionCount({ address: deployer, blockTag: 'pending' });

  const deploy = async (name: string, abi: Abi, bytecode: Hex, args: readonly unknown[]): Promise<Address> => {
    if (signal?.aborted) throw new AbortedError(`Deploying ${name}`, signal.reason);
    const expected = getContractAddress({ from: deployer, nonce: BigInt(nonce) });
    const hash = await walletClient.deployContract({ abi, bytecode, args, account, chain: walletClient.chain ?? null, nonce });
    nonce += 1;
    const receipt = await waitForSuccess(publicClient, hash, `Deploying ${name}`);
    if (!receipt.contractAddress) throw new DeployError(`Deploying ${name} failed in transaction ${hash}.`, { meta: { hash } });
    if (!isAddressEqual(receipt.contractAddress, expected)) {
      throw new DeployError(`${name} was deployed at ${receipt.contractAddress}, not at the expected ${expected}.`, {
        hint: 'Another transaction from the deployer key ran during the deployment; deploy again with an idle key.',
      });
    }
    const address = getAddress(receipt.contractAddress);
    onDeployed?.(name, address);
    return address;
  };

  const testToken = parameters.token === undefined;
  const token = parameters.token ?? (await deploy('TestToken', testTokenAbi, testTokenBytecode, ['openlora Test Token', 'OLT', deployer]));
  const nodeRegistry = await deploy('NodeRegistry', nodeRegistryAbi, nodeRegistryBytecode, [
    token,
    admin,
    treasury,
    params.minStake,
    params.unbondingDelay,
    params.slashBps,
    params.proverRewardBps,
  ]);
  const datanetRegistry = await deploy('DatanetRegistry', datanetRegistryAbi, datanetRegistryBytecode, []);
  // AdapterRegistry, AttributionRewards and PaymentChannels name each other: each is told the address
  // the next one will get (the deployer's next nonces) and stores it as an immutable.
  const attributionRewardsAt = getContractAddress({ from: deployer, nonce: BigInt(nonce + 1) });
  const paymentChannelsAt = getContractAddress({ from: deployer, nonce: BigInt(nonce + 2) });
  const adapterRegistry = await deploy('AdapterRegistry', adapterRegistryAbi, adapterRegistryBytecode, [datanetRegistry, attributionRewardsAt]);
  const attributionRewards = await deploy('AttributionRewards', attributionRewardsAbi, attributionRewardsBytecode, [adapterRegistry, token, paymentChannelsAt]);
  const paymentChannels = await deploy('PaymentChannels', paymentChannelsAbi, paymentChannelsBytecode, [
    token,
    adapterRegistry,
    attributionRewards,
    admin,
    treasury,
    params.protocolFeeBps,
  ]);

  return {
    version: 1,
    chainId,
    blockNumber: Number(startBlock),
    deployer,
    contracts: { token, nodeRegistry, datanetRegistry, adapterRegistry, paymentChannels, attributionRewards },
    testToken,
    deployedAt: new Date().toISOString(),
  };
}

export interface DevDeployParameters extends DeployContractsParameters {
  /** Accounts that receive test tokens. */
  fund?: readonly Address[];
  /** Tokens minted to each funded account, base units. Default 1,000,000 tokens (18 decimals). */
  amount?: bigint;
}

/** `deployContracts` with the test token, minting `amount` to each `fund` account (for `openlora dev`). */
export async function devDeploy(parameters: DevDeployParameters): Promise<Deployment> {
  if (parameters.token !== undefined) throw new DeployError('devDeploy deploys its own test token; do not pass `token`.');
  const deployment = await deployContracts(parameters);
  const { walletClient, publicClient } = parameters;
  const amount = parameters.amount ?? 1_000_000n * 10n ** 18n;
  for (const to of parameters.fund ?? []) {
    const hash = await walletClient.writeContract({
      address: deployment.contracts.token,
      abi: testTokenAbi,
      functionName: 'mint',
      args: [to, amount],
      account: walletClient.account,
      chain: walletClient.chain ?? null,
    });
    await waitForSuccess(publicClient, hash, `Minting test tokens to ${to}`);
  }
  return deployment;
}
