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
  // 2: other nodes' gossiped receipts (watcher), equivocations found and settlement flags (src/ledger/peerReceipts.ts).
  `CREATE TABLE peer_receipts (
     node TEXT NOT NULL,
     seq INTEGER NOT NULL,
     digest TEXT NOT NULL,
     channel_id TEXT NOT NULL,
     adapter_id TEXT NOT NULL,
     amount TEXT NOT NULL,
     lane_charged TEXT NOT NULL,
     timestamp INTEGER NOT NULL,
     message BLOB NOT NULL,
     received_at INTEGER NOT NULL,
     PRIMARY KEY (node, seq, digest)
   ) STRICT;
   CREATE INDEX peer_receipts_lane ON peer_receipts (channel_id, adapter_id);
   CREATE TABLE equivocations (
     node TEXT NOT NULL,
     seq INTEGER NOT NULL,
     digest_a TEXT NOT NULL,
     digest_b TEXT NOT NULL,
     found_at INTEGER NOT NULL,
     status TEXT NOT NULL,
     tx_hash TEXT,
     PRIMARY KEY (node, seq)
   ) STRICT;
   CREATE TABLE settlement_flags (
     tx_hash TEXT NOT NULL,
     channel_id TEXT NOT NULL,
     adapter_id TEXT NOT NULL,
     node TEXT,
     claimed TEXT NOT NULL,
     gossiped TEXT NOT NULL,
     flagged_at INTEGER NOT NULL,
     PRIMARY KEY (tx_hash, channel_id, adapter_id)
   ) STRICT;`,
  // 4: the client's request nonce of each receipt (returned so the payer can tie receipts to its own requests)
  //    and each lane's charged total, kept in the same transaction as its receipts (O(1) lane and channel loads).
  `ALTER TABLE receipts ADD COLUMN request_nonce TEXT;
   CREATE TABLE lane_charges (
     channel_id TEXT NOT NULL,
     adapter_id TEXT NOT NULL,
     charged TEXT NOT NULL,
     PRIMARY KEY (channel_id, adapter_id)
   ) STRICT;
   INSERT INTO lane_charges (channel_id, adapter_id, charged)
     SELECT channel_id, adapter_id, lane_charged FROM receipts r
     WHERE seq = (SELECT max(seq) FROM receipts WHERE channel_id = r.channel_id AND adapter_id = r.adapter_id);`,
  // 5: other nodes' receipts, equivocations and settlement flags live in the P2P store's own file
  //    (src/ledger/peerDatabase.ts, refetchable); version 2's copies here are no longer read.
  `DROP INDEX IF EXISTS peer_receipts_lane;
   DROP TABLE IF EXISTS peer_receipts;
   DROP TABLE IF EXISTS equivocations;
   DROP TABLE IF EXISTS settlement_flags;`,
];
