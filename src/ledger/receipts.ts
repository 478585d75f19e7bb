import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Address, Hex } from 'viem';
import type { UsageReceipt } from '../chain/eip712.ts';
import { LedgerWriteError } from './errors.ts';

export type { UsageReceipt };

/** A receipt as the node signed and stored it. */
export interface SignedReceipt {
  receipt: UsageReceipt;
  /** Node key address that signed. */
  node: Address;
  /** Who pays: the channel payer, or `key:<id>` for an API key in open mode. */
  payer: string;
  /** EIP-712 digest of `receipt`. */
  digest: Hex;
  signature: Hex;
}

export interface ReceiptQuery {
  channelId?: Hex;
  payer?: string;
  adapterId?: Hex;
  /** Unix seconds, inclusive. */
  from?: number;
  /** Unix seconds, inclusive. */
  to?: number;
  /** Cursor: only receipts with a larger seq. */
  after?: bigint;
  /** Page size, default 100, at most 1000. */
  limit?: number;
}

/** Durable store of this node's receipts. */
export interface ReceiptLedger {
  /** The next `seq`. Reserved durably in chunks first, so no seq is handed out twice, even after a crash (a crash leaves a gap). */
  nextSeq(): bigint;
  /** Appends a signed receipt; resolves once it is on disk (group commit: one fsync for all receipts queued in the same tick). */
  append(signed: SignedReceipt): Promise<void>;
  get(seq: bigint): SignedReceipt | undefined;
  getByRequestId(requestId: Hex): SignedReceipt | undefined;
  /** A page of receipts in seq order, and the cursor for the next page when there is one. */
  list(query?: ReceiptQuery): { receipts: SignedReceipt[]; next?: bigint };
  count(): number;
}

/** Seqs reserved per durable write. */
const SEQ_CHUNK = 256n;

interface Row {
  seq: number | bigint;
  node: string;
  request_id: string;
  channel_id: string;
  adapter_id: string;
  payer: string;
  prompt_tokens: number;
  completion_tokens: number;
  amount: string;
  lane_charged: string;
  voucher_digest: string;
  attribution_digest: string;
  timestamp: number | bigint;
  digest: string;
  signature: string;
}

function fromRow(row: Row): SignedReceipt {
  return {
    receipt: {
      channelId: row.channel_id as Hex,
      adapterId: row.adapter_id as Hex,
      requestId: row.request_id as Hex,
      seq: BigInt(row.seq),
      promptTokens: row.prompt_tokens,
      completionTokens: row.completion_tokens,
      amount: BigInt(row.amount),
      laneCharged: BigInt(row.lane_charged),
      voucherDigest: row.voucher_digest as Hex,
      attributionDigest: row.attribution_digest as Hex,
      timestamp: BigInt(row.timestamp),
    },
    node: row.node as Address,
    payer: row.payer,
    digest: row.digest as Hex,
    signature: row.signature as Hex,
  };
}

/** Receipt store over an open ledger database (see `openLedgerDatabase`). */
export function createReceiptLedger(db: DatabaseSync): ReceiptLedger {
  const insert = db.prepare(
    `INSERT INTO receipts (seq, node, request_id, channel_id, adapter_id, payer, prompt_tokens, completion_tokens, amount, lane_charged,
       voucher_digest, attribution_digest, timestamp, digest, signature)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const getSeq = db.prepare('SELECT * FROM receipts WHERE seq = ?');
  const getRequest = db.prepare('SELECT * FROM receipts WHERE request_id = ?');
  const countAll = db.prepare('SELECT count(*) AS n FROM receipts');
  const readMeta = db.prepare('SELECT value FROM meta WHERE key = ?');
  const writeMeta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  const maxSeq = BigInt((db.prepare('SELECT coalesce(max(seq), 0) AS m FROM receipts').get() as { m: number | bigint }).m);
  const reserved = BigInt((readMeta.get('seq_reserved') as { value: string } | undefined)?.value ?? '0');
  let next = (maxSeq > reserved ? maxSeq : reserved) + 1n;
  let limit = next - 1n;
  const listCache = new Map<string, StatementSync>();

  let queue: Array<{ signed: SignedReceipt; resolve: () => void; reject: (e: unknown) => void }> = [];
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    const batch = queue;
    queue = [];
    try {
      db.exec('BEGIN IMMEDIATE');
      for (const { signed } of batch) {
        const r = signed.receipt;
        insert.run(r.seq, signed.node, r.requestId, r.channelId, r.adapterId, signed.payer, r.promptTokens, r.completionTokens, r.amount.toString(),
          r.laneCharged.toString(), r.voucherDigest, r.attributionDigest, r.timestamp, signed.digest, signed.signature);
      }
      db.exec('COMMIT');
    } catch (cause) {
      if (db.isTransaction) db.exec('ROLLBACK');
      // One bad receipt must not sink the others: retry them one by one.
      for (const entry of batch) {
        try {
          const r = entry.signed.receipt;
          insert.run(r.seq, entry.signed.node, r.requestId, r.channelId, r.adapterId, entry.signed.payer, r.promptTokens, r.completionTokens,
            r.amount.toString(), r.laneCharged.toString(), r.voucherDigest, r.attributionDigest, r.timestamp, entry.signed.digest, entry.signed.signature);
          entry.resolve();
        } catch (single) {
          entry.reject(new LedgerWriteError(`receipt seq ${entry.signed.receipt.seq}`, single ?? cause));
        }
      }
      return;
    }
    for (const entry of batch) entry.resolve();
  }

  return {
    nextSeq() {
      if (next > limit) {
        limit = next + SEQ_CHUNK - 1n;
        writeMeta.run('seq_reserved', limit.toString()); // autocommit: durable before the seq is used
      }
      return next++;
    },
    append(signed) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ signed, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    get(seq) {
      const row = getSeq.get(seq) as Row | undefined;
      return row && fromRow(row);
    },
    getByRequestId(requestId) {
      const row = getRequest.get(requestId) as Row | undefined;
      return row && fromRow(row);
    },
    list(query = {}) {
      const where: string[] = [];
      const args: Array<string | number | bigint> = [];
      const filter = (clause: string, value: string | number | bigint | undefined) => {
        if (value === undefined || value === '') return;
        where.push(clause);
        args.push(value);
      };
      filter('channel_id = ?', query.channelId);
      filter('payer = ?', query.payer);
      filter('adapter_id = ?', query.adapterId);
      filter('timestamp >= ?', query.from);
      filter('timestamp <= ?', query.to);
      filter('seq > ?', query.after);
      const limitRows = Math.min(Math.max(query.limit ?? 100, 1), 1000);
      const sql = `SELECT * FROM receipts ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq LIMIT ?`;
      let statement = listCache.get(sql);
      if (!statement) listCache.set(sql, (statement = db.prepare(sql)));
      const rows = statement.all(...args, limitRows + 1) as unknown as Row[];
      const receipts = rows.slice(0, limitRows).map(fromRow);
      return { receipts, next: rows.length > limitRows ? receipts[receipts.length - 1].receipt.seq : undefined };
    },
    count() {
      return Number((countAll.get() as { n: number }).n);
    },
  };
}
