/**
 * Proof of Attribution end to end on Hardhat's in-process chain: Datanet registered by curator and
 * contributors, adapter registered, weights computed by the engine and published, verified (and
 * tampering caught), paid through a real PaymentChannels settlement, and claimed to the wei.
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { zeroHash, type Account, type Chain as ViemChain, type Hex, type Transport, type WalletClient } from 'viem';
import { publishDevAttribution } from '../../src/attribution/dev.ts';
import { computeAttribution } from '../../src/attribution/compute.ts';
import { publishAttribution } from '../../src/attribution/publish.ts';
import { registerAdapterOnChain } from '../../src/attribution/register.ts';
import type { AttributionReport } from '../../src/attribution/report.ts';
import { claimRewards, rewardsOf } from '../../src/attribution/rewards.ts';
import { verifyAttribution } from '../../src/attribution/verify.ts';
import { buildAttributionTree } from '../../src/chain/merkle.ts';
import { signVoucher } from '../../src/chain/eip712.ts';
import { splitPayment } from '../../src/chain/split.ts';
import type { ChainContext } from '../../src/chain/context.ts';
import { publishDatanet } from '../../src/datanet/chain.ts';
import { contributionHash, createDatanetDir } from '../../src/datanet/local.ts';
import { createAdapter } from '../../src/lora/create.ts';
import { setupChain, TOKEN, id, type Chain } from '../contracts/fixture.ts';
import { createTinyModel, makeTempDir } from '../fixtures/model.ts';
import { CONTRIBUTORS, setupAttribution } from './fixture.ts';

const OWNER = 0;
const NODE = 5;
const PAYER = 6;
const TREASURY = 9;
const FEE_BPS = 200;
const ROYALTY_BPS = 1500;
const CONTRIBUTOR_BPS = 4000;

describe('attribution on-chain', () => {
  let c: Chain;
  let s: Awaited<ReturnType<typeof setupAttribution>>;
  let ctx: (i: number) => ChainContext;
  let datanetId: bigint;
  let adapterId: Hex;
  let report: AttributionReport;

  beforeAll(async () => {
    c = await setupChain({ protocolFeeBps: FEE_BPS });
    s = await setupAttribution({ contributors: CONTRIBUTORS });
    ctx = (i) => ({ publicClient: c.publicClient, walletClient: c.wallets[i] as unknown as WalletClient<Transport, ViemChain, Account>, deployment: c.deployment });
    const created = await publishDatanet({ dir: s.datanet, ctx: ctx(OWNER) });
    expect(created.created).toBe(true);
    expect(created.pending).toHaveLength(6); // each contributor registers their own texts
    for (const i of [1, 2, 3]) expect((await publishDatanet({ dir: s.datanet, ctx: ctx(i) })).submitted).toHaveLength(2);
    datanetId = created.datanetId;
    ({ adapterId } = await registerAdapterOnChain({ ctx: ctx(OWNER), adapter: s.adapter, model: s.model, datanetIds: [datanetId], royaltyBps: ROYALTY_BPS, contributorBps: CONTRIBUTOR_BPS }));
    report = await computeAttribution({ model: s.model, adapter: s.adapter, datanets: [s.datanet], adapterId, chain: ctx(OWNER) });
  });

  it('publishes the computed root, which verifies exactly', async () => {
    expect(report.adapterId).toBe(adapterId);
    const r = await publishAttribution({ ctx: ctx(OWNER), report });
    expect(r.sent).toBe(true);
    const [root, total] = await c.contracts.adapterRegistry.read.attributionOf([adapterId]);
    expect(root).toBe(report.root);
    expect(total).toBe(BigInt(report.totalWeight));
    const v = await verifyAttribution({ published: report, model: s.model, adapter: s.adapter, datanets: [s.datanet], chain: ctx(OWNER) });
    expect(v).toMatchObject({ ok: true, exact: true, differences: [], fileProblems: [], rootMismatch: false });
  });

  it('names the contributor whose published weight or file was tampered with', async () => {
    const leaves = report.contributors.filter((x) => BigInt(x.weight) > 0n).map((x) => ({ contributor: x.contributor, weight: x.contributor === CONTRIBUTORS[1] ? BigInt(x.weight) * 2n : BigInt(x.weight) }));
    const tree = buildAttributionTree({ adapterId, leaves });
    const tampered: AttributionReport = { ...report, root: tree.root, totalWeight: tree.totalWeight.toString(), tree: tree.tree.dump() };
    const v = await verifyAttribution({ published: tampered, model: s.model, adapter: s.adapter, datanets: [s.datanet], chain: ctx(OWNER) });
    expect(v.ok).toBe(false);
    expect(v.rootMismatch).toBe(true);
    expect(v.differences.map((d) => d.contributor)).toEqual([CONTRIBUTORS[1]]);

    const copy = await makeTempDir('openlora-tampered-');
    await cp(s.datanet, copy, { recursive: true });
    const manifest = JSON.parse(await readFile(join(copy, 'datanet.json'), 'utf8'));
    await writeFile(join(copy, manifest.contributions[5].file), '17,4,9.99\n18,12,0.45\n');
    const w = await verifyAttribution({ published: report, model: s.model, adapter: s.adapter, datanets: [copy], chain: ctx(OWNER) });
    expect(w.ok).toBe(false);
    expect(w.fileProblems.map((x) => x.contributor)).toEqual([CONTRIBUTORS[2]]);
  });

  it('refuses a file that disagrees with the chain, an adapter of another base model and an empty Datanet, publishing nothing', async () => {
    // File and manifest both edited: the manifest check passes, the chain's hash does not.
    const copy = await makeTempDir('openlora-rehashed-');
    await cp(s.datanet, copy, { recursive: true });
    const manifest = JSON.parse(await readFile(join(copy, 'datanet.json'), 'utf8'));
    const text = new TextEncoder().encode('the cat sat on the mat and the cat sat on the mat.');
    await writeFile(join(copy, manifest.contributions[0].file), text);
    manifest.contributions[0].contentHash = contributionHash(text);
    manifest.contributions[0].tokenCount = text.length;
    await writeFile(join(copy, 'datanet.json'), JSON.stringify(manifest));
    await expect(computeAttribution({ model: s.model, adapter: s.adapter, datanets: [copy], adapterId, chain: ctx(OWNER) }))
      .rejects.toMatchObject({ code: 'OPENLORA_DATANET_HASH_MISMATCH', meta: { contributor: CONTRIBUTORS[0], where: 'chain' } });

    // An adapter registered for another base model (same shapes, other weights).
    const otherModel = await createTinyModel({ seed: 2 });
    const foreignDir = join(await makeTempDir('openlora-foreign-'), 'adapter');
    await createAdapter({ model: otherModel, rank: 2, seed: 3, out: foreignDir });
    const foreign = await registerAdapterOnChain({ ctx: ctx(OWNER), adapter: foreignDir, model: otherModel, datanetIds: [datanetId], royaltyBps: ROYALTY_BPS, contributorBps: CONTRIBUTOR_BPS });
    await expect(computeAttribution({ model: s.model, adapter: foreignDir, datanets: [s.datanet], adapterId: foreign.adapterId, chain: ctx(OWNER) }))
      .rejects.toMatchObject({ code: 'OPENLORA_ATTRIBUTION_BASE_MODEL_MISMATCH' });
    const offline = await computeAttribution({ model: s.model, adapter: foreignDir, datanets: [s.datanet], adapterId: foreign.adapterId });
    expect(offline.root).not.toBeNull();
    await expect(publishAttribution({ ctx: ctx(OWNER), report: offline })).rejects.toMatchObject({ code: 'OPENLORA_ATTRIBUTION_BASE_MODEL_MISMATCH' });
    expect((await c.contracts.adapterRegistry.read.attributionOf([foreign.adapterId]))[1]).toBe(0n);

    const empty = await makeTempDir('openlora-empty-');
    await createDatanetDir({ dir: empty, name: 'empty', version: '1' });
    const before = await c.contracts.datanetRegistry.read.datanetCount();
    await expect(publishDatanet({ dir: empty, ctx: ctx(OWNER) })).rejects.toMatchObject({ code: 'OPENLORA_DATANET_EMPTY' });
    expect(await c.contracts.datanetRegistry.read.datanetCount()).toBe(before);
  });

  it('publishDevAttribution registers the sample Datanet and adapters and publishes real computed roots', async () => {
    const dir = await makeTempDir('openlora-dev-');
    const random = join(dir, 'random-adapter');
    await createAdapter({ model: s.model, rank: 4, seed: 11, out: random });
    const r = await publishDevAttribution({ publicClient: c.publicClient, deployment: c.deployment, owner: ctx(7).walletClient!, contributors: [1, 2, 3].map((i) => ctx(i).walletClient!), model: s.model, adapters: [s.adapter, random], dir });
    expect(r.adapters).toHaveLength(2);
    expect(r.adapters[0].root).not.toBeNull();
    for (const a of r.adapters) {
      const [root, total] = await c.contracts.adapterRegistry.read.attributionOf([a.adapterId]);
      expect(root).toBe(a.root ?? zeroHash);
      expect(total).toBe(a.totalWeight);
      const rep = JSON.parse(await readFile(a.reportFile, 'utf8')) as AttributionReport;
      expect(rep.adapterId).toBe(a.adapterId);
      expect(rep.contributions).toHaveLength(6);
      expect((await c.contracts.datanetRegistry.read.datanetOf([r.datanetId])).contributionCount).toBe(6n);
    }
    // Idempotent: a second call finds everything registered and published.
    const again = await publishDevAttribution({ publicClient: c.publicClient, deployment: c.deployment, owner: ctx(7).walletClient!, contributors: [1, 2, 3].map((i) => ctx(i).walletClient!), model: s.model, adapters: [s.adapter], dir });
    expect(again.datanetId).toBe(r.datanetId);
    expect(again.adapters[0].root).toBe(r.adapters[0].root);
  });

  it('pays each contributor its share of the attribution pool to the wei after a settlement', async () => {
    const payer = c.accounts[PAYER];
    const pc = c.deployment.contracts.paymentChannels;
    await c.wait(c.as(PAYER).token.write.approve([pc, 10n ** 30n]));
    await c.wait(c.as(PAYER).paymentChannels.write.open([c.accounts[NODE].address, c.deployment.contracts.token, payer.address, 1_000n * TOKEN, 900n, id('attribution')]));
    const channelId = await c.contracts.paymentChannels.read.channelIdFor([payer.address, c.accounts[NODE].address, c.deployment.contracts.token, id('attribution')]);
    const treasuryBefore = await c.contracts.paymentChannels.read.creditOf([c.accounts[TREASURY].address]);
    // Two paid requests' vouchers on the lane; the node settles the latest (cumulative).
    const paid = 123_456_789_012_345_678_901n;
    for (const cumulativeAmount of [paid / 3n, paid]) {
      const voucher = { channelId, adapterId, cumulativeAmount };
      const signature = await signVoucher({ account: payer, voucher, chainId: c.chainId, paymentChannels: pc });
      await c.wait(c.as(NODE).paymentChannels.write.settle([[{ voucher, signature }]]));
    }
    const split = splitPayment({ paid, protocolFeeBps: FEE_BPS, royaltyBps: ROYALTY_BPS, contributorBps: CONTRIBUTOR_BPS, hasRoot: true });
    expect(await c.contracts.attributionRewards.read.poolOf([adapterId])).toBe(split.contributors);
    const total = BigInt(report.totalWeight);
    // Two settlements: the pool has been notified each delta's contributor share.
    const deltas = [paid / 3n, paid - paid / 3n].map((d) => splitPayment({ paid: d, protocolFeeBps: FEE_BPS, royaltyBps: ROYALTY_BPS, contributorBps: CONTRIBUTOR_BPS, hasRoot: true }));
    const notified = deltas.reduce((a, d) => a + d.contributors, 0n);
    expect(await c.contracts.attributionRewards.read.notifiedOf([adapterId])).toBe(notified);
    expect((await c.contracts.paymentChannels.read.creditOf([c.accounts[TREASURY].address])) - treasuryBefore).toBe(deltas.reduce((a, d) => a + d.treasury, 0n));

    let claimedSum = 0n;
    for (const [k, who] of CONTRIBUTORS.entries()) {
      const weight = BigInt(report.contributors.find((x) => x.contributor === who)!.weight);
      const expected = (weight * notified) / total;
      const [row] = await rewardsOf({ ctx: ctx(k + 1), address: who, reports: [report] });
      expect(row).toMatchObject({ adapterId, weight, totalWeight: total, accrued: expected, claimed: 0n, claimable: expected, rootOnChain: true });
      if (weight === 0n) {
        await expect(claimRewards({ ctx: ctx(k + 1), reports: [report] })).rejects.toMatchObject({ code: 'OPENLORA_ATTRIBUTION_CLAIM_FAILED' });
        continue;
      }
      const before = await c.contracts.token.read.balanceOf([who]);
      const r = await claimRewards({ ctx: ctx(k + 1), reports: [report] });
      expect(r.amount).toBe(expected);
      expect((await c.contracts.token.read.balanceOf([who])) - before).toBe(expected);
      expect((await rewardsOf({ ctx: ctx(k + 1), address: who, reports: [report] }))[0]).toMatchObject({ claimed: expected, claimable: 0n });
      const exactShare = (split.contributors * weight) / total; // its share of the pool, rounded down
      expect(exactShare - expected).toBeGreaterThanOrEqual(0n);
      expect(exactShare - expected).toBeLessThanOrEqual(2n);
      claimedSum += expected;
    }
    // What the floor divisions leave (< one wei per contributor and settlement) stays in the pool.
    const dust = split.contributors - claimedSum;
    expect(dust).toBeGreaterThanOrEqual(0n);
    expect(dust).toBeLessThanOrEqual(BigInt(CONTRIBUTORS.length + 2));
    expect(await c.contracts.attributionRewards.read.poolOf([adapterId])).toBe(dust);
  });
});
