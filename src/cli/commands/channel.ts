import type { Command } from 'commander';
import { formatUnits, isAddress, isAddressEqual, isHex, parseUnits, zeroAddress, type Address, type Hex } from 'viem';
import { channelStatus, openChannel, requestChannelWithdraw, topUpChannel, withdrawChannel, type ChannelContext } from '../../client/channel.ts';
import { BaseError } from '../../errors.ts';
import { addChainOptions, chainContextFromOptions, CliKeyRequiredError, type ChainOptions } from '../chainOptions.ts';

/** Decimals of the payment token (the protocol's ERC-20, 18 like ether). */
const TOKEN_DECIMALS = 18;

/** A channel id, address or amount flag that does not parse. */
export class CliChannelInputError extends BaseError {
  override name = 'CliChannelInputError' as const;
  constructor(message: string, hint: string) {
    super('OPENLORA_CLI_CHANNEL_INPUT', message, { hint });
  }
}

/** The channel id names no channel on this deployment. */
export class CliChannelUnknownError extends BaseError {
  override name = 'CliChannelUnknownError' as const;
  constructor(channelId: Hex, paymentChannels: Address) {
    super('OPENLORA_CLI_CHANNEL_UNKNOWN', `No channel ${channelId} on PaymentChannels ${paymentChannels}.`, {
      hint: 'Check the id printed by `openlora channel open` and that --rpc/--deployment point at the chain it was opened on.',
    });
  }
}

/** Only the payer may top up a withdrawing channel or withdraw. */
export class CliChannelNotPayerError extends BaseError {
  override name = 'CliChannelNotPayerError' as const;
  constructor(channelId: Hex, payer: Address, signer: Address) {
    super('OPENLORA_CLI_CHANNEL_NOT_PAYER', `Channel ${channelId} belongs to payer ${payer}, and the key is ${signer}.`, { hint: 'Pass the payer\'s keystore with --key-file.' });
  }
}

interface AmountOptions {
  amount?: string;
  amountWei?: string;
}

/** `--amount` (tokens, up to 18 decimals) or `--amount-wei` (integer), exactly one, > 0. */
export function parseAmount(o: AmountOptions): bigint {
  if ((o.amount === undefined) === (o.amountWei === undefined)) throw new CliChannelInputError('Give exactly one of --amount and --amount-wei.', 'Example: --amount 10.5 (tokens) or --amount-wei 10500000000000000000.');
  let wei: bigint;
  if (o.amount !== undefined) {
    if (!/^\d+(\.\d{1,18})?$/.test(o.amount)) throw new CliChannelInputError(`--amount "${o.amount}" is not a token amount.`, 'Use a decimal number of tokens with at most 18 decimals, e.g. 10.5.');
    wei = parseUnits(o.amount, TOKEN_DECIMALS);
  } else {
    if (!/^\d+$/.test(o.amountWei!)) throw new CliChannelInputError(`--amount-wei "${o.amountWei}" is not a whole number.`, 'Use an integer number of wei (10^-18 tokens).');
    wei = BigInt(o.amountWei!);
  }
  if (wei === 0n) throw new CliChannelInputError('The amount is zero.', 'Give a positive amount.');
  return wei;
}

function parseChannelId(value: string): Hex {
  if (!isHex(value) || value.length !== 66) throw new CliChannelInputError(`"${value}" is not a channel id.`, 'A channel id is 0x and 64 hex digits, as printed by `openlora channel open`.');
  return value.toLowerCase() as Hex;
}

function parseAddress(flag: string, value: string): Address {
  if (!isAddress(value, { strict: false })) throw new CliChannelInputError(`${flag} "${value}" is not an address.`, 'Give a 0x-prefixed 20-byte address.');
  return value as Address;
}

const repeat = (value: string, previous: string[] = []) => [...previous, value];
const tokens = (wei: bigint) => formatUnits(wei, TOKEN_DECIMALS);
const isoTime = (seconds: bigint) => new Date(Number(seconds) * 1000).toISOString();

/** Clients with the payer's signing wallet (`--key-file` is required). */
async function payerContext(o: ChainOptions, what: string): Promise<ChannelContext> {
  const ctx = await chainContextFromOptions(o, { needsKey: true, what });
  if (!ctx.walletClient) throw new CliKeyRequiredError(what);
  return { ...ctx, walletClient: ctx.walletClient };
}

