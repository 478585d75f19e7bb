import { BaseError } from '../errors.ts';

/** The ledger database cannot be opened or migrated. */
export class LedgerOpenError extends BaseError {
  override name = 'LedgerOpenError' as const;
  constructor(path: string, cause: unknown) {
    super('OPENLORA_LEDGER_OPEN', `Cannot open the ledger database ${path}.`, {
      cause,
      details: (cause as Error)?.message,
      hint: 'Check that the data directory exists and is writable by this user.',
    });
  }
}

/** The database was written by a newer openlora. */
export class LedgerVersionError extends BaseError {
  override name = 'LedgerVersionError' as const;
  constructor(path: string, found: number, supported: number) {
    super('OPENLORA_LEDGER_VERSION', `The ledger ${path} has schema version ${found}; this openlora knows up to ${supported}.`, {
      hint: 'Upgrade openlora, or point dataDir at another directory.',
    });
  }
}

/**
 * `PRAGMA quick_check` found damage: the node refuses to serve rather than fail after generating.
 * Moving the file aside (or restoring a backup) is safe: receipt seqs never repeat (docs/protocol.md).
 */
export class LedgerCorruptError extends BaseError {
  override name = 'LedgerCorruptError' as const;
  constructor(path: string, problems: string[]) {
    super('OPENLORA_LEDGER_CORRUPT', `The ledger database ${path} is damaged; the node will not serve with it.`, {
      details: problems.slice(0, 5).join('; '),
      hint: `Stop here, then either restore your latest backup of ${path} or move it aside with \`mv ${path} ${path}.damaged\` (and its -wal/-shm files) and start again; either is safe, as a seq is never signed twice after a lost or older ledger. Vouchers it held and did not settle are lost with it unless a backup has them.`,
      meta: { path },
    });
  }
}

/** The clock is behind the ledger's last seq epoch: starting could sign a seq twice. */
export class LedgerClockBehindError extends BaseError {
  override name = 'LedgerClockBehindError' as const;
  constructor(highWater: number, now: number) {
    super('OPENLORA_LEDGER_CLOCK_BEHIND', `The system clock (${new Date(now).toISOString()}) is ${((highWater - now) / 1000).toFixed(1)} s behind the ledger's last receipt seq epoch (${new Date(highWater).toISOString()}).`, {
      hint: 'Set the clock right (e.g. enable NTP: `timedatectl set-ntp true`) and start again. Receipt seqs are taken from the clock, so a clock that went back could repeat one and get the node slashed.',
      meta: { highWater, now },
    });
  }
}

/** A write to the ledger failed; the response it belongs to must not complete. */
export class LedgerWriteError extends BaseError {
  override name = 'LedgerWriteError' as const;
  constructor(what: string, cause: unknown) {
    super('OPENLORA_LEDGER_WRITE', `Writing ${what} to the ledger failed.`, { cause, details: (cause as Error)?.message, hint: 'Check free disk space and the data directory; the request was not charged.' });
  }
}
