/**
 * What a node holds of receipt batches (docs/p2p.md "Batches"): its own batches (served to whoever
 * asks), the headers and receipts of the nodes it follows, the equivocations found among them and
 * the settlements flagged. Receipts are keyed by (node, seq, digest): the same (node, seq) with
 * another digest is an equivocation, and both are kept as the proof. Storage is bounded: a quota
 * per node and in all (oldest batches go first) and a retention age.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { Address, Hex } from 'viem';
import type { ReceiptBatch } from '../chain/receiptBatch.ts';
import type { UsageReceipt } from '../chain/eip712.ts';
import { LedgerWriteError } from './errors.ts';

/** How a stored receipt counts: open mode (API-key channel), backed by a verified voucher, or refused by a rule. */
export type PeerReceiptStatus = 'open' | 'backed' | 'refused';
const STATUS: readonly PeerReceiptStatus[] = ['open', 'backed', 'refused'];

/** A receipt of another node, from one of its batches. */
export interface PeerReceipt {
  node: Address;
  digest: Hex;
  receipt: UsageReceipt;
  /** The batch entry as served (receipt, voucher, voucher signature). */
  message: Uint8Array;
  batchSeq: bigint;
  /** Position in the batch (leaf index of the Merkle tree). */
  index: number;
  status: PeerReceiptStatus;
  /** Unix ms. */
  receivedAt: number;
}

/** A batch header as stored. */
export interface StoredHeader {
  node: Address;
  batch: ReceiptBatch;
  /** The gossiped header message (node, batch, signature). */
  message: Uint8Array;
  /** Whether its receipts are stored (own batches always are). */
  fetched: boolean;
  receivedAt: number;
}

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

/** Two headers signed by one node for one batchSeq. */
export interface BatchEquivocationRecord {
  node: Address;
  batchSeq: bigint;
  rootA: Hex;
  rootB: Hex;
  foundAt: number;
  status: EquivocationRecord['status'];
  txHash?: Hex;
}

/** A settlement above what the voucher-backed receipts of its lane add up to. */
export interface SettlementFlag {
  txHash: Hex;
  channelId: Hex;
  adapterId: Hex;
  node?: Address;
  claimed: bigint;
  gossiped: bigint;
  flaggedAt: number;
}

/** Usage of one adapter lane of a node, from the receipts held of it. */
export interface AdapterUsage {
  adapterId: Hex;
  status: PeerReceiptStatus;
  receipts: number;
  promptTokens: number;
  completionTokens: number;
  amount: bigint;
}

/** One receipt of a batch being stored. */
export interface NewPeerReceipt {
  digest: Hex;
  receipt: UsageReceipt;
  message: Uint8Array;
  status: PeerReceiptStatus;
}

export interface PeerReceiptStoreOptions {
  /** Receipts kept per node. */
  perNode: number;
  /** Receipts kept in all. */
  total: number;
  /** Batches older than this are deleted, ms. */
  retentionMs: number;
}

