import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { LedgerCorruptError, LedgerOpenError, LedgerVersionError } from './errors.ts';
import { MIGRATIONS } from './migrations.ts';

/**
 * Opens (creating and migrating) the ledger database: WAL journal, `synchronous = FULL` so a
 * committed transaction survives a power cut or SIGKILL, foreign keys on. `PRAGMA quick_check`
 * runs first: a damaged ledger is refused with {@link LedgerCorruptError} instead of failing
 * requests after their tokens were generated.
 */
export function openLedgerDatabase(path: string): DatabaseSync {
  let db: DatabaseSync;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new DatabaseSync(path);
    db.exec('PRAGMA busy_timeout = 5000;');
  } catch (cause) {
    throw new LedgerOpenError(path, cause);
  }
  let problems: string[];
  try {
    problems = (db.prepare('PRAGMA quick_check').all() as Array<{ quick_check: string }>).map((r) => r.quick_check).filter((r) => r !== 'ok');
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;');
  } catch (cause) {
    problems = [(cause as Error).message];
  }
  if (problems.length > 0) {
    db.close();
    throw new LedgerCorruptError(path, problems);
  }
  const version = Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
  if (version > MIGRATIONS.length) {
    db.close();
    throw new LedgerVersionError(path, version, MIGRATIONS.length);
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    try {
      db.exec('BEGIN IMMEDIATE');
      db.exec(MIGRATIONS[v]);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec('COMMIT');
    } catch (cause) {
      if (db.isTransaction) db.exec('ROLLBACK');
      db.close();
      throw new LedgerOpenError(path, cause);
    }
  }
  return db;
}
