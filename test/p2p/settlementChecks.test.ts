/**
 * Settlement checks: a settlement above the gossiped receipts of its lane is flagged only once its
 * grace is up without receipts that cover it. Seen before its receipts (gossip lags the chain), it
 * waits, and passes when they arrive, also across a restart of the watching node; a node that
 * settles more than it served is flagged after the grace. Pending checks are bounded and dropped
 * at stop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAddressEqual, keccak256, toHex, zeroHash, type Hex } from 'viem';
import { signVoucher, voucherDigest, type UsageReceipt, type Voucher } from '../../src/chain/eip712.ts';
import { openPeerDatabase } from '../../src/ledger/peerDatabase.ts';
import { createPeerReceiptStore } from '../../src/ledger/peerReceipts.ts';
import { createLogger } from '../../src/log.ts';
import { encodeBatchEntry } from '../../src/p2p/batchCodec.ts';
import { createSettlementChecks } from '../../src/p2p/settlementChecks.ts';
import { id, receipt as makeReceipt, TOKEN, type Chain } from '../contracts/fixture.ts';
import { openReceipt, registerNode, setupChain, startNetwork, waitFor, waitForMeshes, type TestNetwork } from './helpers.ts';

const NODE = 1;
const WATCHER = 2;
const PAYER = 3;
const PATIENT = 4;
/** The patient watcher's grace: longer than any test, so only receipts (or its stop) end its checks. */
const LONG_GRACE_MS = 600_000;

