import { LRUCache } from 'lru-cache';
import type { Hex } from 'viem';
import type { LaneStore } from '../ledger/lanes.ts';
import type { ReceiptLedger } from '../ledger/receipts.ts';
import { DEFAULT_ACCOUNT_CACHE_SIZE } from './limits.ts';

/** The node's view of one lane of a verified channel. */
export interface Lane {
  adapterId: Hex;
  /** Durable charged total; never below `acknowledged` (the payer signed for at least that much). */
  charged: bigint;
  /** Ceilings of requests being served. */
  reserved: bigint;
  /** The largest voucher held. */
  acknowledged: bigint;
  /** What the chain has paid on the lane. */
  settled: bigint;
}

/** A verified channel's lanes and the requests in flight on it. */
export interface ChannelAccount {
  channelId: Hex;
  lanes: Map<Hex, Lane>;
  /** Requests reserved and not yet charged or released (an account is never evicted while any is). */
  inflight: number;
}

/** Served but not acknowledged (and reserved), summed over the channel's lanes: what per-channel credit bounds. */
export function channelUnpaid(a: ChannelAccount): bigint {
  let total = 0n;
  for (const l of a.lanes.values()) total += l.charged + l.reserved - l.acknowledged;
  return total;
}

/** Charged or reserved and not paid out, summed over the channel's lanes: what its balance must cover. */
export function channelExposure(a: ChannelAccount): bigint {
  let total = 0n;
  for (const l of a.lanes.values()) total += l.charged + l.reserved - l.settled;
  return total;
}


/** Channel accounts of verified payers, loaded from the ledger on first use and kept in a bounded LRU. */
export interface AccountBook {
  /** The account (loaded from the ledger when not cached). Only call it for a channel whose voucher verified. */
  get(channelId: Hex): ChannelAccount;
  /** The account if it is in memory; never loads. */
  peek(channelId: Hex): ChannelAccount | undefined;
  /** The lane of an account (created empty). */
  lane(account: ChannelAccount, adapterId: Hex): Lane;
  /** Call when a request of the account ends (charged or released): it may be evicted again. */
  done(account: ChannelAccount): void;
  readonly size: number;
}

/** Creates the account book over the ledger's receipts and vouchers. */
export function createAccountBook(p: { ledger: ReceiptLedger; lanes: LaneStore; maxEntries?: number }): AccountBook {
  // Accounts with requests in flight leave the LRU for `pinned` until those end: their reservations stay counted.
  const pinned = new Map<Hex, ChannelAccount>();
  const cache = new LRUCache<Hex, ChannelAccount>({
    max: p.maxEntries ?? DEFAULT_ACCOUNT_CACHE_SIZE,
    dispose: (account, channelId, reason) => {
      if (account.inflight > 0 && reason === 'evict') pinned.set(channelId, account);
    },
  });
  function load(channelId: Hex): ChannelAccount {
    const lanes = new Map<Hex, Lane>();
    for (const { adapterId, charged } of p.ledger.channelLanes(channelId)) lanes.set(adapterId, { adapterId, charged, reserved: 0n, acknowledged: 0n, settled: 0n });
    for (const v of p.lanes.vouchersOf(channelId)) {
      const l = lanes.get(v.adapterId) ?? { adapterId: v.adapterId, charged: 0n, reserved: 0n, acknowledged: 0n, settled: 0n };
      l.acknowledged = v.amount;
      l.settled = v.settled;
      if (l.charged < l.acknowledged) l.charged = l.acknowledged; // the ledger lost receipts the payer has acknowledged (older backup)
      lanes.set(v.adapterId, l);
    }
    return { channelId, lanes, inflight: 0 };
  }
  return {
    get(channelId) {
      let account = pinned.get(channelId) ?? cache.get(channelId);
      if (!account) cache.set(channelId, (account = load(channelId)));
      return account;
    },
    peek: (channelId) => pinned.get(channelId) ?? cache.peek(channelId),
    lane(account, adapterId) {
      let l = account.lanes.get(adapterId);
      if (!l) account.lanes.set(adapterId, (l = { adapterId, charged: 0n, reserved: 0n, acknowledged: 0n, settled: 0n }));
      return l;
    },
    done(account) {
      account.inflight--;
      if (account.inflight === 0 && pinned.get(account.channelId) === account) pinned.delete(account.channelId);
    },
    get size() {
      return cache.size + pinned.size;
    },
  };
}
