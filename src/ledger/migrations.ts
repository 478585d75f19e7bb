/**
 * Ledger schema, one entry per version; `PRAGMA user_version` records how far a database is.
 * Append only: never edit a migration that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: receipts this node signed, and durable counters.
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
   CREATE TABLE receipts (
     seq INTEGER PRIMARY KEY,
     node TEXT NOT NULL,
     request_id TEXT NOT NULL UNIQUE,
     channel_id TEXT NOT NULL,
     adapter_id TEXT NOT NULL,
     payer TEXT NOT NULL,
     prompt_tokens INTEGER NOT NULL,
     completion_tokens INTEGER NOT NULL,
     amount TEXT NOT NULL,
     lane_charged TEXT NOT NULL,
     voucher_digest TEXT NOT NULL,
     attribution_digest TEXT NOT NULL,
     timestamp INTEGER NOT NULL,
     digest TEXT NOT NULL,
     signature TEXT NOT NULL
   ) STRICT;
   CREATE INDEX receipts_channel ON receipts (channel_id, seq);
   CREATE INDEX receipts_payer ON receipts (payer, seq);
   CREATE INDEX receipts_adapter ON receipts (adapter_id, seq);
   CREATE INDEX receipts_time ON receipts (timestamp, seq);`,
  // 2: paid mode: the best voucher per lane (what settlement claims) and settlement transactions.
  `CREATE TABLE vouchers (
     channel_id TEXT NOT NULL,
     adapter_id TEXT NOT NULL,
     amount TEXT NOT NULL,
     signature TEXT NOT NULL,
     digest TEXT NOT NULL,
     received_at INTEGER NOT NULL,
     settled TEXT NOT NULL DEFAULT '0',
     PRIMARY KEY (channel_id, adapter_id)
   ) STRICT;
   CREATE TABLE settlements (
     id INTEGER PRIMARY KEY,
     tx_hash TEXT,
     status TEXT NOT NULL,
     lanes INTEGER NOT NULL,
     amount TEXT NOT NULL,
     block INTEGER,
     error TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX receipts_lane ON receipts (channel_id, adapter_id, seq);`,
];
