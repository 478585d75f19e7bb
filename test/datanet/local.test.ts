import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addContribution, contributionHash, createDatanetDir, loadDatanet } from '../../src/datanet/local.ts';
import { readDatanetManifest } from '../../src/datanet/manifest.ts';
import { makeTempDir } from '../fixtures/model.ts';

const ALICE = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const bytes = (t: string) => new TextEncoder().encode(t);
const count = (t: string) => t.split(/\s+/).filter(Boolean).length;

describe('Datanet files', () => {
  it('creates a Datanet, adds texts by content hash and loads them back checked', async () => {
    const dir = join(await makeTempDir('openlora-datanet-'), 'd');
    await createDatanetDir({ dir, name: 'poems', version: '2.0.0' });
    const c = await addContribution({ dir, bytes: bytes('roses are red'), contributor: ALICE, license: 'CC0-1.0', countTokens: count });
    expect(c).toMatchObject({ contributor: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', contentHash: contributionHash(bytes('roses are red')), tokenCount: 3, license: 'CC0-1.0' });
    expect(await readFile(join(dir, c.file), 'utf8')).toBe('roses are red');
    const loaded = await loadDatanet({ dir });
    expect(loaded.manifest).toMatchObject({ name: 'poems', version: '2.0.0' });
    expect(loaded.contributions).toMatchObject([{ index: 0, text: 'roses are red', contributor: c.contributor }]);
    await expect(createDatanetDir({ dir, name: 'again', version: '1' })).rejects.toMatchObject({ code: 'OPENLORA_DATANET_MANIFEST_INVALID' });
  });

  it('refuses empty texts, duplicates and bad addresses', async () => {
    const dir = await makeTempDir('openlora-datanet-');
    await createDatanetDir({ dir, name: 'n', version: '1' });
    await expect(addContribution({ dir, bytes: bytes('   '), contributor: ALICE, license: 'x', countTokens: count })).rejects.toMatchObject({ code: 'OPENLORA_DATANET_CONTRIBUTION_INVALID' });
    await expect(addContribution({ dir, bytes: bytes('a b'), contributor: '0x123', license: 'x', countTokens: count })).rejects.toMatchObject({ code: 'OPENLORA_DATANET_CONTRIBUTION_INVALID' });
    await addContribution({ dir, bytes: bytes('a b'), contributor: ALICE, license: 'x', countTokens: count });
    await expect(addContribution({ dir, bytes: bytes('a b'), contributor: ALICE, license: 'x', countTokens: count })).rejects.toMatchObject({ code: 'OPENLORA_DATANET_CONTRIBUTION_INVALID' });
    expect((await readDatanetManifest(dir)).contributions).toHaveLength(1);
  });

  it('catches a changed text (naming its contributor), an empty Datanet and a broken manifest', async () => {
    const dir = await makeTempDir('openlora-datanet-');
    await expect(loadDatanet({ dir })).rejects.toMatchObject({ code: 'OPENLORA_DATANET_MANIFEST_INVALID' });
    await createDatanetDir({ dir, name: 'n', version: '1' });
    await expect(loadDatanet({ dir })).rejects.toMatchObject({ code: 'OPENLORA_DATANET_EMPTY' });
    const c = await addContribution({ dir, bytes: bytes('one two'), contributor: ALICE, license: 'x', countTokens: count });
    await writeFile(join(dir, c.file), 'one three');
    await expect(loadDatanet({ dir })).rejects.toMatchObject({ code: 'OPENLORA_DATANET_HASH_MISMATCH', meta: { contributor: c.contributor, where: 'manifest' } });
    const collected = await loadDatanet({ dir, collectProblems: true });
    expect(collected.problems.map((p) => p.contributor)).toEqual([c.contributor]);
    await writeFile(join(dir, 'datanet.json'), JSON.stringify({ name: 'n', version: '1', contributions: [{ contributor: ALICE }] }));
    await expect(loadDatanet({ dir })).rejects.toMatchObject({ code: 'OPENLORA_DATANET_MANIFEST_INVALID' });
  });
});
