/**
 * Hardhat's in-process chain (EDR) with the openlora contracts deployed by `devDeploy` (the code
 * path of `openlora chain deploy`), for benchmarks: clients, funded accounts, contract instances.
 */
import hre from 'hardhat';
import type { Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { getContracts } from '../../../src/chain/contracts.ts';
import { devDeploy, type DeployParams } from '../../../src/chain/deploy.ts';
import { waitForSuccess } from '../../../src/chain/waitForSuccess.ts';

/** Hardhat's default mnemonic: local accounts with the keys of its wallet clients. */
const MNEMONIC = 'test test test test test test test test test test test junk';

/** Deploys the contracts on a fresh in-process chain; account 9 is the treasury, 0..8 are funded. */
export async function startBenchChain(params: Partial<DeployParams> = {}) {
  const { viem } = await hre.network.connect();
  const publicClient = await viem.getPublicClient();
  const wallets = await viem.getWalletClients();
  const accounts = wallets.map((_, i) => mnemonicToAccount(MNEMONIC, { addressIndex: i }));
  const deployment = await devDeploy({ walletClient: wallets[0], publicClient, treasury: accounts[9].address, fund: accounts.slice(0, 9).map((a) => a.address), params: { protocolFeeBps: 200, ...params } });
  /** Contracts bound to the wallet of account `i`. */
  const as = (i: number) => getContracts({ deployment, publicClient, walletClient: wallets[i] });
  /** Waits for a transaction; throws when it reverted. */
  const wait = async (hash: Promise<Hex> | Hex) => {
    return waitForSuccess(publicClient, await hash);
  };
  return { publicClient, wallets, accounts, deployment, as, wait };
}

export type BenchChain = Awaited<ReturnType<typeof startBenchChain>>;
