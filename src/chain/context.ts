import type { Account, Chain, PublicClient, Transport, WalletClient } from 'viem';
import type { Deployment } from './deployment.ts';
import { DeploymentChainMismatchError } from './errors.ts';

/** Clients and deployment for on-chain operations (Datanets, attribution, credits, channels). */
export interface ChainContext {
  publicClient: PublicClient;
  /** Needed for writes. */
  walletClient?: WalletClient<Transport, Chain, Account>;
  deployment: Deployment;
}

/** Throws unless the RPC serves the deployment's chain. */
export async function assertDeploymentChain(ctx: ChainContext): Promise<void> {
  const actual = await ctx.publicClient.getChainId();
  if (actual !== ctx.deployment.chainId) throw new DeploymentChainMismatchError(ctx.deployment.chainId, actual);
}