export interface PeerReceiptStore {
  /** Stores a header unless this exact one is known; answers the other headers of its (node, batchSeq). */
  addHeader(node: Address, batch: ReceiptBatch, message: Uint8Array, receivedAt: number, body?: Uint8Array): { status: 'stored' | 'duplicate'; others: StoredHeader[] };
  headers(node: Address, batchSeq: bigint): StoredHeader[];
  /** The latest `limit` headers of a node, newest first. */
  recentHeaders(node: Address, limit: number): StoredHeader[];
  /** The body of a batch (own, or rebuilt from the stored receipts), entries in batch order. */
  body(node: Address, batchSeq: bigint, root: Hex): Uint8Array[] | undefined;
  /** Leaf digests of a fetched batch, in batch order. */
  leaves(node: Address, batchSeq: bigint, root: Hex): Hex[] | undefined;
  /**
   * Stores the receipts of a fetched batch (its header must be stored); answers the stored receipts
   * each new one contradicts (same node and seq, other digest).
   */
  addBatchReceipts(node: Address, batch: ReceiptBatch, receipts: readonly NewPeerReceipt[], receivedAt: number): Array<{ stored: PeerReceipt; conflicting: PeerReceipt }>;
  /** Whether this exact receipt is known. */
  has(node: Address, seq: bigint, digest: Hex): boolean;
  /** Every receipt of (node, seq): one normally, two or more for an equivocation. */
  get(node: Address, seq: bigint): PeerReceipt[];
  /**
   * Sum of `amount` over the lane's voucher-backed receipts (one per (node, seq)), their count, the
   * largest `laneCharged`, and whether the lane's first receipt (`laneCharged == amount`) is among them.
   */
  laneTotals(channelId: Hex, adapterId: Hex): { amount: bigint; maxLaneCharged: bigint; count: number; fromStart: boolean };
  /** Receipts stored. */
  count(): number;
  /** What the held receipts of `node` say it served, per adapter lane and status. */
  usage(node: Address): AdapterUsage[];
  /** Deletes batches past the retention age and over the quotas; answers the receipts deleted. */
  prune(now?: number): number;
  recordEquivocation(record: EquivocationRecord): void;
  updateEquivocation(node: Address, seq: bigint, status: EquivocationRecord['status'], txHash?: Hex): void;
  equivocations(): EquivocationRecord[];
  recordBatchEquivocation(record: BatchEquivocationRecord): void;
  updateBatchEquivocation(node: Address, batchSeq: bigint, status: EquivocationRecord['status'], txHash?: Hex): void;
  batchEquivocations(): BatchEquivocationRecord[];
  recordSettlementFlag(flag: SettlementFlag): void;
  /** Whether this settlement (of this lane, in this transaction) was flagged before. */
  hasSettlementFlag(txHash: Hex, channelId: Hex, adapterId: Hex): boolean;
  settlementFlags(): SettlementFlag[];
}

interface ReceiptRow {
  node: string;
  seq: number | bigint;
  digest: string;
  message: Uint8Array;
  batch_seq: number | bigint;
  idx: number | bigint;
  status: number | bigint;
  received_at: number | bigint;
}

interface HeaderRow {
  node: string;
  batch_seq: number | bigint;
  root: string;
  count: number | bigint;
  timestamp: number | bigint;
  header: Uint8Array;
  fetched: number | bigint;
  received_at: number | bigint;
}

