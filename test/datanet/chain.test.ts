/**
 * Datanet registration on a real chain (issue 14): contributions are recorded for their
 * contributors only, by their own key or by the curator with their signature (`signContributions`
 * then `publishDatanet`); a front-runner who records someone's content hash first neither takes
 * nor blocks it, and `checkDatanetOnChain` still passes for the whole Datanet.
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Account, Chain as ViemChain, Transport, WalletClient } from 'viem';
import type { ChainContext } from '../../src/chain/context.ts';
import { checkDatanetOnChain, publishDatanet, signContributions } from '../../src/datanet/chain.ts';
import { loadDatanet } from '../../src/datanet/local.ts';
import { CONTRIBUTORS, writeSampleDatanet } from '../attribution/fixture.ts';
import { setupChain, type Chain } from '../contracts/fixture.ts';
import { createTinyModel, makeTempDir } from '../fixtures/model.ts';

const CURATOR = 0;
const ATTACKER = 4;

describe('Datanet contributions on-chain', () => {
  let c: Chain;
  let dir: string;
  let ctx: (i: number) => ChainContext;

  beforeAll(async () => {
    c = await setupChain();
    ctx = (i) => ({ publicClient: c.publicClient, walletClient: c.wallets[i] as unknown as WalletClient<Transport, ViemChain, Account>, deployment: c.deployment });
    dir = await writeSampleDatanet({ model: await createTinyModel(), dir: join(await makeTempDir('openlora-datanet-chain-'), 'dn') }); // contributors: accounts 1, 2, 3
  });

  it('survives a front-runner; the curator registers signed contributions; a forged signature sends nothing', async () => {
    const created = await publishDatanet({ dir, ctx: ctx(CURATOR) });
    expect(created).toMatchObject({ created: true, submitted: [] });
    expect(created.pending).toHaveLength(6);
    const datanet = await loadDatanet({ dir });
    // The attack of issue 14: someone records contributor 1's first text before they do.
    const target = datanet.contributions[0];
    await c.wait(c.as(ATTACKER).datanetRegistry.write.contribute([created.datanetId, target.contentHash, BigInt(target.tokenCount)]));

    // Contributors 1 and 2 sign their texts into the manifest; nothing is sent.
    const blockBefore = await c.publicClient.getBlockNumber();
    expect((await signContributions({ dir, ctx: ctx(1) })).signed.map((x) => x.contributor)).toEqual([CONTRIBUTORS[0], CONTRIBUTORS[0]]);
    expect((await signContributions({ dir, ctx: ctx(2) })).signed).toHaveLength(2);
    expect(await c.publicClient.getBlockNumber()).toBe(blockBefore);

    // A copy whose contributor-2 signature was made by someone else: refused, naming the file, before any transaction.
    const forged = await makeTempDir('openlora-datanet-forged-');
    await cp(dir, forged, { recursive: true });
    const manifest = JSON.parse(await readFile(join(forged, 'datanet.json'), 'utf8'));
    manifest.contributions[2].signature = manifest.contributions[0].signature;
    await writeFile(join(forged, 'datanet.json'), JSON.stringify(manifest));
    await expect(publishDatanet({ dir: forged, ctx: ctx(CURATOR) })).rejects.toMatchObject({ code: 'OPENLORA_DATANET_CONTRIBUTION_INVALID', meta: { contributor: CONTRIBUTORS[1], file: manifest.contributions[2].file } });
    expect(await c.publicClient.getBlockNumber()).toBe(blockBefore);

    // The curator registers the four signed texts for their contributors; contributor 3 publishes its own.
    const byCurator = await publishDatanet({ dir, ctx: ctx(CURATOR) });
    expect(byCurator.submitted).toHaveLength(4);
    expect(byCurator.pending.map((x) => x.contributor)).toEqual([CONTRIBUTORS[2], CONTRIBUTORS[2]]);
    expect((await publishDatanet({ dir, ctx: ctx(3) })).submitted).toHaveLength(2);

    const check = await checkDatanetOnChain(ctx(CURATOR), await loadDatanet({ dir }));
    expect(check).toMatchObject({ pending: [], problems: [] });
    expect(check.registered).toHaveLength(6);
    const [registered, , tokenCount] = await c.contracts.datanetRegistry.read.contributionBy([created.datanetId, CONTRIBUTORS[0], target.contentHash]);
    expect([registered, tokenCount]).toEqual([true, BigInt(target.tokenCount)]);
  });
});
