import type { DatabaseSync } from 'node:sqlite';
import type { Hex } from 'viem';

/** The best (largest) voucher the node holds for a lane. */
export interface StoredVoucher {
  channelId: Hex;
  adapterId: Hex;
  /** The cumulative amount the payer acknowledged. */
  amount: bigint;
  signature: Hex;
  /** EIP-712 digest of the voucher. */
  digest: Hex;
  /** What the chain has paid out on the lane, as last seen. */
  settled: bigint;
  receivedAt: number;
}

/** A settlement transaction the node sent. */
export interface SettlementRecord {
  id: number;
  txHash: Hex | null;
  status: 'sending' | 'sent' | 'confirmed' | 'failed';
  lanes: number;
  amount: bigint;
  block: bigint | null;
  error: string | null;
}

/** Durable per-lane payment state of paid mode. */
export interface LaneStore {
  voucher(channelId: Hex, adapterId: Hex): StoredVoucher | undefined;
  /** Every voucher the node holds on a channel. */
  vouchersOf(channelId: Hex): StoredVoucher[];
  /** Stores a voucher if it is larger than the one held; returns whether it was. Durable on return. */
  saveVoucher(v: Omit<StoredVoucher, 'settled' | 'receivedAt'>): boolean;
  /** Lanes whose voucher is above what the chain has paid. */
  unsettled(): StoredVoucher[];
  /** Records what the chain has paid on a lane. */
  markSettled(channelId: Hex, adapterId: Hex, settled: bigint): void;
  beginSettlement(lanes: number, amount: bigint): number;
  updateSettlement(id: number, update: { txHash?: Hex; status: SettlementRecord['status']; block?: bigint; error?: string }): void;
  settlements(limit?: number): SettlementRecord[];
  /** Lanes charged or holding a voucher (at most `limit`): the operator page's money view. */
  list(limit?: number): LaneTotals[];
}

/** One lane's totals. */
export interface LaneTotals {
  channelId: Hex;
  adapterId: Hex;
  /** What the node charged: its latest receipt's `laneCharged` (the ledger's lane_charges), at least the voucher. */
  charged: bigint;
  /** The largest voucher held (0 without one). */
  acknowledged: bigint;
  /** What the chain has paid out, as last seen. */
  settled: bigint;
}

interface VoucherRow {
  channel_id: string;
  adapter_id: string;
  amount: string;
  signature: string;
  digest: string;
  received_at: number;
  settled: string;
}

function fromRow(r: VoucherRow): StoredVoucher {
  return { channelId: r.channel_id as Hex, adapterId: r.adapter_id as Hex, amount: BigInt(r.amount), signature: r.signature as Hex, digest: r.digest as Hex, settled: BigInt(r.settled), receivedAt: r.received_at };
}

/** Lane state over the ledger database (see `openLedgerDatabase`). */
export function createLaneStore(db: DatabaseSync): LaneStore {
  const get = db.prepare('SELECT * FROM vouchers WHERE channel_id = ? AND adapter_id = ?');
  const insert = db.prepare('INSERT INTO vouchers (channel_id, adapter_id, amount, signature, digest, received_at) VALUES (?, ?, ?, ?, ?, ?)');
  const update = db.prepare('UPDATE vouchers SET amount = ?, signature = ?, digest = ?, received_at = ? WHERE channel_id = ? AND adapter_id = ?');
  // settled <= amount always: a lane is unsettled exactly when they differ.
  const open = db.prepare('SELECT * FROM vouchers WHERE amount <> settled');
  const ofChannel = db.prepare('SELECT * FROM vouchers WHERE channel_id = ?');
  const settle = db.prepare('UPDATE vouchers SET settled = ? WHERE channel_id = ? AND adapter_id = ?');
  const begin = db.prepare("INSERT INTO settlements (status, lanes, amount, created_at, updated_at) VALUES ('sending', ?, ?, ?, ?) RETURNING id");
  const list = db.prepare('SELECT * FROM settlements ORDER BY id DESC LIMIT ?');
  const lanes = db.prepare(
    `SELECT l.channel_id, l.adapter_id, coalesce(c.charged, '0') AS charged, coalesce(v.amount, '0') AS amount, coalesce(v.settled, '0') AS settled
     FROM (SELECT channel_id, adapter_id FROM lane_charges UNION SELECT channel_id, adapter_id FROM vouchers) l
     LEFT JOIN lane_charges c ON c.channel_id = l.channel_id AND c.adapter_id = l.adapter_id
     LEFT JOIN vouchers v ON v.channel_id = l.channel_id AND v.adapter_id = l.adapter_id LIMIT ?`,
  );
  return {
    voucher(channelId, adapterId) {
      const row = get.get(channelId, adapterId) as VoucherRow | undefined;
      return row && fromRow(row);
    },
    saveVoucher(v) {
      const held = get.get(v.channelId, v.adapterId) as VoucherRow | undefined;
      if (held && BigInt(held.amount) >= v.amount) return false;
      if (held) update.run(v.amount.toString(), v.signature, v.digest, Date.now(), v.channelId, v.adapterId);
      else insert.run(v.channelId, v.adapterId, v.amount.toString(), v.signature, v.digest, Date.now());
      return true;
    },
    vouchersOf(channelId) {
      return (ofChannel.all(channelId) as unknown as VoucherRow[]).map(fromRow);
    },
    unsettled() {
      return (open.all() as unknown as VoucherRow[]).map(fromRow).filter((v) => v.amount > v.settled);
    },
    markSettled(channelId, adapterId, settled) {
      settle.run(settled.toString(), channelId, adapterId);
    },
    beginSettlement(lanes, amount) {
      const now = Date.now();
      return Number((begin.get(lanes, amount.toString(), now, now) as { id: number }).id);
    },
    updateSettlement(id, u) {
      const sets = ['status = ?', 'updated_at = ?'];
      const args: Array<string | number> = [u.status, Date.now()];
      const set = (column: string, value: string | number | undefined) => {
        if (value === undefined) return;
        sets.push(`${column} = ?`);
        args.push(value);
      };
      set('tx_hash', u.txHash);
      set('block', u.block === undefined ? undefined : Number(u.block));
      set('error', u.error);
      db.prepare(`UPDATE settlements SET ${sets.join(', ')} WHERE id = ?`).run(...args, id);
    },
    list(limit = 10_000) {
      return (lanes.all(limit) as Array<{ channel_id: string; adapter_id: string; amount: string; settled: string; charged: string }>).map((r) => ({
        channelId: r.channel_id as Hex,
        adapterId: r.adapter_id as Hex,
        // Never below what the payer signed for (a ledger restored from an older backup lost receipts).
        charged: BigInt(r.charged) > BigInt(r.amount) ? BigInt(r.charged) : BigInt(r.amount),
        acknowledged: BigInt(r.amount),
        settled: BigInt(r.settled),
      }));
    },
    settlements(limit = 50) {
      return (list.all(limit) as Array<{ id: number; tx_hash: string | null; status: SettlementRecord['status']; lanes: number; amount: string; block: number | null; error: string | null }>).map((r) => ({
        id: r.id,
        txHash: r.tx_hash as Hex | null,
        status: r.status,
        lanes: r.lanes,
        amount: BigInt(r.amount),
        block: r.block === null ? null : BigInt(r.block),
        error: r.error,
      }));
    },
  };
}
