/**
 * Shared setup for contract tests: a fresh in-process Hardhat (EDR) chain with the openlora
 * contracts deployed by `devDeploy` (the same code path as `openlora chain deploy`), funded
 * accounts, and helpers for signing and asserting custom errors.
 */
import hre from 'hardhat';
import { BaseError, ContractFunctionRevertedError, keccak256, parseSignature, serializeSignature, toHex, type Address, type Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { expect } from 'vitest';
import { getContracts } from '../../src/chain/contracts.ts';
import { devDeploy, type DeployParams } from '../../src/chain/deploy.ts';
import { signVoucher, signUsageReceipt, type UsageReceipt, type Voucher } from '../../src/chain/eip712.ts';
import { waitForSuccess } from '../../src/chain/waitForSuccess.ts';

/** Hardhat's default accounts mnemonic: local accounts with the same keys as the wallet clients. */
const HARDHAT_MNEMONIC = 'test test test test test test test test test test test junk';

export const TOKEN = 10n ** 18n;

/**
 * Options for a contract write that viem sends as is: with its gas, fees and chain given it skips
 * `eth_estimateGas` (a second execution of the transaction on EDR), `eth_feeHistory` and
 * `eth_chainId`; a loop of writes takes ~0.6x the time. A write expected to revert is then mined
 * and reverts in its block, with the same custom error; one that ran out of this gas would revert
 * without a name. The sender needs `gas * maxFeePerGas` (0.5 ETH) in its balance.
 */
export const SEND_AS_IS = { gas: 5_000_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 0n, chain: null };

/** Each key is derived once per process (a derivation runs PBKDF2 over the mnemonic: ~80 ms, and every setupChain takes ten). */
const derived = new Map<number, ReturnType<typeof mnemonicToAccount>>();
function hardhatAccount(i: number): ReturnType<typeof mnemonicToAccount> {
  let account = derived.get(i);
  if (!account) derived.set(i, (account = mnemonicToAccount(HARDHAT_MNEMONIC, { addressIndex: i })));
  return account;
}

export async function setupChain(params: Partial<DeployParams> = {}) {
  const connection = await hre.network.connect();
  const { viem } = connection;
  const publicClient = await viem.getPublicClient();
  const wallets = await viem.getWalletClients();
  const testClient = await viem.getTestClient();
  const accounts = wallets.map((_, i) => hardhatAccount(i));
  const [deployer] = wallets;
  const deployment = await devDeploy({
    walletClient: deployer,
    publicClient,
    treasury: accounts[9].address,
    fund: accounts.slice(0, 9).map((a) => a.address),
    params: { minStake: 100n * TOKEN, unbondingDelay: 3600n, protocolFeeBps: 200, slashBps: 5000, proverRewardBps: 1000, ...params },
  });
  const chainId = await publicClient.getChainId();
  const contracts = getContracts({ deployment, publicClient, walletClient: deployer });
  /** Contracts bound to the wallet of account `i`. */
  const as = (i: number) => getContracts({ deployment, publicClient, walletClient: wallets[i] });
  const wait = async (hash: Promise<Hex> | Hex) => waitForSuccess(publicClient, await hash);
  const increaseTime = async (seconds: number) => {
    await testClient.increaseTime({ seconds });
    await testClient.mine({ blocks: 1 });
  };
  const snapshot = async () => {
    const id = await testClient.snapshot();
    return async () => void (await testClient.revert({ id }));
  };
  const signVoucherAs = (i: number, voucher: Voucher) =>
    signVoucher({ account: accounts[i], voucher, chainId, paymentChannels: deployment.contracts.paymentChannels });
  const signReceiptAs = (i: number, receipt: UsageReceipt) =>
    signUsageReceipt({ account: accounts[i], receipt, chainId, nodeRegistry: deployment.contracts.nodeRegistry });
  return { connection, viem, publicClient, testClient, wallets, accounts, deployment, chainId, contracts, as, wait, increaseTime, snapshot, signVoucherAs, signReceiptAs };
}

export type Chain = Awaited<ReturnType<typeof setupChain>>;

/** Asserts that `promise` reverts with the custom error `errorName` (and `args`, when given). */
export async function expectRevert(promise: Promise<unknown>, errorName: string, args?: readonly unknown[]): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error(`expected a revert with ${errorName}, but the call succeeded`);
  const reverted = error instanceof BaseError ? (error.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null) : null;
  if (!reverted?.data) throw new Error(`expected a revert with ${errorName}, got: ${(error as Error).message}`);
  expect(reverted.data.errorName).toBe(errorName);
  if (args) expect(reverted.data.args).toEqual(args);
}

/** The high-s twin of a valid signature: the same signer to plain ecrecover, malleable, refused by the contracts. */
export function highSTwin(signature: Hex): Hex {
  const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const { r, s, yParity } = parseSignature(signature);
  return serializeSignature({ r, s: `0x${(SECP256K1_N - BigInt(s)).toString(16).padStart(64, '0')}`, yParity: yParity === 0 ? 1 : 0 });
}

/** A deterministic bytes32 from a label. */
export const id = (label: string): Hex => keccak256(toHex(label));

/** A usage receipt with defaults, for slashing tests. */
export function receipt(overrides: Partial<UsageReceipt> = {}): UsageReceipt {
  return {
    channelId: id('channel'),
    adapterId: id('adapter'),
    requestId: id('request'),
    seq: 1n,
    promptTokens: 10,
    completionTokens: 20,
    amount: 30n,
    laneCharged: 30n,
    voucherDigest: id('voucher'),
    attributionDigest: id('attribution'),
    timestamp: 1_700_000_000n,
    ...overrides,
  };
}

export type { Address };
