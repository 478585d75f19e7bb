import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { DataDirLockedError } from './errors.ts';

/** A held lock on a data directory; `release()` frees it (the OS frees it when the process dies). */
export interface DataDirLock {
  readonly dir: string;
  release(): void;
}

/** Open lock handles, held here so that garbage collection never closes one (and frees its lock). */
const held = new Set<DatabaseSync>();

/**
 * Locks a directory for one process: an exclusive SQLite transaction held open on `<dir>/<name>`
 * (a POSIX file lock underneath). A second process, or a second holder in this one, is refused
 * with {@link DataDirLockedError}; the OS drops the lock when the holder exits, even by SIGKILL,
 * so a crash never blocks a restart. `<name>.pid` names the holder for the error message.
 */
export function lockDataDir({ dir, name = 'node.lock', what = 'node' }: { dir: string; name?: string; what?: string }): DataDirLock {
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true });
  const file = join(abs, name);
  const pidFile = `${file}.pid`;
  const db = new DatabaseSync(file, { timeout: 0 });
  try {
    db.exec('PRAGMA journal_mode = DELETE; BEGIN EXCLUSIVE');
  } catch {
    db.close();
    let holder: string | undefined;
    try {
      holder = readFileSync(pidFile, 'utf8').trim();
    } catch {
      holder = undefined;
    }
    throw new DataDirLockedError(abs, what, holder);
  }
  writeFileSync(pidFile, `${process.pid}\n`);
  held.add(db);
  return {
    dir: abs,
    release() {
      if (!held.delete(db)) return;
      rmSync(pidFile, { force: true });
      db.exec('ROLLBACK');
      db.close();
    },
  };
}