type Status = Awaited<ReturnType<typeof channelStatus>>;

/** The channel's state, failing clearly when the id names no channel. */
async function existingChannel(ctx: Pick<ChannelContext, 'publicClient' | 'deployment'>, channelId: Hex, adapterIds: readonly Hex[] = []): Promise<Status> {
  const status = await channelStatus(ctx, channelId, adapterIds);
  if (status.payer === zeroAddress) throw new CliChannelUnknownError(channelId, ctx.deployment.contracts.paymentChannels);
  return status;
}

/** `none`, `pending` (delay running) or `ready` (withdrawable now), by the latest block's time. */
async function withdrawState(ctx: Pick<ChannelContext, 'publicClient'>, status: Status): Promise<{ state: 'none' | 'pending' | 'ready'; chainTime: bigint }> {
  const { timestamp } = await ctx.publicClient.getBlock({ blockTag: 'latest' });
  const state = status.withdrawReadyAt === 0n ? 'none' : timestamp >= status.withdrawReadyAt ? 'ready' : 'pending';
  return { state, chainTime: timestamp };
}

function statusJson(status: Status, state: string) {
  return {
    channelId: status.channelId,
    payer: status.payer,
    node: status.node,
    authorizer: status.authorizer,
    balance: status.balance.toString(),
    withdrawDelay: Number(status.withdrawDelay),
    withdraw: state,
    withdrawReadyAt: status.withdrawReadyAt === 0n ? null : Number(status.withdrawReadyAt),
    lanes: status.lanes.map((l) => ({ adapterId: l.adapterId, claimed: l.claimed.toString() })),
  };
}

function print(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write(json ? JSON.stringify(value) + '\n' : text);
}

