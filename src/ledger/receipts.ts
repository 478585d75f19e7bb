import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Address, Hex } from 'viem';
import type { UsageReceipt } from '../chain/eip712.ts';
import { LedgerWriteError } from './errors.ts';
import { createSeqAllocator } from './seq.ts';

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
  /** The client's request nonce (`x-openlora-request-nonce`) when it sent one: `requestId` is its hash. */
  nonce?: string;
}

export interface ReceiptQuery {
  channelId?: Hex;
  payer?: string;
  adapterId?: Hex;
  /** Unix seconds, inclusive. */
  from?: number;
  /** Unix seconds, inclusive. */
  to?: number;
  /** Cursor: only receipts past this seq in the page order (larger seqs; smaller ones with `order: 'desc'`). */
  after?: bigint;
  /** Seq order of the page; default ascending. `desc` lists the newest first. */
  order?: 'asc' | 'desc';
  /** Page size, default 100, at most 1000. */
  limit?: number;
}

/** Durable store of this node's receipts. */
export interface ReceiptLedger {
  /** The next `seq` (see `seq.ts`): never handed out twice, whatever happened to the disk; waits only for the clock. */
  nextSeq(): Promise<bigint>;
  /** Stores signed receipts and their lanes' charged totals in one transaction: all or none. Throws {@link LedgerWriteError}. */
  write(batch: readonly SignedReceipt[]): void;
  /** A lane's charged total: the `laneCharged` of its latest receipt (0 without one). */
  laneCharged(channelId: Hex, adapterId: Hex): bigint;
  /** Every lane of a channel with receipts, and its charged total. */
  channelLanes(channelId: Hex): Array<{ adapterId: Hex; charged: bigint }>;
  /** Seq of the lane's last receipt whose `laneCharged` is at most `amount` (the cursor of the unacknowledged tail), if any. */
  tailCursor(channelId: Hex, adapterId: Hex, amount: bigint): bigint | undefined;
  get(seq: bigint): SignedReceipt | undefined;
  getByRequestId(requestId: Hex): SignedReceipt | undefined;
  /** A page of receipts in seq order, and the cursor for the next page when there is one. */
  list(query?: ReceiptQuery): { receipts: SignedReceipt[]; next?: bigint };
  count(): number;
}

interface Row {
  seq: number;
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
  timestamp: number;
  digest: string;
  signature: string;
  request_nonce: string | null;
}

function fromRow(row: Row): SignedReceipt {
  const signed: SignedReceipt = {
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
  if (row.request_nonce !== null) signed.nonce = row.request_nonce;
  return signed;
}

/** `a <= b` for canonical decimal strings in SQL (amounts are stored as TEXT). */
const DECIMAL_AT_MOST = '(length(lane_charged) < length(?1) OR (length(lane_charged) = length(?1) AND lane_charged <= ?1))';

/** Receipt store over an open ledger database (see `openLedgerDatabase`). */
export function createReceiptLedger(db: DatabaseSync, options: { now?: () => number } = {}): ReceiptLedger {
  const insert = db.prepare(
    `INSERT INTO receipts (seq, node, request_id, channel_id, adapter_id, payer, prompt_tokens, completion_tokens, amount, lane_charged,
       voucher_digest, attribution_digest, timestamp, digest, signature, request_nonce)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const setCharged = db.prepare('INSERT INTO lane_charges (channel_id, adapter_id, charged) VALUES (?, ?, ?) ON CONFLICT (channel_id, adapter_id) DO UPDATE SET charged = excluded.charged');
  const getCharged = db.prepare('SELECT charged FROM lane_charges WHERE channel_id = ? AND adapter_id = ?');
  const lanesOf = db.prepare('SELECT adapter_id, charged FROM lane_charges WHERE channel_id = ?');
  const tail = db.prepare(`SELECT seq FROM receipts WHERE channel_id = ?2 AND adapter_id = ?3 AND ${DECIMAL_AT_MOST} ORDER BY seq DESC LIMIT 1`);
  const getSeq = db.prepare('SELECT * FROM receipts WHERE seq = ?');
  const getRequest = db.prepare('SELECT * FROM receipts WHERE request_id = ?');
  const countAll = db.prepare('SELECT count(*) AS n FROM receipts');
  const maxSeq = BigInt((db.prepare('SELECT coalesce(max(seq), 0) AS m FROM receipts').get() as { m: number }).m);
  const seqs = createSeqAllocator({ db, maxStoredSeq: maxSeq, now: options.now });
  const listCache = new Map<string, StatementSync>();

  return {
    nextSeq: () => seqs.next(),
    write(batch) {
      try {
        db.exec('BEGIN IMMEDIATE');
        for (const s of batch) {
          const r = s.receipt;
          insert.run(r.seq, s.node, r.requestId, r.channelId, r.adapterId, s.payer, r.promptTokens, r.completionTokens, r.amount.toString(),
            r.laneCharged.toString(), r.voucherDigest, r.attributionDigest, r.timestamp, s.digest, s.signature, s.nonce ?? null);
          setCharged.run(r.channelId, r.adapterId, r.laneCharged.toString());
        }
        db.exec('COMMIT');
      } catch (cause) {
        if (db.isTransaction) db.exec('ROLLBACK');
        const seqs = batch.map((s) => s.receipt.seq);
        throw new LedgerWriteError(seqs.length === 1 ? `receipt seq ${seqs[0]}` : `${seqs.length} receipts (seq ${seqs[0]}..${seqs.at(-1)})`, cause);
      }
    },
    laneCharged(channelId, adapterId) {
      const row = getCharged.get(channelId, adapterId) as { charged: string } | undefined;
      return row ? BigInt(row.charged) : 0n;
    },
    channelLanes(channelId) {
      return (lanesOf.all(channelId) as Array<{ adapter_id: string; charged: string }>).map((r) => ({ adapterId: r.adapter_id as Hex, charged: BigInt(r.charged) }));
    },
    tailCursor(channelId, adapterId, amount) {
      const row = tail.get(amount.toString(), channelId, adapterId) as { seq: number } | undefined;
      return row ? BigInt(row.seq) : undefined;
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
      const desc = query.order === 'desc';
      filter(desc ? 'seq < ?' : 'seq > ?', query.after);
      const limitRows = Math.min(Math.max(query.limit ?? 100, 1), 1000);
      const sql = `SELECT * FROM receipts ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq${desc ? ' DESC' : ''} LIMIT ?`;
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
