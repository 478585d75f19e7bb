import { BaseError } from '../errors.ts';

/** The ledger database cannot be opened or migrated. */
export class LedgerOpenError extends BaseError {
  override name = 'LedgerOpenError' as const;
  constructor(path: string, cause: unknown) {
    super('OPENLORA_LEDGER_OPEN', `Cannot open the ledger database ${path}.`, {
      cause,
      details: (cause as Error)?.message,
      hint: 'Check that the data directory is writable and not used by another node process; restore it from a backup if it is corrupt.',
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

/** A write to the ledger failed; the response it belongs to must not complete. */
export class LedgerWriteError extends BaseError {
  override name = 'LedgerWriteError' as const;
  constructor(what: string, cause: unknown) {
    super('OPENLORA_LEDGER_WRITE', `Writing ${what} to the ledger failed.`, { cause, details: (cause as Error)?.message, hint: 'Check free disk space and the data directory; the request was not charged.' });
  }
}