/** `openlora channel open|topup|withdraw|status`: a payer's payment channels to a node. */
export function registerChannel(program: Command): void {
  const channel = program.command('channel').description('open, top up, withdraw from and inspect payment channels (as the payer)');

  addChainOptions(channel
    .command('open')
    .description('approve the token if needed and open a channel to a node; prints the channel id')
    .requiredOption('--node <address>', 'the node paid through the channel (its key address)')
    .option('--amount <tokens>', 'deposit in tokens, e.g. 10.5')
    .option('--amount-wei <wei>', 'deposit in wei')
    .option('--authorizer <address>', 'key that signs vouchers (default: the payer)')
    .option('--withdraw-delay <seconds>', 'seconds between asking to withdraw and withdrawing (>= 900)', '3600')
    .option('--salt <hex>', 'bytes32 that tells channels to the same node apart (default: random)')
    .option('--json', 'print JSON'))
    .action(async (o: ChainOptions & AmountOptions & { node: string; authorizer?: string; withdrawDelay: string; salt?: string; json?: boolean }) => {
      const amount = parseAmount(o);
      const node = parseAddress('--node', o.node);
      const authorizer = o.authorizer === undefined ? undefined : parseAddress('--authorizer', o.authorizer);
      if (!/^\d+$/.test(o.withdrawDelay)) throw new CliChannelInputError(`--withdraw-delay "${o.withdrawDelay}" is not a whole number of seconds.`, 'Example: --withdraw-delay 3600.');
      if (o.salt !== undefined && (!isHex(o.salt) || o.salt.length !== 66)) throw new CliChannelInputError(`--salt "${o.salt}" is not a bytes32.`, 'Give 0x and 64 hex digits, or leave it out for a random salt.');
      const ctx = await payerContext(o, '`channel open`');
      const { channelId, hash } = await openChannel(ctx, { node, amount, authorizer, withdrawDelay: BigInt(o.withdrawDelay), salt: o.salt as Hex | undefined });
      print(o.json, { channelId, txHash: hash, payer: ctx.walletClient.account.address, node, amount: amount.toString() }, `Opened channel ${channelId} to ${node} with ${tokens(amount)} tokens (tx ${hash})\n`);
    });

  addChainOptions(channel
    .command('topup')
    .description('add funds to a channel (approving the token if needed)')
    .argument('<channel-id>', 'the channel')
    .option('--amount <tokens>', 'tokens to add, e.g. 10.5')
    .option('--amount-wei <wei>', 'wei to add')
    .option('--json', 'print JSON'))
    .action(async (id: string, o: ChainOptions & AmountOptions & { json?: boolean }) => {
      const channelId = parseChannelId(id);
      const amount = parseAmount(o);
      const ctx = await payerContext(o, '`channel topup`');
      await existingChannel(ctx, channelId);
      const hash = await topUpChannel(ctx, channelId, amount);
      const after = await existingChannel(ctx, channelId);
      print(o.json, { channelId, txHash: hash, amount: amount.toString(), balance: after.balance.toString() }, `Added ${tokens(amount)} tokens to ${channelId}; balance ${tokens(after.balance)} (tx ${hash})\n`);
    });

  addChainOptions(channel
    .command('withdraw')
    .description('ask to withdraw (starts the delay), or withdraw the balance once the delay has passed')
    .argument('<channel-id>', 'the channel')
    .option('--json', 'print JSON'))
    .action(async (id: string, o: ChainOptions & { json?: boolean }) => {
      const channelId = parseChannelId(id);
      const ctx = await payerContext(o, '`channel withdraw`');
      const status = await existingChannel(ctx, channelId);
      const signer = ctx.walletClient.account.address;
      if (!isAddressEqual(status.payer, signer)) throw new CliChannelNotPayerError(channelId, status.payer, signer);
      const { state } = await withdrawState(ctx, status);
      if (state === 'none') {
        const hash = await requestChannelWithdraw(ctx, channelId);
        const after = await existingChannel(ctx, channelId);
        print(o.json, { channelId, action: 'requested', txHash: hash, readyAt: Number(after.withdrawReadyAt) },
          `Withdrawal requested for ${channelId} (tx ${hash}); run \`openlora channel withdraw\` again after ${isoTime(after.withdrawReadyAt)}\n`);
      } else if (state === 'pending') {
        print(o.json, { channelId, action: 'pending', readyAt: Number(status.withdrawReadyAt) }, `Withdrawal of ${channelId} is not ready until ${isoTime(status.withdrawReadyAt)} (chain time); run this again then\n`);
      } else {
        const hash = await withdrawChannel(ctx, channelId);
        print(o.json, { channelId, action: 'withdrawn', txHash: hash, amount: status.balance.toString() }, `Withdrew ${tokens(status.balance)} tokens from ${channelId} (tx ${hash})\n`);
      }
    });

  addChainOptions(channel
    .command('status')
    .description('payer, node, authorizer, balance and withdraw state of a channel; with --adapter, each lane\'s claimed total')
    .argument('<channel-id>', 'the channel')
    .option('--adapter <id>', 'on-chain adapter id (bytes32) of a lane to show (repeatable)', repeat)
    .option('--json', 'print JSON'))
    .action(async (id: string, o: ChainOptions & { adapter?: string[]; json?: boolean }) => {
      const channelId = parseChannelId(id);
      const adapterIds = (o.adapter ?? []).map((a) => {
        if (!isHex(a) || a.length !== 66) throw new CliChannelInputError(`--adapter "${a}" is not an adapter id.`, 'An on-chain adapter id is 0x and 64 hex digits (zero bytes32 for the base model).');
        return a as Hex;
      });
      const ctx = await chainContextFromOptions(o, { needsKey: false });
      const status = await existingChannel(ctx, channelId, adapterIds);
      const { state } = await withdrawState(ctx, status);
      const withdraw = state === 'none' ? 'none' : `${state} (ready at ${isoTime(status.withdrawReadyAt)})`;
      const lines = [
        `channel     ${channelId}`,
        `payer       ${status.payer}`,
        `node        ${status.node}`,
        `authorizer  ${status.authorizer}`,
        `balance     ${tokens(status.balance)} tokens`,
        `withdraw    ${withdraw}, delay ${status.withdrawDelay} s`,
        ...status.lanes.map((l) => `lane        ${l.adapterId} claimed ${tokens(l.claimed)} tokens`),
      ];
      print(o.json, statusJson(status, state), lines.join('\n') + '\n');
    });
}
