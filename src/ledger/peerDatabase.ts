/**
 * The P2P store's own database file (`<dataDir>/p2p.db`, docs/p2p.md "Storage"): batches, the
 * receipts of followed nodes, equivocations and settlement flags. Kept apart from the ledger
 * because its data can be fetched again: it is written without fsync (WAL, synchronous = OFF), so
 * checkpoints of megabytes of followed nodes' receipts never stall the event loop or the ledger's
 * durable commits. A file that a power cut left unreadable is moved aside and started anew.
 */
import { mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { LedgerOpenError, LedgerVersionError } from './errors.ts';

/** Schema of the P2P store, by version (append only). */
const SCHEMA: readonly string[] = [
  `CREATE TABLE batches (
     node TEXT NOT NULL,
     batch_seq INTEGER NOT NULL,
     root TEXT NOT NULL,
     count INTEGER NOT NULL,
     timestamp INTEGER NOT NULL,
     header BLOB NOT NULL,
     body BLOB,
     fetched INTEGER NOT NULL DEFAULT 0,
     received_at INTEGER NOT NULL,
     PRIMARY KEY (node, batch_seq, root)
   ) STRICT;
   CREATE INDEX batches_time ON batches (received_at);
   CREATE TABLE peer_receipts (
     node TEXT NOT NULL,
     seq INTEGER NOT NULL,
     digest TEXT NOT NULL,
     channel_id TEXT NOT NULL,
     adapter_id TEXT NOT NULL,
     amount TEXT NOT NULL,
     lane_charged TEXT NOT NULL,
     prompt_tokens INTEGER NOT NULL,
     completion_tokens INTEGER NOT NULL,
     timestamp INTEGER NOT NULL,
     message BLOB NOT NULL,
     batch_seq INTEGER NOT NULL,
     idx INTEGER NOT NULL,
     status INTEGER NOT NULL,
     received_at INTEGER NOT NULL,
     PRIMARY KEY (node, seq, digest)
   ) STRICT;
   CREATE INDEX peer_receipts_lane ON peer_receipts (channel_id, adapter_id) WHERE status = 1;
   CREATE INDEX peer_receipts_batch ON peer_receipts (node, batch_seq, idx);
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
   CREATE TABLE batch_equivocations (
     node TEXT NOT NULL,
     batch_seq INTEGER NOT NULL,
     root_a TEXT NOT NULL,
     root_b TEXT NOT NULL,
     found_at INTEGER NOT NULL,
     status TEXT NOT NULL,
     tx_hash TEXT,
     PRIMARY KEY (node, batch_seq)
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
];

function open(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  // 32 MiB of page cache: the indexes of a few followed nodes' recent receipts stay in memory.
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -32768;');
  if (path !== ':memory:') {
    const check = db.prepare('PRAGMA quick_check').get() as { quick_check: string };
    if (check.quick_check !== 'ok') {
      db.close();
      throw new Error(`quick_check: ${check.quick_check}`);
    }
  }
  const version = Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
  if (version > SCHEMA.length) {
    db.close();
    throw new LedgerVersionError(path, version, SCHEMA.length);
  }
  for (let v = version; v < SCHEMA.length; v++) {
    db.exec('BEGIN IMMEDIATE');
    db.exec(SCHEMA[v]);
    db.exec(`PRAGMA user_version = ${v + 1}`);
    db.exec('COMMIT');
  }
  return db;
}

/** Opens (creating) the P2P store database at `path`; an unreadable file is moved to `<path>.corrupt-<ms>` and replaced. */
export function openPeerDatabase(path: string, onReplaced?: (movedTo: string, cause: unknown) => void): DatabaseSync {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  try {
    return open(path);
  } catch (cause) {
    if (cause instanceof LedgerVersionError || path === ':memory:') throw cause;
    const movedTo = `${path}.corrupt-${Date.now()}`;
    try {
      renameSync(path, movedTo);
      for (const suffix of ['-wal', '-shm']) {
        try {
          renameSync(`${path}${suffix}`, `${movedTo}${suffix}`);
        } catch {
          // absent: nothing to move
        }
      }
      onReplaced?.(movedTo, cause);
      return open(path);
    } catch (again) {
      throw new LedgerOpenError(path, again);
    }
  }
}