/** Creates the store over its database (`openPeerDatabase`). `decode` turns a stored entry back into its receipt. */
export function createPeerReceiptStore(db: DatabaseSync, decode: (entry: Uint8Array) => UsageReceipt, options: PeerReceiptStoreOptions): PeerReceiptStore {
  const q = {
    insertHeader: db.prepare('INSERT OR IGNORE INTO batches (node, batch_seq, root, count, timestamp, header, body, fetched, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    headers: db.prepare('SELECT node, batch_seq, root, count, timestamp, header, fetched, received_at FROM batches WHERE node = ? AND batch_seq = ?'),
    recent: db.prepare('SELECT node, batch_seq, root, count, timestamp, header, fetched, received_at FROM batches WHERE node = ? ORDER BY batch_seq DESC LIMIT ?'),
    ownBody: db.prepare('SELECT body, count, fetched FROM batches WHERE node = ? AND batch_seq = ? AND root = ?'),
    markFetched: db.prepare('UPDATE batches SET fetched = 1 WHERE node = ? AND batch_seq = ? AND root = ?'),
    insert: db.prepare(
      `INSERT OR IGNORE INTO peer_receipts (node, seq, digest, channel_id, adapter_id, amount, lane_charged, timestamp, message, received_at, batch_seq, idx, status, prompt_tokens, completion_tokens)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    byKey: db.prepare('SELECT node, seq, digest, message, batch_seq, idx, status, received_at FROM peer_receipts WHERE node = ? AND seq = ?'),
    // Receipts of one batch whose (node, seq) is also held with another digest: one query per batch.
    clashes: db.prepare(
      `SELECT a.idx AS idx, b.digest AS other FROM peer_receipts a
       JOIN peer_receipts b ON b.node = a.node AND b.seq = a.seq AND b.digest != a.digest
       WHERE a.node = ? AND a.batch_seq = ?`,
    ),
    byBatch: db.prepare('SELECT digest, message, idx FROM peer_receipts WHERE node = ? AND batch_seq = ? ORDER BY idx'),
    lane: db.prepare('SELECT node, seq, amount, lane_charged FROM peer_receipts WHERE channel_id = ? AND adapter_id = ? AND status = 1'),
    countAll: db.prepare('SELECT count(*) AS n FROM peer_receipts'),
    usage: db.prepare(
      `SELECT adapter_id, status, count(*) AS receipts, sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion, group_concat(amount) AS amounts
       FROM peer_receipts WHERE node = ? GROUP BY adapter_id, status`,
    ),
    countByNode: db.prepare('SELECT node, count(*) AS n FROM peer_receipts GROUP BY node'),
    oldestOf: db.prepare('SELECT batch_seq FROM batches WHERE node = ? AND fetched = 1 ORDER BY batch_seq LIMIT 1'),
    oldest: db.prepare('SELECT node, batch_seq FROM batches WHERE fetched = 1 AND body IS NULL ORDER BY received_at LIMIT 1'),
    deleteReceipts: db.prepare('DELETE FROM peer_receipts WHERE node = ? AND batch_seq = ?'),
    deleteBatch: db.prepare('DELETE FROM batches WHERE node = ? AND batch_seq = ?'),
    expired: db.prepare('SELECT node, batch_seq FROM batches WHERE received_at < ? LIMIT 1000'),
    insertEquivocation: db.prepare('INSERT OR IGNORE INTO equivocations (node, seq, digest_a, digest_b, found_at, status, tx_hash) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    setEquivocation: db.prepare('UPDATE equivocations SET status = ?, tx_hash = coalesce(?, tx_hash) WHERE node = ? AND seq = ?'),
    listEquivocations: db.prepare('SELECT * FROM equivocations ORDER BY found_at'),
    insertBatchEquivocation: db.prepare('INSERT OR IGNORE INTO batch_equivocations (node, batch_seq, root_a, root_b, found_at, status, tx_hash) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    setBatchEquivocation: db.prepare('UPDATE batch_equivocations SET status = ?, tx_hash = coalesce(?, tx_hash) WHERE node = ? AND batch_seq = ?'),
    listBatchEquivocations: db.prepare('SELECT * FROM batch_equivocations ORDER BY found_at'),
    insertFlag: db.prepare('INSERT OR IGNORE INTO settlement_flags (tx_hash, channel_id, adapter_id, node, claimed, gossiped, flagged_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    listFlags: db.prepare('SELECT * FROM settlement_flags ORDER BY flagged_at'),
    hasFlag: db.prepare('SELECT 1 FROM settlement_flags WHERE tx_hash = ? AND channel_id = ? AND adapter_id = ?'),
  };
  const perNode = new Map<string, number>();
  for (const r of q.countByNode.all() as Array<{ node: string; n: number }>) perNode.set(r.node, Number(r.n));
  let total = [...perNode.values()].reduce((a, b) => a + b, 0);

  const fromRow = (row: ReceiptRow): PeerReceipt => ({
    node: row.node as Address,
    digest: row.digest as Hex,
    receipt: decode(row.message),
    message: row.message,
    batchSeq: BigInt(row.batch_seq),
    index: Number(row.idx),
    status: STATUS[Number(row.status)],
    receivedAt: Number(row.received_at),
  });
  const headerOf = (row: HeaderRow): StoredHeader => ({
    node: row.node as Address,
    batch: { batchSeq: BigInt(row.batch_seq), root: row.root as Hex, count: Number(row.count), timestamp: BigInt(row.timestamp) },
    message: row.header,
    fetched: Number(row.fetched) === 1,
    receivedAt: Number(row.received_at),
  });
  const headers = (node: Address, batchSeq: bigint) => (q.headers.all(node, batchSeq) as unknown as HeaderRow[]).map(headerOf);

  function transaction<T>(what: string, fn: () => T): T {
    try {
      db.exec('BEGIN IMMEDIATE');
      const out = fn();
      db.exec('COMMIT');
      return out;
    } catch (cause) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw new LedgerWriteError(what, cause);
    }
  }

  function dropBatch(node: string, batchSeq: number | bigint): number {
    const removed = Number(q.deleteReceipts.run(node, batchSeq).changes);
    q.deleteBatch.run(node, batchSeq);
    perNode.set(node, (perNode.get(node) ?? 0) - removed);
    total -= removed;
    return removed;
  }

  return {
    addHeader(node, batch, message, receivedAt, body) {
      const others = headers(node, batch.batchSeq);
      if (others.some((h) => h.batch.root === batch.root)) return { status: 'duplicate', others };
      transaction(`header of batch ${batch.batchSeq} of ${node}`, () => q.insertHeader.run(node, batch.batchSeq, batch.root, batch.count, batch.timestamp, message, body ?? null, body ? 1 : 0, receivedAt));
      return { status: 'stored', others };
    },
    headers,
    recentHeaders: (node, limit) => (q.recent.all(node, limit) as unknown as HeaderRow[]).map(headerOf),
    body(node, batchSeq, root) {
      const b = q.ownBody.get(node, batchSeq, root) as { body: Uint8Array | null; count: number; fetched: number } | undefined;
      if (!b || Number(b.fetched) !== 1) return undefined;
      const count = Number(b.count);
      if (b.body) {
        const size = b.body.length / count;
        return Array.from({ length: count }, (_, i) => b.body!.subarray(i * size, (i + 1) * size));
      }
      const rows = q.byBatch.all(node, batchSeq) as Array<{ message: Uint8Array }>;
      return rows.length === count ? rows.map((r) => r.message) : undefined;
    },
    leaves(node, batchSeq, root) {
      const header = headers(node, batchSeq).find((h) => h.batch.root === root);
      if (!header?.fetched) return undefined;
      const rows = q.byBatch.all(node, batchSeq) as Array<{ digest: string; idx: number }>;
      return rows.length === header.batch.count ? rows.map((r) => r.digest as Hex) : undefined;
    },
    addBatchReceipts(node, batch, receipts, receivedAt) {
      const found: Array<{ stored: PeerReceipt; conflicting: PeerReceipt }> = [];
      let added = 0;
      const inserted = new Set<number>();
      transaction(`${receipts.length} receipts of batch ${batch.batchSeq} of ${node}`, () => {
        receipts.forEach((e, index) => {
          const r = e.receipt;
          const changes = Number(
            q.insert.run(node, r.seq, e.digest, r.channelId, r.adapterId, r.amount.toString(), r.laneCharged.toString(), r.timestamp, e.message, receivedAt, batch.batchSeq, index, STATUS.indexOf(e.status), r.promptTokens, r.completionTokens).changes,
          );
          added += changes;
          if (changes > 0) inserted.add(index);
        });
        q.markFetched.run(node, batch.batchSeq, batch.root);
        for (const { idx, other } of q.clashes.all(node, batch.batchSeq) as Array<{ idx: number; other: string }>) {
          const index = Number(idx);
          const e = receipts[index];
          // Only receipts this batch added: an older clash was reported when it was stored.
          if (!e || !inserted.has(index) || e.digest === other) continue;
          const conflicting = (q.byKey.all(node, e.receipt.seq) as unknown as ReceiptRow[]).map(fromRow).find((k) => k.digest === other);
          if (conflicting) found.push({ stored: { node, digest: e.digest, receipt: e.receipt, message: e.message, batchSeq: batch.batchSeq, index, status: e.status, receivedAt }, conflicting });
        }
      });
      perNode.set(node, (perNode.get(node) ?? 0) + added);
      total += added;
      return found;
    },
    has: (node, seq, digest) => (q.byKey.all(node, seq) as unknown as ReceiptRow[]).some((r) => r.digest === digest),
    get: (node, seq) => (q.byKey.all(node, seq) as unknown as ReceiptRow[]).map(fromRow),
    laneTotals(channelId, adapterId) {
      const seen = new Set<string>();
      let amount = 0n;
      let maxLaneCharged = 0n;
      let fromStart = false;
      for (const row of q.lane.all(channelId, adapterId) as Array<{ node: string; seq: number | bigint; amount: string; lane_charged: string }>) {
        const key = `${row.node}:${row.seq}`;
        if (seen.has(key)) continue;
        seen.add(key);
        amount += BigInt(row.amount);
        const charged = BigInt(row.lane_charged);
        if (charged > maxLaneCharged) maxLaneCharged = charged;
        if (charged === BigInt(row.amount)) fromStart = true;
      }
      return { amount, maxLaneCharged, count: seen.size, fromStart };
    },
    count: () => Number((q.countAll.get() as { n: number }).n),
    usage: (node) =>
      (q.usage.all(node) as Array<{ adapter_id: string; status: number; receipts: number; prompt: number; completion: number; amounts: string }>).map((r) => ({
        adapterId: r.adapter_id as Hex,
        status: STATUS[Number(r.status)],
        receipts: Number(r.receipts),
        promptTokens: Number(r.prompt),
        completionTokens: Number(r.completion),
        // Amounts are uint256 (stored as text): summed exactly here, not by SQLite's floating-point sum.
        amount: r.amounts.split(',').reduce((a, x) => a + BigInt(x), 0n),
      })),
    prune(now = Date.now()) {
      let removed = 0;
      transaction('pruning peer receipts', () => {
        for (;;) {
          const old = q.expired.all(now - options.retentionMs) as Array<{ node: string; batch_seq: number }>;
          if (old.length === 0) break;
          for (const b of old) removed += dropBatch(b.node, b.batch_seq);
        }
        for (const [node, n] of perNode) {
          let left = n;
          while (left > options.perNode) {
            const oldest = q.oldestOf.get(node) as { batch_seq: number } | undefined;
            if (!oldest) break;
            const r = dropBatch(node, oldest.batch_seq);
            removed += r;
            left -= r;
          }
        }
        while (total > options.total) {
          const oldest = q.oldest.get() as { node: string; batch_seq: number } | undefined;
          if (!oldest) break;
          removed += dropBatch(oldest.node, oldest.batch_seq);
        }
      });
      return removed;
    },
    recordEquivocation(r) {
      q.insertEquivocation.run(r.node, r.seq, r.digestA, r.digestB, r.foundAt, r.status, r.txHash ?? null);
    },
    updateEquivocation(node, seq, status, txHash) {
      q.setEquivocation.run(status, txHash ?? null, node, seq);
    },
    equivocations: () =>
      (q.listEquivocations.all() as Array<Record<string, string | number | bigint | null>>).map((r) => ({
        node: r.node as Address,
        seq: BigInt(r.seq as number),
        digestA: r.digest_a as Hex,
        digestB: r.digest_b as Hex,
        foundAt: Number(r.found_at),
        status: r.status as EquivocationRecord['status'],
        txHash: (r.tx_hash ?? undefined) as Hex | undefined,
      })),
    recordBatchEquivocation(r) {
      q.insertBatchEquivocation.run(r.node, r.batchSeq, r.rootA, r.rootB, r.foundAt, r.status, r.txHash ?? null);
    },
    updateBatchEquivocation(node, batchSeq, status, txHash) {
      q.setBatchEquivocation.run(status, txHash ?? null, node, batchSeq);
    },
    batchEquivocations: () =>
      (q.listBatchEquivocations.all() as Array<Record<string, string | number | bigint | null>>).map((r) => ({
        node: r.node as Address,
        batchSeq: BigInt(r.batch_seq as number),
        rootA: r.root_a as Hex,
        rootB: r.root_b as Hex,
        foundAt: Number(r.found_at),
        status: r.status as EquivocationRecord['status'],
        txHash: (r.tx_hash ?? undefined) as Hex | undefined,
      })),
    recordSettlementFlag(f) {
      q.insertFlag.run(f.txHash, f.channelId, f.adapterId, f.node ?? null, f.claimed.toString(), f.gossiped.toString(), f.flaggedAt);
    },
    hasSettlementFlag: (txHash, channelId, adapterId) => q.hasFlag.get(txHash, channelId, adapterId) !== undefined,
    settlementFlags: () =>
      (q.listFlags.all() as Array<Record<string, string | number | null>>).map((r) => ({
        txHash: r.tx_hash as Hex,
        channelId: r.channel_id as Hex,
        adapterId: r.adapter_id as Hex,
        node: (r.node ?? undefined) as Address | undefined,
        claimed: BigInt(r.claimed as string),
        gossiped: BigInt(r.gossiped as string),
        flaggedAt: Number(r.flagged_at),
      })),
  };
}
