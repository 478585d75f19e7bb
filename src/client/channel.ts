import { maxUint256, toHex, type Account, type Address, type Chain, type Hex, type PublicClient, type Transport, type WalletClient } from 'viem';
import { paymentChannelsAbi, testTokenAbi } from '../chain/generated/abis.ts';
import { waitForSuccess } from '../chain/waitForSuccess.ts';
import type { ClientDeployment } from './deployment.ts';

/** Clients and deployment every channel operation needs. */
export interface ChannelContext {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  deployment: ClientDeployment;
}

async function send(ctx: ChannelContext, functionName: string, args: readonly unknown[], address: Address, abi: typeof paymentChannelsAbi | typeof testTokenAbi): Promise<Hex> {
  const { request } = await ctx.publicClient.simulateContract({ address, abi, functionName, args, account: ctx.walletClient.account } as never);
  const hash = await ctx.walletClient.writeContract(request as never);
  await waitForSuccess(ctx.publicClient, hash, functionName);
  return hash;
}

export interface OpenChannelParameters {
  node: Address;
  amount: bigint;
  /** Signs vouchers; default the payer itself. */
  authorizer?: Address;
  /** Seconds between asking to withdraw and withdrawing (>= 900). Default 3600. */
  withdrawDelay?: bigint;
  /** Distinguishes channels to the same node. Default a random value. */
  salt?: Hex;
}

/** Approves the token if needed and opens a channel; returns its id. */
export async function openChannel(ctx: ChannelContext, p: OpenChannelParameters): Promise<{ channelId: Hex; hash: Hex }> {
  const payer = ctx.walletClient.account.address;
  const { token, paymentChannels } = ctx.deployment.contracts;
  const allowance = await ctx.publicClient.readContract({ address: token, abi: testTokenAbi, functionName: 'allowance', args: [payer, paymentChannels] });
  if (allowance < p.amount) await send(ctx, 'approve', [paymentChannels, maxUint256], token, testTokenAbi);
  const salt = p.salt ?? toHex(crypto.getRandomValues(new Uint8Array(32)));
  const channelId = await ctx.publicClient.readContract({ address: paymentChannels, abi: paymentChannelsAbi, functionName: 'channelIdFor', args: [payer, p.node, token, salt] });
  const hash = await send(ctx, 'open', [p.node, token, p.authorizer ?? payer, p.amount, p.withdrawDelay ?? 3600n, salt], paymentChannels, paymentChannelsAbi);
  return { channelId, hash };
}

/** Adds funds to a channel (approving first if needed). */
export async function topUpChannel(ctx: ChannelContext, channelId: Hex, amount: bigint): Promise<Hex> {
  const payer = ctx.walletClient.account.address;
  const { token, paymentChannels } = ctx.deployment.contracts;
  const allowance = await ctx.publicClient.readContract({ address: token, abi: testTokenAbi, functionName: 'allowance', args: [payer, paymentChannels] });
  if (allowance < amount) await send(ctx, 'approve', [paymentChannels, maxUint256], token, testTokenAbi);
  return send(ctx, 'topUp', [channelId, amount], paymentChannels, paymentChannelsAbi);
}

/** Starts the withdraw delay; `withdrawChannel` after it pays the balance back. */
export function requestChannelWithdraw(ctx: ChannelContext, channelId: Hex): Promise<Hex> {
  return send(ctx, 'requestWithdraw', [channelId], ctx.deployment.contracts.paymentChannels, paymentChannelsAbi);
}

/** Pays the channel's balance back to the payer (after the delay). */
export function withdrawChannel(ctx: ChannelContext, channelId: Hex): Promise<Hex> {
  return send(ctx, 'withdraw', [channelId], ctx.deployment.contracts.paymentChannels, paymentChannelsAbi);
}

/** A channel's on-chain state and, per lane given, what has been paid out. */
export async function channelStatus(ctx: Pick<ChannelContext, 'publicClient' | 'deployment'>, channelId: Hex, adapterIds: readonly Hex[] = []) {
  const address = ctx.deployment.contracts.paymentChannels;
  const channel = await ctx.publicClient.readContract({ address, abi: paymentChannelsAbi, functionName: 'channelOf', args: [channelId] });
  const lanes = await Promise.all(adapterIds.map(async (adapterId) => ({ adapterId, claimed: await ctx.publicClient.readContract({ address, abi: paymentChannelsAbi, functionName: 'laneClaimed', args: [channelId, adapterId] }) })));
  return { channelId, ...channel, balance: BigInt(channel.balance), lanes };
}
