import type { AdapterAdmin, AdapterListing } from '../api/context.ts';
import type { AdapterStore } from '../lora/store.ts';
import type { SlotManager } from '../lora/slots.ts';
import type { HostCache } from '../lora/hostCache.ts';
import type { Price } from '../payments/pricing.ts';
import type { AdapterCatalog } from '../serving/inference.ts';
import { zeroHash, type Address, type Hex } from 'viem';
import { onChainAdapterId } from '../chain/adapterId.ts';
import { otherBaseModel } from '../lora/baseModel.ts';
import type { Logger } from '../log.ts';

/** The node's adapters: the disk store, host cache and GPU slots behind one admin and catalog face. */
export interface NodeAdapters extends AdapterAdmin, AdapterCatalog {
  priceOf(adapterId: `0x${string}` | null): Price;
  /** Whether a payment lane is one this node serves (the base model's, or a registered adapter's). */
  servesLane(laneId: Hex): boolean;
}

export interface CreateNodeAdaptersParameters {
  store: AdapterStore;
  hostCache: HostCache;
  slots: SlotManager;
  defaultPrice: Price;
  /** The base model's directory: adapters that name another base model load with a warning. */
  modelDir?: string;
  log?: Logger;
  /**
   * Checks a lane before an adapter is registered (paid mode: it must be settleable on-chain);
   * throws to refuse it. The adapter is then not served.
   */
  checkLane?: (lane: { contentId: Hex; laneId: Hex; owner?: Address }) => Promise<void>;
}

/** Joins the adapter tiers with per-adapter prices. */
export function createNodeAdapters(p: CreateNodeAdaptersParameters): NodeAdapters {
  const prices = new Map<string, Price>();
  const owners = new Map<string, Address>();
  const laneIds = new Set<Hex>([zeroHash]);
  // The payment lane of an adapter is its on-chain AdapterRegistry id when its owner is known.
  const laneOf = (contentId: Hex): Hex => {
    const owner = owners.get(contentId);
    return owner ? onChainAdapterId({ owner, contentId }) : contentId;
  };
  const listing = (id: string): AdapterListing => {
    const entry = p.store.get(id);
    const resident = p.slots.slotOf(entry.id) !== undefined ? 'gpu' : p.hostCache.has(entry.id) ? 'host' : 'disk';
    return { id: entry.id, laneId: laneOf(entry.id), name: entry.name, rank: entry.rank, targets: entry.targets, resident, price: prices.get(entry.id) ?? p.defaultPrice };
  };
  return {
    list: () => p.store.list().map((e) => listing(e.id)),
    async register({ path, name, price, owner }) {
      const known = new Set(p.store.list().map((e) => e.id));
      const entry = await p.store.register({ path, name });
      const other = p.modelDir === undefined ? undefined : otherBaseModel(entry.baseModel, p.modelDir);
      if (other) p.log?.warn({ adapter: entry.name, id: entry.id, adapterBaseModel: other, model: p.modelDir }, 'adapter was made for another base model (base_model_name_or_path); its shapes fit, so it is served');
      try {
        await p.checkLane?.({ contentId: entry.id, laneId: owner ? onChainAdapterId({ owner, contentId: entry.id }) : entry.id, owner });
      } catch (error) {
        if (!known.has(entry.id)) p.store.unregister(entry.id);
        throw error;
      }
      if (price) prices.set(entry.id, price);
      if (owner) owners.set(entry.id, owner);
      laneIds.add(laneOf(entry.id));
      return listing(entry.id);
    },
    async load(idOrName) {
      await p.slots.load(idOrName);
      return listing(idOrName);
    },
    async unload(idOrName) {
      p.slots.unload(idOrName);
      return listing(idOrName);
    },
    resolve(nameOrId) {
      const entry = p.store.resolve(nameOrId);
      return entry && { id: entry.id, name: entry.name, laneId: laneOf(entry.id) };
    },
    names: () => p.store.list().map((e) => e.name),
    // Adapters without an owner (found in the store at start) pay on their content id.
    servesLane: (laneId) => laneIds.has(laneId.toLowerCase() as Hex) || (p.store.resolve(laneId) !== undefined && laneOf(laneId.toLowerCase() as Hex) === laneId.toLowerCase()),
    priceOf: (adapterId) => (adapterId ? prices.get(adapterId) : undefined) ?? p.defaultPrice,
  };
}
