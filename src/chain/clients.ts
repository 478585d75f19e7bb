/**
 * viem clients for an RPC URL: reads the chain id first, so any EVM chain works without a
 * built-in chain definition.
 */
import { createPublicClient, createWalletClient, defineChain, http, type Account, type Chain, type PublicClient, type Transport, type WalletClient } from 'viem';
import { BaseError } from '../errors.ts';

/** The RPC endpoint could not be reached or did not answer `eth_chainId`. */
export class RpcUnreachableError extends BaseError {
  override name = 'RpcUnreachableError' as const;
  constructor(rpcUrl: string, cause: unknown) {
    super('OPENLORA_CHAIN_RPC_UNREACHABLE', `The chain RPC ${rpcUrl} did not answer eth_chainId.`, {
      cause,
      details: (cause as Error)?.message,
      hint: 'Check --rpc; for a local chain start `npx hardhat node --hostname 127.0.0.1`.',
    });
  }
}

export interface CreateChainClientsParameters {
  rpcUrl: string;
  /** Signs transactions; without it only the public client is useful. */
  account?: Account;
  /** Per-request timeout, ms. Default 10,000. */
  timeoutMs?: number;
  /** Chain id when already known (e.g. from a deployment file): no RPC call is made, so this works while the RPC is down. */
  chainId?: number;
}

export interface ChainClients {
  chain: Chain;
  publicClient: PublicClient;
  walletClient?: WalletClient<Transport, Chain, Account>;
}

/** Public (and wallet, with `account`) clients for `rpcUrl`, on the chain it serves. */
export async function createChainClients({ rpcUrl, account, timeoutMs = 10_000, chainId }: CreateChainClientsParameters): Promise<ChainClients> {
  const transport = http(rpcUrl, { timeout: timeoutMs, retryCount: 1 });
  let id: number;
  try {
    id = chainId ?? (await createPublicClient({ transport }).getChainId());
  } catch (cause) {
    throw new RpcUnreachableError(rpcUrl, cause);
  }
  const chain = defineChain({ id, name: `chain-${id}`, nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } });
  const publicClient = createPublicClient({ chain, transport }) as PublicClient;
  const walletClient = account ? createWalletClient({ chain, transport, account }) : undefined;
  return { chain, publicClient, walletClient };
}
