/**
 * Cached chain look-ups for validators: node registration and channel records. Answers are
 * cached (positive ones for long, negative ones briefly, so a node that registers a moment ago is
 * soon accepted), concurrent look-ups of one key share one RPC call, and new look-ups are
 * rate-limited: at most `lookupsPerS` start per second, those over the budget wait in a bounded
 * queue and start together when it refills, and beyond the queue they fail at once. A signer the
 * registry index (NodeRegistered events) has never seen costs no look-up at all.
 */
import { isAddressEqual, zeroAddress, type Address, type Hex, type PublicClient } from 'viem';
import { nodeRegistryAbi, paymentChannelsAbi } from '../chain/contracts.ts';
import type { Deployment } from '../chain/deployment.ts';
import { CHANNEL_CACHE_MS, DEFAULT_CHAIN_LOOKUPS_PER_S, MAX_QUEUED_CHAIN_LOOKUPS, NEGATIVE_CACHE_MS, REGISTRATION_CACHE_MS } from './constants.ts';
import { ChainLookupBudgetError } from './errors.ts';
import { createTokenBucket } from './limits.ts';

/** A payment channel as validators need it. */
export interface ChannelRecord {
  payer: Address;
  node: Address;
  authorizer: Address;
}

/** Cached reads of NodeRegistry and PaymentChannels. */
export interface ChainView {
  /** Whether `node` is registered with at least the minimum stake. */
  isActive(node: Address): Promise<boolean>;
  /** The channel, or undefined when the chain does not know it (yet). */
  channel(channelId: Hex): Promise<ChannelRecord | undefined>;
  /**
   * The same, asked about an open-mode receipt's channel: an API-key channel id is never an
   * on-chain one, so "no such channel" is cached as long as a channel is.
   */
  openModeChannel(channelId: Hex): Promise<ChannelRecord | undefined>;
  /** Forgets a node's cached registration (after a slash, for example). */
  forget(node: Address): void;
  /** RPC look-ups started so far. */
  readonly lookups: number;
}

export interface CreateChainViewParameters {
  publicClient: PublicClient;
  deployment: Pick<Deployment, 'contracts'>;
  /** Override cache lifetimes, ms. */
  registrationCacheMs?: number;
  negativeCacheMs?: number;
  channelCacheMs?: number;
  /** New look-ups per second at most. Default 20. */
  lookupsPerS?: number;
  /** Look-ups waiting for the budget at most. Default 256. */
  maxQueued?: number;
  /** Whether the registry index knows `node` (undefined while it is not synced): false answers "not active" with no look-up. */
  isRegistered?: (node: Address) => boolean | undefined;
}

interface Entry<T> {
  value: Promise<T>;
  expires: number;
}

function cached<K, T>(load: (key: K) => Promise<T>, ttl: (value: T) => number, maxEntries = 10_000) {
  const entries = new Map<K, Entry<T>>();
  return {
    get(key: K): Promise<T> {
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && hit.expires > now) return hit.value;
      const value = load(key);
      const entry: Entry<T> = { value, expires: now + NEGATIVE_CACHE_MS };
      entries.set(key, entry);
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value as K);
      value.then(
        (v) => void (entry.expires = Date.now() + ttl(v)),
        () => void entries.delete(key),
      );
      return value;
    },
    delete(key: K) {
      entries.delete(key);
    },
  };
}

/** Runs look-ups within a budget: `rate` start per second; `maxQueued` wait and start together when it refills. */
function createLookupBudget(rate: number, maxQueued: number) {
  const bucket = createTokenBucket(rate, rate);
  const queue: Array<() => void> = [];
  let timer: NodeJS.Timeout | undefined;
  let started = 0;
  const drain = () => {
    timer = undefined;
    while (queue.length > 0 && bucket.take()) queue.shift()?.();
    if (queue.length > 0) timer = setTimeout(drain, Math.ceil(1000 / rate)).unref();
  };
  return {
    get started() {
      return started;
    },
    run<T>(what: string, fn: () => Promise<T>): Promise<T> {
      const go = () => {
        started += 1;
        return fn();
      };
      if (queue.length === 0 && bucket.take()) return go();
      if (queue.length >= maxQueued) return Promise.reject(new ChainLookupBudgetError(what, maxQueued));
      return new Promise<T>((resolve, reject) => {
        queue.push(() => void go().then(resolve, reject));
        timer ??= setTimeout(drain, Math.ceil(1000 / rate)).unref();
      });
    },
  };
}

/** Creates the cached chain view of a deployment. */
export function createChainView(p: CreateChainViewParameters): ChainView {
  const positive = p.registrationCacheMs ?? REGISTRATION_CACHE_MS;
  const negative = p.negativeCacheMs ?? NEGATIVE_CACHE_MS;
  const channelTtl = p.channelCacheMs ?? CHANNEL_CACHE_MS;
  const budget = createLookupBudget(p.lookupsPerS ?? DEFAULT_CHAIN_LOOKUPS_PER_S, p.maxQueued ?? MAX_QUEUED_CHAIN_LOOKUPS);
  const active = cached<Address, boolean>(
    (node) => budget.run(`isActive(${node})`, () => p.publicClient.readContract({ address: p.deployment.contracts.nodeRegistry, abi: nodeRegistryAbi, functionName: 'isActive', args: [node] })),
    (v) => (v ? positive : negative),
  );
  const readChannel = (channelId: Hex) =>
    budget.run(`channelOf(${channelId})`, async () => {
      const c = await p.publicClient.readContract({ address: p.deployment.contracts.paymentChannels, abi: paymentChannelsAbi, functionName: 'channelOf', args: [channelId] });
      return isAddressEqual(c.payer, zeroAddress) ? undefined : { payer: c.payer, node: c.node, authorizer: c.authorizer };
    });
  const channels = cached<Hex, ChannelRecord | undefined>(readChannel, (v) => (v ? channelTtl : negative));
  const openChannels = cached<Hex, ChannelRecord | undefined>(readChannel, () => channelTtl);
  return {
    isActive: async (node) => (p.isRegistered?.(node) === false ? false : active.get(node)),
    channel: (channelId) => channels.get(channelId),
    openModeChannel: (channelId) => openChannels.get(channelId),
    forget: (node) => active.delete(node),
    get lookups() {
      return budget.started;
    },
  };
}
