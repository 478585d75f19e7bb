/**
 * Typed viem contract instances for a deployment. ABIs come from the generated module
 * (src/chain/generated/abis.ts, built from the Hardhat artifacts), so reads, writes and events are
 * fully typed.
 */
import { getContract, type Account, type Chain, type GetContractReturnType, type PublicClient, type Transport, type WalletClient } from 'viem';
import type { Deployment } from './deployment.ts';
import {
  adapterRegistryAbi,
  attributionRewardsAbi,
  datanetRegistryAbi,
  nodeRegistryAbi,
  paymentChannelsAbi,
  testTokenAbi,
} from './generated/abis.ts';

export {
  adapterRegistryAbi,
  attributionRewardsAbi,
  datanetRegistryAbi,
  nodeRegistryAbi,
  paymentChannelsAbi,
  testTokenAbi,
};

type Clients<W extends WalletClient<Transport, Chain | undefined, Account | undefined> | undefined> = W extends WalletClient
  ? { public: PublicClient; wallet: W }
  : PublicClient;

export interface GetContractsParameters<W extends WalletClient<Transport, Chain | undefined, Account | undefined> | undefined = undefined> {
  deployment: Pick<Deployment, 'contracts'>;
  publicClient: PublicClient;
  /** Needed for writes; without it the contracts are read-only. */
  walletClient?: W;
}

/** The openlora contracts of a deployment, as typed viem contract instances. */
export function getContracts<W extends WalletClient<Transport, Chain | undefined, Account | undefined> | undefined = undefined>(
  parameters: GetContractsParameters<W>,
) {
  const { deployment, publicClient, walletClient } = parameters;
  const client = (walletClient ? { public: publicClient, wallet: walletClient } : publicClient) as Clients<W>;
  const c = deployment.contracts;
  return {
    token: getContract({ address: c.token, abi: testTokenAbi, client }),
    nodeRegistry: getContract({ address: c.nodeRegistry, abi: nodeRegistryAbi, client }),
    datanetRegistry: getContract({ address: c.datanetRegistry, abi: datanetRegistryAbi, client }),
    adapterRegistry: getContract({ address: c.adapterRegistry, abi: adapterRegistryAbi, client }),
    paymentChannels: getContract({ address: c.paymentChannels, abi: paymentChannelsAbi, client }),
    attributionRewards: getContract({ address: c.attributionRewards, abi: attributionRewardsAbi, client }),
  };
}

/** Return type of `getContracts`. */
export type OpenloraContracts<W extends WalletClient<Transport, Chain | undefined, Account | undefined> | undefined = undefined> = ReturnType<
  typeof getContracts<W>
>;

/** A typed contract instance for one ABI (helper for callers that take one contract). */
export type ContractOf<TAbi extends readonly unknown[]> = GetContractReturnType<TAbi & import('viem').Abi, PublicClient>;
