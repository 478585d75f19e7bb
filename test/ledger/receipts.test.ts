import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { keccak256, toHex, type Hex } from 'viem';
import { openLedgerDatabase } from '../../src/ledger/db.ts';
import { LedgerVersionError } from '../../src/ledger/errors.ts';
import { createReceiptLedger, type SignedReceipt } from '../../src/ledger/receipts.ts';

const ZERO = `0x${'0'.repeat(64)}` as Hex;
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

describe('receipt ledger', () => {
  it('stores receipts durably with exact bigints and reads them back', async () => {
    const path = tmp();
    const ledger = createReceiptLedger(openLedgerDatabase(path));
    const writes = Array.from({ length: 50 }, (_, i) => ledger.append(receipt(ledger.nextSeq(), i)));
    await Promise.all(writes);
    expect(ledger.count()).toBe(50);
    const reopened = createReceiptLedger(openLedgerDatabase(path));
    expect(reopened.get(7n)).toEqual(receipt(7n, 6));
    expect(reopened.getByRequestId(receipt(0n, 49).receipt.requestId)?.receipt.seq).toBe(50n);
    expect(new DatabaseSync(path).prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
  });

  it('never hands out a seq twice, even when the process dies before writing', async () => {
    const path = tmp();
    const first = createReceiptLedger(openLedgerDatabase(path));
    const handedOut = [first.nextSeq(), first.nextSeq(), first.nextSeq()];
    await first.append(receipt(handedOut[0], 0)); // the other two were signed but never stored (crash)
    const second = createReceiptLedger(openLedgerDatabase(path));
    const after = second.nextSeq();
    expect(after > handedOut[2]).toBe(true);
    await second.append(receipt(after, 1));
    const third = createReceiptLedger(openLedgerDatabase(path));
    expect(third.nextSeq() > after).toBe(true);
  });

  it('pages and filters by channel, payer, adapter and time', async () => {
    const ledger = createReceiptLedger(openLedgerDatabase(tmp()));
    for (let i = 0; i < 30; i++) await ledger.append(receipt(ledger.nextSeq(), i, {}, i < 10 ? 'key:a' : 'key:b'));
    const page1 = ledger.list({ limit: 12 });
    expect(page1.receipts.map((r) => r.receipt.seq)).toEqual(Array.from({ length: 12 }, (_, i) => BigInt(i + 1)));
    const page3 = ledger.list({ limit: 12, after: ledger.list({ limit: 12, after: page1.next }).next });
    expect(page3.receipts.length).toBe(6);
    expect(page3.next).toBeUndefined();
    const channel = receipt(0n, 1).receipt.channelId;
    expect(ledger.list({ channelId: channel }).receipts.every((r) => r.receipt.channelId === channel)).toBe(true);
    expect(ledger.list({ channelId: channel }).receipts.length).toBe(10);
    expect(ledger.list({ payer: 'key:a' }).receipts.length).toBe(10);
    expect(ledger.list({ adapterId: receipt(0n, 0).receipt.adapterId, payer: 'key:b' }).receipts.length).toBe(10);
    expect(ledger.list({ from: 1_700_000_005, to: 1_700_000_009 }).receipts.length).toBe(5);
  });

  it('rejects a duplicate request id without losing the rest of the batch', async () => {
    const ledger = createReceiptLedger(openLedgerDatabase(tmp()));
    const a = receipt(ledger.nextSeq(), 1);
    const dup = receipt(ledger.nextSeq(), 1);
    const c = receipt(ledger.nextSeq(), 2);
    const results = await Promise.allSettled([ledger.append(a), ledger.append(dup), ledger.append(c)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.code).toBe('OPENLORA_LEDGER_WRITE');
    expect(ledger.count()).toBe(2);
  });

  it('refuses a database from a newer schema', () => {
    const path = tmp();
    openLedgerDatabase(path).close();
    const raw = new DatabaseSync(path);
    raw.exec('PRAGMA user_version = 999');
    raw.close();
    expect(() => openLedgerDatabase(path)).toThrow(LedgerVersionError);
  });
});
