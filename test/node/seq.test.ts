/**
 * A node key never signs two different receipts with one seq, whatever happens to the data
 * directory: wiped, restored from an old backup, or claimed by a second node while in use.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { DataDirLockedError } from '../../src/node/errors.ts';
import { makeTempDir } from '../fixtures/model.ts';
import { startTestNode, type TestNode } from '../fixtures/node.ts';

describe('receipt seqs across lost and shared data directories', () => {
  it('no two different receipts with one seq after a wipe, a restored old backup, and a refused second node', async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const signed = new Map<string, string>(); // seq -> receipt digest, over every receipt the key signed
    let requests = 0;
    const use = async (t: TestNode, n: number) => {
      for (let i = 0; i < n; i++) {
        const response = await fetch(`${t.node.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'coder', prompt: `request ${requests}`, max_tokens: 2, temperature: 0 }) });
        expect(response.status).toBe(200);
        const { digest, receipt } = JSON.parse(Buffer.from(response.headers.get('x-openlora-receipt')!, 'base64').toString()) as { digest: string; receipt: { seq: string } };
        expect(signed.get(receipt.seq) ?? digest, `seq ${receipt.seq} signed twice`).toBe(digest);
        signed.set(receipt.seq, digest);
        requests++;
      }
    };
    const original = await makeTempDir('openlora-seq-a-');
    const backup = await makeTempDir('openlora-seq-backup-');
    let t = await startTestNode({ dataDir: original, account });
    await use(t, 3);
    await expect(startTestNode({ dataDir: original, account })).rejects.toThrow(DataDirLockedError); // a second node on the same directory
    const db = new DatabaseSync(join(original, 'ledger.db'));
    db.exec(`VACUUM INTO '${join(backup, 'ledger.db')}'`); // the operator's backup
    db.close();
    await use(t, 3);
    await t.node.stop();

    t = await startTestNode({ dataDir: await makeTempDir('openlora-seq-wiped-'), account }); // the disk was lost
    await use(t, 3);
    await t.node.stop();

    t = await startTestNode({ dataDir: backup, account }); // restored from the old backup
    expect(t.node.ledger.count()).toBe(3);
    await use(t, 3);
    await t.node.stop();

    t = await startTestNode({ dataDir: original, account }); // and the original directory again
    await use(t, 3);
    await t.node.stop();
    expect(signed.size).toBe(requests);
  });
});
