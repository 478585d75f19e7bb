import type { Address, Hex, PublicClient } from 'viem';
import { paymentChannelsAbi } from '../chain/generated/abis.ts';
import { createLogger } from '../log.ts';
import { PaymentChainUnavailableError } from './errors.ts';

/** What the node needs to know of a channel. `payer` is the zero address for unknown channels. */
export interface ChannelState {
  payer: Address;
  node: Address;
  authorizer: Address;
  balance: bigint;
  /** Unix seconds from which the payer may withdraw; 0 when no withdrawal was requested. */
  withdrawReadyAt: bigint;
  /** When it was read (ms). */
  readAt: number;
}

/** Cached reads of `PaymentChannels.channelOf`. */
export interface ChannelReader {
  /** The channel, fresh within the TTL; on RPC failure the last known state (serving continues within credit). */
  get(channelId: Hex): Promise<ChannelState>;
  /** Drops a cached channel (after a settlement, top-up or withdraw event). */
  invalidate(channelId: Hex): void;
}

export interface CreateChannelReaderParameters {
  publicClient: PublicClient;
  paymentChannels: Address;
  /** Cache lifetime, ms. Default 5 s. */
  ttlMs?: number;
}

/** Creates the channel reader. */
export function createChannelReader(p: CreateChannelReaderParameters): ChannelReader {
  const log = createLogger({ name: 'channels' });
  const ttl = p.ttlMs ?? 5_000;
  const cache = new Map<Hex, ChannelState>();
  const inflight = new Map<Hex, Promise<ChannelState>>();
  async function read(channelId: Hex): Promise<ChannelState> {
    const c = await p.publicClient.readContract({ address: p.paymentChannels, abi: paymentChannelsAbi, functionName: 'channelOf', args: [channelId] });
    const state: ChannelState = { payer: c.payer, node: c.node, authorizer: c.authorizer, balance: BigInt(c.balance), withdrawReadyAt: BigInt(c.withdrawReadyAt), readAt: Date.now() };
    cache.set(channelId, state);
    return state;
  }
  return {
    async get(channelId) {
      const cached = cache.get(channelId);
      if (cached && Date.now() - cached.readAt < ttl) return cached;
      let pending = inflight.get(channelId);
      if (!pending) {
        pending = read(channelId).finally(() => inflight.delete(channelId));
        inflight.set(channelId, pending);
      }
      try {
        return await pending;
      } catch (error) {
        if (cached) {
          log.warn({ channelId, err: error }, 'chain read failed; using the last known channel state');
          return cached;
        }
        throw new PaymentChainUnavailableError(channelId, error);
      }
    },
    invalidate(channelId) {
      cache.delete(channelId);
    },
  };
}
