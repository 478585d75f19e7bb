/**
 * Pull-payment credits of an address (`openlora rewards`, `openlora claim --credits`):
 * `PaymentChannels.creditOf` (node operator share, adapter owner royalty, treasury fee of every
 * settled lane) and `NodeRegistry.creditOf` (prover rewards from slashing), with, per adapter, what
 * settled lanes earned the address as node operator and as adapter owner.
 */
import { getAddress, type Address, type Hex } from 'viem';
import { getContracts, nodeRegistryAbi, paymentChannelsAbi } from '../chain/contracts.ts';
import { splitPayment } from '../chain/split.ts';
import { assertDeploymentChain, type ChainContext } from '../chain/context.ts';
import { waitForSuccess } from '../chain/waitForSuccess.ts';
import { CreditsNothingToWithdrawError, CreditsWalletRequiredError } from './errors.ts';

/** What settled lanes of one adapter earned an address. */
export interface AdapterEarnings {
  adapterId: Hex;
  /** The address owns the adapter now. */
  owner: boolean;
  royaltyBps: number;
  contributorBps: number;
  /** Paid on lanes of this adapter on channels to the address (as node operator). */
  settledAsNode: bigint;
  /** Node operator share of `settledAsNode`. */
  nodeShare: bigint;
  /** Paid on lanes of this adapter on any channel, while the address owned it (all of it if owner). */
  settledAsOwner: bigint;
  /** Owner share of `settledAsOwner` (royalty less the contributors' part). */
  ownerShare: bigint;
}

/** Credits of an address, withdrawable with `withdrawCredit`. */
export interface CreditsOfReturnType {
  address: Address;
  /** `PaymentChannels.creditOf`: node, owner and treasury shares of settlements. */
  paymentChannels: bigint;
  /** `NodeRegistry.creditOf`: prover rewards from slashing. */
  nodeRegistry: bigint;
  /** Per adapter the address serves or owns, earned from `LaneSettled` events since the deployment block. */
  adapters: AdapterEarnings[];
}

/** Parameters of {@link creditsOf}. */
export interface CreditsOfParameters {
  ctx: ChainContext;
  address: Address;
}

/**
 * Reads both credits and, from the events since the deployment block, the earnings per adapter
 * the address serves (channels opened to it) or owns (registered or transferred to it). Shares are
 * computed with the adapter's and the protocol's current split terms: they are exact unless those
 * changed since the settlements; the credits are always exact.
 */
export async function creditsOf({ ctx, address }: CreditsOfParameters): Promise<CreditsOfReturnType> {
  await assertDeploymentChain(ctx);
  const who = getAddress(address);
  const { paymentChannels, nodeRegistry, adapterRegistry } = getContracts({ deployment: ctx.deployment, publicClient: ctx.publicClient });
  const fromBlock = BigInt(ctx.deployment.blockNumber);
  const [pc, nr, feeBps, opened, registered, transferred] = await Promise.all([
    paymentChannels.read.creditOf([who]),
    nodeRegistry.read.creditOf([who]),
    paymentChannels.read.protocolFeeBps(),
    paymentChannels.getEvents.ChannelOpened({ node: who }, { fromBlock }),
    adapterRegistry.getEvents.AdapterRegistered({ owner: who }, { fromBlock }),
    adapterRegistry.getEvents.AdapterTransferred({ newOwner: who }, { fromBlock }),
  ]);
  const myChannels = new Set(opened.map((e) => e.args.channelId!.toLowerCase()));
  const owned = new Set([...registered, ...transferred].map((e) => e.args.adapterId!.toLowerCase() as Hex));
  const settled = await paymentChannels.getEvents.LaneSettled({}, { fromBlock });
  const served = new Set(settled.filter((e) => myChannels.has(e.args.channelId!.toLowerCase())).map((e) => e.args.adapterId!.toLowerCase() as Hex));
  const adapters: AdapterEarnings[] = [];
  for (const adapterId of new Set([...owned, ...served])) {
    const a = await adapterRegistry.read.adapterOf([adapterId]);
    const isOwner = getAddress(a.owner) === who;
    if (!isOwner && !served.has(adapterId)) continue; // owned once, transferred away, never served
    const terms = { protocolFeeBps: Number(feeBps), royaltyBps: a.royaltyBps, contributorBps: a.contributorBps, hasRoot: a.totalWeight > 0n };
    const row: AdapterEarnings = { adapterId, owner: isOwner, royaltyBps: a.royaltyBps, contributorBps: a.contributorBps, settledAsNode: 0n, nodeShare: 0n, settledAsOwner: 0n, ownerShare: 0n };
    for (const e of settled) {
      if (e.args.adapterId!.toLowerCase() !== adapterId) continue;
      const paid = e.args.paid!;
      const split = splitPayment({ paid, ...terms });
      if (myChannels.has(e.args.channelId!.toLowerCase())) {
        row.settledAsNode += paid;
        row.nodeShare += split.node;
      }
      if (isOwner) {
        row.settledAsOwner += paid;
        row.ownerShare += split.owner;
      }
    }
    adapters.push(row);
  }
  return { address: who, paymentChannels: pc, nodeRegistry: nr, adapters };
}

/** One `withdrawCredit` transaction. */
export interface CreditWithdrawal {
  contract: 'PaymentChannels' | 'NodeRegistry';
  amount: bigint;
  txHash: Hex;
}

/** Parameters of {@link withdrawCredits}. */
export interface WithdrawCreditsParameters {
  ctx: ChainContext;
  /** Throw {@link CreditsNothingToWithdrawError} when both credits are zero. Default true. */
  requireSome?: boolean;
}

/** Withdraws the signer's non-zero credits, one `withdrawCredit` transaction per contract. */
export async function withdrawCredits({ ctx, requireSome = true }: WithdrawCreditsParameters): Promise<CreditWithdrawal[]> {
  const wallet = ctx.walletClient;
  if (!wallet) throw new CreditsWalletRequiredError();
  await assertDeploymentChain(ctx);
  const me = wallet.account.address;
  const targets = [
    { contract: 'PaymentChannels' as const, address: ctx.deployment.contracts.paymentChannels, abi: paymentChannelsAbi },
    { contract: 'NodeRegistry' as const, address: ctx.deployment.contracts.nodeRegistry, abi: nodeRegistryAbi },
  ];
  const out: CreditWithdrawal[] = [];
  for (const t of targets) {
    const amount = await ctx.publicClient.readContract({ address: t.address, abi: t.abi, functionName: 'creditOf', args: [me] });
    if (amount === 0n) continue;
    const { request } = await ctx.publicClient.simulateContract({ address: t.address, abi: t.abi, functionName: 'withdrawCredit', account: wallet.account });
    const txHash = await wallet.writeContract(request as never);
    await waitForSuccess(ctx.publicClient, txHash);
    out.push({ contract: t.contract, amount, txHash });
  }
  if (out.length === 0 && requireSome) throw new CreditsNothingToWithdrawError(me);
  return out;
}