describe('watcher settlement checks', () => {
  let c: Chain;
  let node: TestNetwork;
  /** Flags after 300 ms. */
  let watcher: TestNetwork;
  let patient: TestNetwork;
  let channelId: Hex;
  const sign = (voucher: Voucher) => signVoucher({ account: c.accounts[PAYER], voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels });
  const settle = async (channel: Hex, cumulativeAmount: bigint) => {
    const voucher = { channelId: channel, adapterId: zeroHash, cumulativeAmount };
    await c.wait(c.as(NODE).paymentChannels.write.settle([[{ voucher, signature: await sign(voucher) }]]));
  };
  const openChannel = async (salt: string) => {
    await c.wait(c.as(PAYER).paymentChannels.write.open([c.accounts[NODE].address, c.deployment.contracts.token, c.accounts[PAYER].address, 10n * TOKEN, 900n, id(salt)]));
    return c.contracts.paymentChannels.read.channelIdFor([c.accounts[PAYER].address, c.accounts[NODE].address, c.deployment.contracts.token, id(salt)]);
  };
  /** Publishes a receipt of NODE on lane (channel, 0) backed by the payer's voucher. */
  const publishBacked = async (channel: Hex, seq: bigint, amount: bigint) => {
    const voucher: Voucher = { channelId: channel, adapterId: zeroHash, cumulativeAmount: 0n };
    const receipt = makeReceipt({
      channelId: channel,
      adapterId: zeroHash,
      seq,
      amount,
      laneCharged: amount,
      voucherDigest: voucherDigest({ voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels }),
      timestamp: BigInt(Math.floor(Date.now() / 1000)),
    });
    await node.network.publishReceipt({ receipt, signature: await c.signReceiptAs(NODE, receipt) }, { voucher, signature: await sign(voucher) });
  };
  // It reads the chain 2 blocks at a time, as from an RPC that caps `eth_getLogs`: at a restart it
  // reads settlements before the registry events that say whom it follows.
  const startPatient = (dataDir?: string) => startNetwork(c, PATIENT, { dataDir, options: { settlementGraceMs: LONG_GRACE_MS, chainMaxRange: 2n, bootstrap: [node.network.multiaddrs()[0]] } });
  const pendingOf = (net: TestNetwork, channel: Hex) => net.network.watcher.pendingSettlements().filter((p) => p.channelId === channel);

  beforeAll(async () => {
    c = await setupChain();
    await registerNode(c, NODE);
    await registerNode(c, WATCHER);
    await registerNode(c, PATIENT);
    watcher = await startNetwork(c, WATCHER, { options: { settlementGraceMs: 300 } });
    node = await startNetwork(c, NODE, { options: { bootstrap: [watcher.network.multiaddrs()[0]] } });
    patient = await startPatient();
    await waitForMeshes([node.network, watcher.network, patient.network]);
    await c.wait(c.as(PAYER).token.write.approve([c.deployment.contracts.paymentChannels, 1000n * TOKEN]));
    channelId = await openChannel('flag');
  });

  afterAll(async () => {
    await patient?.network.stop();
    await node?.network.stop();
    await watcher?.network.stop();
  });

  it('flags a settlement above what the gossiped receipts of its lane add up to once its grace is up, and only that one', async () => {
    await publishBacked(channelId, 1n, 100n);
    // The attack of issue 19: voucherless (open-mode) receipts with absurd amounts for the paid lane,
    // which would hide the over-settlement if they counted. They are refused and do not count.
    await node.network.publishReceipt(await openReceipt(c, NODE, 2n, { channelId, adapterId: zeroHash, amount: 10n ** 30n, laneCharged: 10n ** 30n }));
    for (const w of [watcher, patient]) {
      await waitFor('the receipts at the watchers', () => w.network.store.get(c.accounts[NODE].address, 2n).length === 1);
      expect(w.network.store.get(c.accounts[NODE].address, 2n)[0].status).toBe('refused');
      expect(w.network.store.get(c.accounts[NODE].address, 1n)[0].status).toBe('backed');
      expect(w.network.store.laneTotals(channelId, zeroHash).amount).toBe(100n);
    }

    await settle(channelId, 100n); // backed by the gossiped receipt
    await settle(channelId, 500n); // 400 more than any receipt the network saw
    await waitFor('a settlement flag', () => watcher.network.store.settlementFlags().length > 0);
    await watcher.network.watcher.idle(); // both settlements have been looked at
    await waitFor('no settlement waiting', () => watcher.network.watcher.pendingSettlements().length === 0);
    const flags = watcher.network.store.settlementFlags();
    expect(flags.length).toBe(1);
    expect(flags[0]).toMatchObject({ channelId, claimed: 500n, gossiped: 100n });
    expect(isAddressEqual(flags[0].node!, c.accounts[NODE].address)).toBe(true);

    // The patient watcher saw the same settlement: it waits for receipts that may still come.
    await waitFor('the settlement waiting at the patient watcher', () => pendingOf(patient, channelId).length === 1);
    expect(pendingOf(patient, channelId)[0]).toMatchObject({ claimed: 500n, served: 100n });
    expect(patient.network.store.settlementFlags()).toEqual([]);
  });

  it('does not flag a settlement its receipts reach after it, also when the watcher restarts in between', async () => {
    const late = await openChannel('late');
    await settle(late, 300n); // the node settles before its followers hold the receipts
    await waitFor('the settlement waiting for its receipts', () => pendingOf(patient, late).length === 1);
    expect(pendingOf(patient, late)[0]).toMatchObject({ claimed: 300n, served: 0n });

    // A restart drops the pending check; the chain follower reads the settlement again at start,
    // blocks before the chain head.
    await patient.network.stop();
    await c.testClient.mine({ blocks: 40 });
    patient = await startPatient(patient.dataDir);
    await waitFor('the settlement read again after the restart', () => pendingOf(patient, late).length === 1);
    await waitForMeshes([node.network, patient.network]);

    await publishBacked(late, 3n, 120n);
    await publishBacked(late, 4n, 180n);
    await waitFor('the receipts to cover the settlement', () => pendingOf(patient, late).length === 0);
    expect(patient.network.store.laneTotals(late, zeroHash).amount).toBe(300n);
    expect(patient.network.store.settlementFlags()).toEqual([]);
    // The lie of the first test is still waiting (its receipts never come): flagged only when its grace is up.
    expect(pendingOf(patient, channelId)).toMatchObject([{ claimed: 500n, served: 100n }]);
  });

  it('keeps at most maxPending settlements waiting (the oldest is decided at once), passes those receipts cover, and drops the rest at stop', async () => {
    const store = createPeerReceiptStore(openPeerDatabase(':memory:'), () => { throw new Error('no batch is served here'); }, { perNode: 100, total: 100, retentionMs: 3_600_000 });
    const checks = createSettlementChecks(
      { graceMs: LONG_GRACE_MS, maxPending: 2 },
      { store, chainView: watcher.network.chainView, self: c.accounts[WATCHER].address, follows: (n) => isAddressEqual(n, c.accounts[NODE].address), log: createLogger({ name: 'test' }) },
    );
    const settled = (claimed: bigint) => ({ channelId, adapterId: zeroHash, claimed, paid: claimed, blockNumber: 1n, transactionHash: keccak256(toHex(`tx ${claimed}`)) });
    for (const claimed of [100n, 200n, 300n]) await checks.check(settled(claimed));
    expect(checks.pending().map((p) => p.claimed)).toEqual([200n, 300n]);
    expect(store.settlementFlags()).toMatchObject([{ channelId, claimed: 100n, gossiped: 0n }]);
    await checks.check(settled(100n)); // read again (a restart): flagged once, not waiting again
    expect(checks.pending().length).toBe(2);
    expect(store.settlementFlags().length).toBe(1);

    // Receipts of the lane adding up to 250 arrive: the settlement of 200 passes, 300 waits on.
    const receipt: UsageReceipt = makeReceipt({ channelId, adapterId: zeroHash, seq: 9n, amount: 250n, laneCharged: 250n });
    const batch = { batchSeq: 1n, root: id('root'), count: 1, timestamp: 1n };
    store.addHeader(c.accounts[NODE].address, batch, new Uint8Array(320), Date.now());
    store.addBatchReceipts(c.accounts[NODE].address, batch, [{ digest: id('digest'), receipt, message: encodeBatchEntry({ receipt }), status: 'backed' }], Date.now());
    checks.onReceipts([{ channelId: id('another channel'), adapterId: zeroHash }]);
    expect(checks.pending().length).toBe(2);
    checks.onReceipts([receipt]);
    expect(checks.pending()).toMatchObject([{ claimed: 300n, served: 250n }]);

    checks.stop();
    expect(checks.pending()).toEqual([]);
    await checks.check(settled(400n));
    expect(checks.pending()).toEqual([]);
    expect(store.settlementFlags().length).toBe(1);
  });
});
