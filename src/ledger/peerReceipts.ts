/**
 * Store of other nodes' receipts, as gossiped (the watcher's memory, protocol.md "Slashing").
 * Keyed by (node, seq, digest): the same (node, seq) with another digest is an equivocation, and
 * both receipts are kept as the proof. Writes are group-committed once per tick.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { Address, Hex } from 'viem';
import type { UsageReceipt } from '../chain/eip712.ts';
import { LedgerWriteError } from './errors.ts';

/** A gossiped receipt of another node. */
export interface PeerReceipt {
  node: Address;
  digest: Hex;
  receipt: UsageReceipt;
  /** The gossip message exactly as received (receipt, signatures, voucher). */
  message: Uint8Array;
  /** Unix ms. */
  receivedAt: number;
}

/** What `add` found. */
export type AddPeerReceiptResult =
  | { status: 'stored' }
  | { status: 'duplicate' }
  /** Stored too; `conflicting` is a receipt of the same (node, seq) with another digest. */
  | { status: 'equivocation'; conflicting: PeerReceipt };

/** An equivocation found, and what became of its proof. */
export interface EquivocationRecord {
  node: Address;
  seq: bigint;
  digestA: Hex;
  digestB: Hex;
  foundAt: number;
  status: 'pending' | 'submitted' | 'slashed' | 'failed' | 'disabled';
  txHash?: Hex;
}

/** A settlement above what the gossiped receipts of its lane add up to. */
export interface SettlementFlag {
  txHash: Hex;
  channelId: Hex;
  adapterId: Hex;
  node?: Address;
  claimed: bigint;
  gossiped: bigint;
  flaggedAt: number;
}

export interface PeerReceiptStore {
  /** Classifies and queues a receipt (durable at the end of the tick; `flush()` forces it). */
  add(entry: PeerReceipt): AddPeerReceiptResult;
  /** Whether this exact receipt is known. */
  has(node: Address, seq: bigint, digest: Hex): boolean;
  /** Every receipt of (node, seq): one normally, two or more for an equivocation. */
  get(node: Address, seq: bigint): PeerReceipt[];
  /** Sum of `amount` over the lane's gossiped receipts (one per (node, seq)), their count and largest `laneCharged`. */
  laneTotals(channelId: Hex, adapterId: Hex): { amount: bigint; maxLaneCharged: bigint; count: number };
  count(): number;
  recordEquivocation(record: EquivocationRecord): void;
  updateEquivocation(node: Address, seq: bigint, status: EquivocationRecord['status'], txHash?: Hex): void;
  equivocations(): EquivocationRecord[];
  recordSettlementFlag(flag: SettlementFlag): void;
  settlementFlags(): SettlementFlag[];
  /** Writes queued receipts now. */
  flush(): void;
}

interface Row {
  node: string;
  seq: number | bigint;
  digest: string;
  message: Uint8Array;
  received_at: number | bigint;
}

