/**
 * Cached chain look-ups for validators: node registration and channel records. Answers are
 * cached (positive ones for long, negative ones briefly, so a node that registers a moment ago is
 * soon accepted) and concurrent look-ups of one key share one RPC call.
 */
import { zeroAddress, type Address, type Hex, type PublicClient } from 'viem';
import { nodeRegistryAbi, paymentChannelsAbi } from '../chain/contracts.ts';
import type { Deployment } from '../chain/deployment.ts';
import { CHANNEL_CACHE_MS, NEGATIVE_CACHE_MS, REGISTRATION_CACHE_MS } from './constants.ts';

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
  /** Forgets a node's cached registration (after a slash, for example). */
  forget(node: Address): void;
}

export interface CreateChainViewParameters {
  publicClient: PublicClient;
  deployment: Pick<Deployment, 'contracts'>;
  /** Override cache lifetimes, ms. */
  registrationCacheMs?: number;
  negativeCacheMs?: number;
  channelCacheMs?: number;
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

/** Creates the cached chain view of a deployment. */
export function createChainView(p: CreateChainViewParameters): ChainView {
  const positive = p.registrationCacheMs ?? REGISTRATION_CACHE_MS;
  const negative = p.negativeCacheMs ?? NEGATIVE_CACHE_MS;
  const channelTtl = p.channelCacheMs ?? CHANNEL_CACHE_MS;
  const active = cached<Address, boolean>(
    (node) => p.publicClient.readContract({ address: p.deployment.contracts.nodeRegistry, abi: nodeRegistryAbi, functionName: 'isActive', args: [node] }),
    (v) => (v ? positive : negative),
  );
  const channels = cached<Hex, ChannelRecord | undefined>(
    async (channelId) => {
      const c = await p.publicClient.readContract({ address: p.deployment.contracts.paymentChannels, abi: paymentChannelsAbi, functionName: 'channelOf', args: [channelId] });
      return c.payer === zeroAddress ? undefined : { payer: c.payer, node: c.node, authorizer: c.authorizer };
    },
    (v) => (v ? channelTtl : negative),
  );
  return {
    isActive: (node) => active.get(node),
    channel: (channelId) => channels.get(channelId),
    forget: (node) => active.delete(node),
  };
}
