import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAddressEqual, zeroHash, type Hex } from 'viem';
import { signVoucher, voucherDigest, type Voucher } from '../../src/chain/eip712.ts';
import { id, receipt as makeReceipt, TOKEN, type Chain } from '../contracts/fixture.ts';
import { openReceipt, registerNode, setupChain, startNetwork, waitFor, type TestNetwork } from './helpers.ts';

const NODE = 1;
const WATCHER = 2;
const PAYER = 3;

describe('watcher settlement check', () => {
  let c: Chain;
  let node: TestNetwork;
  let watcher: TestNetwork;
  let channelId: Hex;
  const sign = (voucher: Voucher) => signVoucher({ account: c.accounts[PAYER], voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels });
  const settle = async (cumulativeAmount: bigint) => {
    const voucher = { channelId, adapterId: zeroHash, cumulativeAmount };
    await c.wait(c.as(NODE).paymentChannels.write.settle([[{ voucher, signature: await sign(voucher) }]]));
  };

  beforeAll(async () => {
    c = await setupChain();
    await registerNode(c, NODE);
    await registerNode(c, WATCHER);
    watcher = await startNetwork(c, WATCHER);
    node = await startNetwork(c, NODE, { options: { bootstrap: [watcher.network.multiaddrs()[0]] } });
    await waitFor('a mesh', () => node.network.meshPeers(node.network.topics.batches).length >= 1);
    const pc = c.deployment.contracts.paymentChannels;
    await c.wait(c.as(PAYER).token.write.approve([pc, 1000n * TOKEN]));
    await c.wait(c.as(PAYER).paymentChannels.write.open([c.accounts[NODE].address, c.deployment.contracts.token, c.accounts[PAYER].address, 10n * TOKEN, 900n, id('flag')]));
    channelId = await c.contracts.paymentChannels.read.channelIdFor([c.accounts[PAYER].address, c.accounts[NODE].address, c.deployment.contracts.token, id('flag')]);
  });

  afterAll(async () => {
    await node?.network.stop();
    await watcher?.network.stop();
  });

  it('flags a settlement above what the gossiped receipts of its lane add up to, and only that one', async () => {
    const voucher: Voucher = { channelId, adapterId: zeroHash, cumulativeAmount: 0n };
    const receipt = makeReceipt({
      channelId,
      adapterId: zeroHash,
      seq: 1n,
      amount: 100n,
      laneCharged: 100n,
      voucherDigest: voucherDigest({ voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels }),
      timestamp: BigInt(Math.floor(Date.now() / 1000)),
    });
    await node.network.publishReceipt({ receipt, signature: await c.signReceiptAs(NODE, receipt) }, { voucher, signature: await sign(voucher) });
    // The attack of issue 19: voucherless (open-mode) receipts with absurd amounts for the paid lane,
    // which would hide the over-settlement if they counted. They are refused and do not count.
    await node.network.publishReceipt(await openReceipt(c, NODE, 2n, { channelId, adapterId: zeroHash, amount: 10n ** 30n, laneCharged: 10n ** 30n }));
    await waitFor('the receipts at the watcher', () => watcher.network.store.get(c.accounts[NODE].address, 2n).length === 1);
    expect(watcher.network.store.get(c.accounts[NODE].address, 2n)[0].status).toBe('refused');
    expect(watcher.network.store.get(c.accounts[NODE].address, 1n)[0].status).toBe('backed');
    expect(watcher.network.store.laneTotals(channelId, zeroHash).amount).toBe(100n);

    await settle(100n); // backed by the gossiped receipt
    await settle(500n); // 400 more than any receipt the network saw
    await waitFor('a settlement flag', () => watcher.network.store.settlementFlags().length > 0);
    await new Promise((r) => setTimeout(r, 1000)); // both settlements have been looked at by now
    const flags = watcher.network.store.settlementFlags();
    expect(flags.length).toBe(1);
    expect(flags[0]).toMatchObject({ channelId, claimed: 500n, gossiped: 100n });
    expect(isAddressEqual(flags[0].node!, c.accounts[NODE].address)).toBe(true);
  });
});
