/**
 * The P2P store: receipts of followed nodes' batches, equivocations among them, usage per adapter
 * summed exactly, quotas per node and in all, retention, and a database file a power cut broke.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keccak256, toHex, type Address } from 'viem';
import { describe, expect, it } from 'vitest';
import type { UsageReceipt } from '../../src/chain/eip712.ts';
import { openPeerDatabase } from '../../src/ledger/peerDatabase.ts';
import { createPeerReceiptStore, type NewPeerReceipt } from '../../src/ledger/peerReceipts.ts';
import { decodeBatchEntry, encodeBatchEntry } from '../../src/p2p/batchCodec.ts';
import { id, receipt as makeReceipt } from '../contracts/fixture.ts';

const A = '0x00000000000000000000000000000000000000aA' as Address;
const B = '0x00000000000000000000000000000000000000bB' as Address;
const decode = (e: Uint8Array) => {
  const d = decodeBatchEntry(e);
  if (!d.ok) throw new Error(d.reason);
  return d.value.receipt;
};
const entry = (r: UsageReceipt, status: NewPeerReceipt['status'] = 'backed'): NewPeerReceipt => ({ digest: keccak256(encodeBatchEntry({ receipt: r })), receipt: r, message: encodeBatchEntry({ receipt: r }), status });
const batchOf = (seq: bigint, receipts: NewPeerReceipt[]) => ({ batchSeq: seq, root: keccak256(toHex(`${seq}:${receipts.map((r) => r.digest).join()}`)), count: receipts.length, timestamp: 1n });

function fresh(options = { perNode: 1_000, total: 1_000, retentionMs: 3_600_000 }) {
  const db = openPeerDatabase(':memory:');
  return { db, store: createPeerReceiptStore(db, decode, options) };
}

function add(store: ReturnType<typeof fresh>['store'], node: Address, batchSeq: bigint, receipts: NewPeerReceipt[], at = Date.now()) {
  const batch = batchOf(batchSeq, receipts);
  store.addHeader(node, batch, new Uint8Array(320), at);
  return store.addBatchReceipts(node, batch, receipts, at);
}

describe('P2P store', () => {
  it('keeps both receipts of one (node, seq) and reports the equivocation; serves batches back in order', () => {
    const { store } = fresh();
    const first = [entry(makeReceipt({ seq: 1n, amount: 5n })), entry(makeReceipt({ seq: 2n }))];
    expect(add(store, A, 10n, first)).toEqual([]);
    expect(store.body(A, 10n, batchOf(10n, first).root)).toEqual(first.map((r) => r.message));
    expect(store.leaves(A, 10n, batchOf(10n, first).root)).toEqual(first.map((r) => r.digest));
    const liar = entry(makeReceipt({ seq: 1n, amount: 6n }));
    const found = add(store, A, 11n, [liar]);
    expect(found).toHaveLength(1);
    expect(found[0].conflicting.digest).toBe(first[0].digest);
    expect(found[0].stored.digest).toBe(liar.digest);
    expect(store.get(A, 1n).map((r) => r.digest).sort()).toEqual([first[0].digest, liar.digest].sort());
    // The same receipt in another batch is no equivocation.
    expect(add(store, A, 12n, [first[1]])).toEqual([]);
  });

  it('sums usage per adapter exactly, and counts only voucher-backed receipts in lane totals', () => {
    const { store } = fresh();
    const big = 10n ** 30n;
    add(store, A, 1n, [
      entry(makeReceipt({ seq: 1n, adapterId: id('x'), amount: big, laneCharged: big, promptTokens: 3, completionTokens: 4 })),
      entry(makeReceipt({ seq: 2n, adapterId: id('x'), amount: big + 1n, laneCharged: 2n * big + 1n, promptTokens: 5, completionTokens: 6 })),
      entry(makeReceipt({ seq: 3n, adapterId: id('x'), amount: 7n, laneCharged: 2n * big + 8n }), 'refused'),
    ]);
    expect(store.usage(A).find((u) => u.status === 'backed')).toEqual({ adapterId: id('x'), status: 'backed', receipts: 2, promptTokens: 8, completionTokens: 10, amount: 2n * big + 1n });
    expect(store.usage(A).find((u) => u.status === 'refused')?.amount).toBe(7n);
    const lane = store.laneTotals(id('channel'), id('x'));
    expect(lane).toEqual({ amount: 2n * big + 1n, maxLaneCharged: 2n * big + 1n, count: 2, fromStart: true });
  });

  it('holds at most its quota per node and in all, oldest batches first, and nothing past the retention age', () => {
    const { store } = fresh({ perNode: 4, total: 6, retentionMs: 60_000 });
    const now = Date.now();
    let seq = 0n;
    const receipts = (n: number) => Array.from({ length: n }, () => entry(makeReceipt({ seq: ++seq })));
    for (let b = 1n; b <= 4n; b++) add(store, A, b, receipts(2), now - 1000 + Number(b));
    add(store, B, 1n, receipts(3), now);
    expect(store.count()).toBe(11);
    expect(store.prune(now)).toBe(6); // A: 8 -> 4 (its two oldest batches); then 7 in all > 6 drops the oldest left (A's third)
    expect(store.count()).toBe(5);
    expect(store.get(A, 1n)).toEqual([]);
    expect(store.get(A, 7n)).toHaveLength(1);
    expect(store.headers(A, 1n)).toEqual([]);
    expect(store.prune(now + 61_000)).toBe(5);
    expect(store.count()).toBe(0);
  });

  it('moves a database file it cannot read aside and starts anew', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'openlora-p2pdb-'));
    const file = join(dir, 'p2p.db');
    const first = openPeerDatabase(file);
    const store = createPeerReceiptStore(first, decode, { perNode: 10, total: 10, retentionMs: 60_000 });
    add(store, A, 1n, [entry(makeReceipt({ seq: 1n }))]);
    first.close();
    writeFileSync(file, Buffer.alloc(8192, 0x5a)); // what a torn write could leave
    const moved: string[] = [];
    const again = openPeerDatabase(file, (to) => moved.push(to));
    expect(moved).toHaveLength(1);
    expect(existsSync(moved[0])).toBe(true);
    expect(createPeerReceiptStore(again, decode, { perNode: 10, total: 10, retentionMs: 60_000 }).count()).toBe(0);
    expect(readdirSync(dir).some((f) => f.startsWith('p2p.db.corrupt-'))).toBe(true);
    again.close();
  });
});

