import { copyFileSync, mkdtempSync, openSync, readFileSync, renameSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { keccak256, toHex, zeroHash } from 'viem';
import { openLedgerDatabase } from '../../src/ledger/db.ts';
import { MIGRATIONS } from '../../src/ledger/migrations.ts';
import { LedgerClockBehindError, LedgerCorruptError, LedgerVersionError } from '../../src/ledger/errors.ts';
import { createReceiptLedger, type ReceiptLedger, type SignedReceipt } from '../../src/ledger/receipts.ts';
import { SEQS_PER_EPOCH, seqEpoch } from '../../src/ledger/seq.ts';

const ZERO = zeroHash;
const tmp = () => join(mkdtempSync(join(tmpdir(), 'openlora-ledger-')), 'ledger.db');

function receipt(seq: bigint, i: number, over: Partial<SignedReceipt['receipt']> = {}, payer = 'key:a'): SignedReceipt {
  return {
    receipt: {
      channelId: keccak256(toHex(`channel-${i % 3}`)),
      adapterId: keccak256(toHex(`adapter-${i % 2}`)),
      requestId: keccak256(toHex(`request-${i}`)),
      seq,
      promptTokens: 10 + i,
      completionTokens: 5,
      amount: 1000n * BigInt(i + 1),
      laneCharged: 10n ** 20n + BigInt(i),
      voucherDigest: ZERO,
      attributionDigest: ZERO,
      timestamp: 1_700_000_000n + BigInt(i),
      ...over,
    },
    node: '0x1111111111111111111111111111111111111111',
    payer,
    digest: keccak256(toHex(`digest-${i}`)),
    signature: `0x${'ab'.repeat(65)}`,
  };
}

/** Allocates `n` seqs and writes a receipt for each (receipts `from`..`from+n-1`). */
async function fill(ledger: ReceiptLedger, n: number, from = 0): Promise<bigint[]> {
  const seqs: bigint[] = [];
  for (let i = 0; i < n; i++) seqs.push(await ledger.nextSeq());
  ledger.write(seqs.map((s, i) => receipt(s, from + i)));
  return seqs;
}

describe('receipt ledger', () => {
  it('stores receipts durably with exact bigints, nonces and lane totals, and reads them back', async () => {
    const path = tmp();
    const ledger = createReceiptLedger(openLedgerDatabase(path));
    const seqs = await fill(ledger, 50);
    expect(ledger.count()).toBe(50);
    const withNonce = { ...receipt(await ledger.nextSeq(), 77), nonce: 'client-nonce-1' };
    ledger.write([withNonce]);
    const reopened = createReceiptLedger(openLedgerDatabase(path));
    expect(reopened.get(seqs[6])).toEqual(receipt(seqs[6], 6));
    expect(reopened.getByRequestId(withNonce.receipt.requestId)).toEqual(withNonce);
    expect(reopened.laneCharged(receipt(0n, 49).receipt.channelId, receipt(0n, 49).receipt.adapterId)).toBe(10n ** 20n + 49n);
    expect(new DatabaseSync(path).prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
  });

  it('writes a batch all or nothing', async () => {
    const ledger = createReceiptLedger(openLedgerDatabase(tmp()));
    const a = receipt(await ledger.nextSeq(), 1);
    const dup = receipt(await ledger.nextSeq(), 1); // same request id
    expect(() => ledger.write([a, dup])).toThrow(expect.objectContaining({ code: 'OPENLORA_LEDGER_WRITE' }));
    expect(ledger.count()).toBe(0);
    expect(ledger.laneCharged(a.receipt.channelId, a.receipt.adapterId)).toBe(0n);
  });

  it('pages and filters by channel, payer, adapter and time; finds the tail after an acknowledged amount', async () => {
    const ledger = createReceiptLedger(openLedgerDatabase(tmp()));
    const seqs: bigint[] = [];
    for (let i = 0; i < 30; i++) {
      const s = await ledger.nextSeq();
      seqs.push(s);
      ledger.write([receipt(s, i, { channelId: keccak256(toHex(`channel-${i % 3}`)), laneCharged: BigInt(i + 1) * 7n }, i < 10 ? 'key:a' : 'key:b')]);
    }
    const page1 = ledger.list({ limit: 12 });
    expect(page1.receipts.map((r) => r.receipt.seq)).toEqual(seqs.slice(0, 12));
    const page3 = ledger.list({ limit: 12, after: ledger.list({ limit: 12, after: page1.next }).next });
    expect(page3.receipts.length).toBe(6);
    expect(page3.next).toBeUndefined();
    const channel = receipt(0n, 1).receipt.channelId;
    expect(ledger.list({ channelId: channel }).receipts.every((r) => r.receipt.channelId === channel)).toBe(true);
    expect(ledger.list({ channelId: channel }).receipts.length).toBe(10);
    expect(ledger.list({ payer: 'key:a' }).receipts.length).toBe(10);
    expect(ledger.list({ adapterId: receipt(0n, 0).receipt.adapterId, payer: 'key:b' }).receipts.length).toBe(10);
    expect(ledger.list({ from: 1_700_000_005, to: 1_700_000_009 }).receipts.length).toBe(5);
    // Lane (channel-1, adapter-1): receipts 1, 7, 13, 19, 25 with laneCharged 14, 56, 98, 140, 182.
    const lane = [receipt(0n, 1).receipt.channelId, receipt(0n, 1).receipt.adapterId] as const;
    expect(ledger.laneCharged(...lane)).toBe(182n);
    expect(ledger.tailCursor(...lane, 100n)).toBe(seqs[13]); // decimal strings compared as numbers: 98 <= 100 < 140
    expect(ledger.tailCursor(...lane, 10n)).toBeUndefined();
    expect(ledger.channelLanes(lane[0]).find((l) => l.adapterId === lane[1])?.charged).toBe(182n);
  });

  it('upgrades a version-4 ledger: its receipts kept, the peer tables that moved to p2p.db dropped', async () => {
    const path = tmp();
    const raw = new DatabaseSync(path);
    MIGRATIONS.slice(0, 4).forEach((sql) => raw.exec(sql));
    raw.exec('PRAGMA user_version = 4');
    await fill(createReceiptLedger(raw), 3); // version 4's receipts tables are version 5's
    raw.close();
    openLedgerDatabase(path).close();
    const after = new DatabaseSync(path);
    const tables = (after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    expect(tables).toEqual(expect.arrayContaining(['receipts', 'lane_charges']));
    expect(tables.filter((t) => ['peer_receipts', 'equivocations', 'settlement_flags'].includes(t))).toEqual([]);
    expect((after.prepare('SELECT count(*) AS n FROM receipts').get() as { n: number }).n).toBe(3);
    expect(Number((after.prepare('PRAGMA user_version').get() as { user_version: number }).user_version)).toBe(MIGRATIONS.length);
    after.close();
  });

  it('refuses a database from a newer schema', () => {
    const path = tmp();
    openLedgerDatabase(path).close();
    const raw = new DatabaseSync(path);
    raw.exec('PRAGMA user_version = 999');
    raw.close();
    expect(() => openLedgerDatabase(path)).toThrow(LedgerVersionError);
  });

  it('refuses a damaged ledger with a hint that works (move it aside, start again)', async () => {
    const path = tmp();
    const ledger = createReceiptLedger(openLedgerDatabase(path));
    await fill(ledger, 400);
    const db = new DatabaseSync(path);
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    db.close();
    // Scribble over the middle of the receipts table's pages.
    const size = readFileSync(path).length;
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, Math.floor(size / 2 / 4096) * 4096 + 100);
    closeSync(fd);
    let error: unknown;
    try {
      openLedgerDatabase(path);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LedgerCorruptError);
    const hint = (error as LedgerCorruptError).hint!;
    const mv = /`mv (\S+) (\S+)`/.exec(hint)!;
    expect(mv[1]).toBe(path);
    renameSync(mv[1], mv[2]); // follow the hint
    expect(createReceiptLedger(openLedgerDatabase(path)).count()).toBe(0);
  });
});

describe('receipt seqs survive a lost disk', () => {
  it('never hands out a seq twice across restarts, even when the process dies before writing', async () => {
    const path = tmp();
    const first = createReceiptLedger(openLedgerDatabase(path));
    const handedOut = [await first.nextSeq(), await first.nextSeq(), await first.nextSeq()];
    first.write([receipt(handedOut[0], 0)]); // the other two were signed but never stored (crash)
    const second = createReceiptLedger(openLedgerDatabase(path));
    const after = await second.nextSeq();
    expect(after > handedOut[2]).toBe(true);
    second.write([receipt(after, 1)]);
    const third = createReceiptLedger(openLedgerDatabase(path));
    expect((await third.nextSeq()) > after).toBe(true);
  });

  it('a wiped data directory and a restored old backup both start above every seq used before', async () => {
    const path = tmp();
    const original = createReceiptLedger(openLedgerDatabase(path));
    const early = await fill(original, 10);
    const backup = `${path}.backup`;
    const db = new DatabaseSync(path);
    db.exec(`VACUUM INTO '${backup}'`); // the operator's backup
    db.close();
    const later = await fill(original, SEQS_PER_EPOCH + 5, 10); // crosses into a second epoch
    expect(seqEpoch(later.at(-1)!)).toBeGreaterThan(seqEpoch(early[0]));
    const used = [...early, ...later];
    const maxUsed = used.reduce((m, s) => (s > m ? s : m), 0n);
    expect(new Set(used).size).toBe(used.length);

    const wiped = createReceiptLedger(openLedgerDatabase(tmp())); // same key, empty disk
    expect((await wiped.nextSeq()) > maxUsed).toBe(true);
    copyFileSync(backup, `${path}.restored`);
    const restored = createReceiptLedger(openLedgerDatabase(`${path}.restored`)); // knows only the first 10
    expect(restored.count()).toBe(10);
    expect((await restored.nextSeq()) > maxUsed).toBe(true);
  });

  it('waits out a clock a little behind its last epoch, and refuses to start when it is far behind', async () => {
    const path = tmp();
    const ledger = createReceiptLedger(openLedgerDatabase(path));
    const last = await ledger.nextSeq();
    const lag = 300;
    const behind = createReceiptLedger(openLedgerDatabase(path), { now: () => Date.now() - lag });
    const started = Date.now();
    const next = await behind.nextSeq();
    expect(next > last).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(lag - 50);
    expect(() => createReceiptLedger(openLedgerDatabase(path), { now: () => Date.now() - 60_000 })).toThrow(LedgerClockBehindError);
  });

  it('upgrades a ledger written before seq epochs: lane totals backfilled, new seqs above the old ones', async () => {
    const path = tmp();
    const db = openLedgerDatabase(path);
    db.exec('DROP TABLE lane_charges; ALTER TABLE receipts DROP COLUMN request_nonce; PRAGMA user_version = 3');
    db.prepare("INSERT INTO meta (key, value) VALUES ('seq_reserved', '512')").run();
    const old = [receipt(1n, 0, { laneCharged: 5n }), receipt(3n, 2, { channelId: receipt(0n, 0).receipt.channelId, adapterId: receipt(0n, 0).receipt.adapterId, laneCharged: 9n })];
    const insert = db.prepare('INSERT INTO receipts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    for (const s of old) {
      const r = s.receipt;
      insert.run(r.seq, s.node, r.requestId, r.channelId, r.adapterId, s.payer, r.promptTokens, r.completionTokens, r.amount.toString(), r.laneCharged.toString(), r.voucherDigest, r.attributionDigest, r.timestamp, s.digest, s.signature);
    }
    db.close();
    const upgraded = createReceiptLedger(openLedgerDatabase(path));
    expect(upgraded.laneCharged(receipt(0n, 0).receipt.channelId, receipt(0n, 0).receipt.adapterId)).toBe(9n);
    expect((await upgraded.nextSeq()) > 512n).toBe(true);
    expect(upgraded.get(3n)?.receipt.laneCharged).toBe(9n);
  });
});