/** Creates the store over an open ledger database (migration 2). `decode` turns a stored message back into its receipt. */
export function createPeerReceiptStore(db: DatabaseSync, decode: (message: Uint8Array) => UsageReceipt): PeerReceiptStore {
  const insert = db.prepare(
    `INSERT OR IGNORE INTO peer_receipts (node, seq, digest, channel_id, adapter_id, amount, lane_charged, timestamp, message, received_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const byKey = db.prepare('SELECT node, seq, digest, message, received_at FROM peer_receipts WHERE node = ? AND seq = ?');
  const lane = db.prepare('SELECT node, seq, amount, lane_charged FROM peer_receipts WHERE channel_id = ? AND adapter_id = ?');
  const countAll = db.prepare('SELECT count(*) AS n FROM peer_receipts');
  const insertEquivocation = db.prepare(
    'INSERT OR IGNORE INTO equivocations (node, seq, digest_a, digest_b, found_at, status, tx_hash) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const setEquivocation = db.prepare('UPDATE equivocations SET status = ?, tx_hash = coalesce(?, tx_hash) WHERE node = ? AND seq = ?');
  const listEquivocations = db.prepare('SELECT * FROM equivocations ORDER BY found_at');
  const insertFlag = db.prepare(
    'INSERT OR IGNORE INTO settlement_flags (tx_hash, channel_id, adapter_id, node, claimed, gossiped, flagged_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const listFlags = db.prepare('SELECT * FROM settlement_flags ORDER BY flagged_at');

  let pending = new Map<string, PeerReceipt[]>();
  let scheduled = false;
  const keyOf = (node: Address, seq: bigint) => `${node.toLowerCase()}:${seq}`;
  const fromRow = (row: Row): PeerReceipt => ({ node: row.node as Address, digest: row.digest as Hex, receipt: decode(row.message), message: row.message, receivedAt: Number(row.received_at) });

  function flush(): void {
    scheduled = false;
    const batch = pending;
    pending = new Map();
    if (batch.size === 0) return;
    try {
      db.exec('BEGIN IMMEDIATE');
      for (const entries of batch.values()) {
        for (const e of entries) {
          const r = e.receipt;
          insert.run(e.node, r.seq, e.digest, r.channelId, r.adapterId, r.amount.toString(), r.laneCharged.toString(), r.timestamp, e.message, e.receivedAt);
        }
      }
      db.exec('COMMIT');
    } catch (cause) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw new LedgerWriteError(`${batch.size} gossiped receipts`, cause);
    }
  }

  function get(node: Address, seq: bigint): PeerReceipt[] {
    const stored = (byKey.all(node, seq) as unknown as Row[]).map(fromRow);
    const queued = pending.get(keyOf(node, seq)) ?? [];
    return [...stored, ...queued.filter((q) => !stored.some((s) => s.digest === q.digest))];
  }

  return {
    add(entry) {
      const known = get(entry.node, entry.receipt.seq);
      if (known.some((k) => k.digest === entry.digest)) return { status: 'duplicate' };
      const key = keyOf(entry.node, entry.receipt.seq);
      const queued = pending.get(key);
      if (queued) queued.push(entry);
      else pending.set(key, [entry]);
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => {
          try {
            flush();
          } catch {
            // LedgerWriteError: these receipts are lost to this watcher only; gossip goes on.
          }
        });
      }
      return known.length > 0 ? { status: 'equivocation', conflicting: known[0] } : { status: 'stored' };
    },
    has(node, seq, digest) {
      return get(node, seq).some((k) => k.digest === digest);
    },
    get,
    laneTotals(channelId, adapterId) {
      flush();
      const seen = new Set<string>();
      let amount = 0n;
      let maxLaneCharged = 0n;
      for (const row of lane.all(channelId, adapterId) as Array<{ node: string; seq: number | bigint; amount: string; lane_charged: string }>) {
        const key = `${row.node}:${row.seq}`;
        if (seen.has(key)) continue;
        seen.add(key);
        amount += BigInt(row.amount);
        const charged = BigInt(row.lane_charged);
        if (charged > maxLaneCharged) maxLaneCharged = charged;
      }
      return { amount, maxLaneCharged, count: seen.size };
    },
    count() {
      let queued = 0;
      for (const entries of pending.values()) queued += entries.length;
      return Number((countAll.get() as { n: number }).n) + queued;
    },
    recordEquivocation(r) {
      insertEquivocation.run(r.node, r.seq, r.digestA, r.digestB, r.foundAt, r.status, r.txHash ?? null);
    },
    updateEquivocation(node, seq, status, txHash) {
      setEquivocation.run(status, txHash ?? null, node, seq);
    },
    equivocations() {
      return (listEquivocations.all() as Array<Record<string, string | number | bigint | null>>).map((r) => ({
        node: r.node as Address,
        seq: BigInt(r.seq as number),
        digestA: r.digest_a as Hex,
        digestB: r.digest_b as Hex,
        foundAt: Number(r.found_at),
        status: r.status as EquivocationRecord['status'],
        txHash: (r.tx_hash ?? undefined) as Hex | undefined,
      }));
    },
    recordSettlementFlag(f) {
      insertFlag.run(f.txHash, f.channelId, f.adapterId, f.node ?? null, f.claimed.toString(), f.gossiped.toString(), f.flaggedAt);
    },
    settlementFlags() {
      return (listFlags.all() as Array<Record<string, string | number | null>>).map((r) => ({
        txHash: r.tx_hash as Hex,
        channelId: r.channel_id as Hex,
        adapterId: r.adapter_id as Hex,
        node: (r.node ?? undefined) as Address | undefined,
        claimed: BigInt(r.claimed as string),
        gossiped: BigInt(r.gossiped as string),
        flaggedAt: Number(r.flagged_at),
      }));
    },
    flush,
  };
}
