import { LRUCache } from 'lru-cache';
import { isAddressEqual, zeroAddress, type Address, type Hex, type PublicClient } from 'viem';
import { paymentChannelsAbi } from '../chain/generated/abis.ts';
import { createLogger } from '../log.ts';
import { PaymentChainUnavailableError, PaymentLookupsLimitedError } from './errors.ts';
import { DEFAULT_CHANNEL_CACHE_SIZE, DEFAULT_CHANNEL_LOOKUPS_PER_SECOND } from './limits.ts';

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
  /**
   * The channel, fresh within the TTL; on RPC failure the last known state (serving continues
   * within credit). Unknown channels are cached too (payer zero). Reads of channels not in the
   * cache are rate-limited: past the limit it throws {@link PaymentLookupsLimitedError}.
   */
  get(channelId: Hex): Promise<ChannelState>;
  /** Drops a cached channel (after a settlement, top-up or withdraw event). */
  invalidate(channelId: Hex): void;
  /** Channels cached (known and unknown). */
  readonly size: number;
}


export interface CreateChannelReaderParameters {
  publicClient: PublicClient;
  paymentChannels: Address;
  /** Cache lifetime, ms. Default 5 s. */
  ttlMs?: number;
  /** Most channels cached (LRU), known and unknown ones each. Default {@link DEFAULT_CHANNEL_CACHE_SIZE}. */
  maxEntries?: number;
  /** Chain reads per second for channels not cached (a burst of as many is allowed). Default {@link DEFAULT_CHANNEL_LOOKUPS_PER_SECOND}. */
  lookupsPerSecond?: number;
  now?: () => number;
}

/** Creates the channel reader. */
export function createChannelReader(p: CreateChannelReaderParameters): ChannelReader {
  const log = createLogger({ name: 'channels' });
  const ttl = p.ttlMs ?? 5_000;
  const now = p.now ?? Date.now;
  // Known and unknown channels apart: a flood of made-up channel ids never evicts a payer's channel.
  const known = new LRUCache<Hex, ChannelState>({ max: p.maxEntries ?? DEFAULT_CHANNEL_CACHE_SIZE });
  const unknown = new LRUCache<Hex, ChannelState>({ max: p.maxEntries ?? DEFAULT_CHANNEL_CACHE_SIZE });
  const inflight = new Map<Hex, Promise<ChannelState>>();
  const rate = p.lookupsPerSecond ?? DEFAULT_CHANNEL_LOOKUPS_PER_SECOND;
  let tokens = rate;
  let refilledAt = now();

  /** Token bucket over reads of uncached channels: a flood of made-up channel ids costs the RPC at most `rate` calls a second. */
  function takeLookup(channelId: Hex): void {
    const t = now();
    tokens = Math.min(rate, tokens + ((t - refilledAt) / 1000) * rate);
    refilledAt = t;
    if (tokens < 1) throw new PaymentLookupsLimitedError(channelId, Math.ceil(((1 - tokens) / rate) * 1000));
    tokens -= 1;
  }

  async function read(channelId: Hex): Promise<ChannelState> {
    const c = await p.publicClient.readContract({ address: p.paymentChannels, abi: paymentChannelsAbi, functionName: 'channelOf', args: [channelId] });
    const state: ChannelState = { payer: c.payer, node: c.node, authorizer: c.authorizer, balance: BigInt(c.balance), withdrawReadyAt: BigInt(c.withdrawReadyAt), readAt: now() };
    if (isAddressEqual(state.payer, zeroAddress)) unknown.set(channelId, state);
    else {
      unknown.delete(channelId);
      known.set(channelId, state);
    }
    return state;
  }

  return {
    get size() {
      return known.size + unknown.size;
    },
    async get(channelId) {
      const cached = known.get(channelId) ?? unknown.get(channelId);
      if (cached && now() - cached.readAt < ttl) return cached;
      let pending = inflight.get(channelId);
      if (!pending) {
        if (!cached) takeLookup(channelId);
        pending = read(channelId).finally(() => inflight.delete(channelId));
        inflight.set(channelId, pending);
      }
      try {
        return await pending;
      } catch (error) {
        if (cached && cached.payer !== zeroAddress) {
          log.warn({ channelId, err: (error as { shortMessage?: string }).shortMessage ?? (error as Error).message }, 'chain read failed; using the last known channel state');
          return cached;
        }
        throw new PaymentChainUnavailableError(channelId, error);
      }
    },
    invalidate(channelId) {
      // Stale, not forgotten: the next read refreshes it without spending a lookup of an unknown channel.
      const cached = known.get(channelId);
      if (cached) known.set(channelId, { ...cached, readAt: 0 });
      unknown.delete(channelId);
    },
  };
}
