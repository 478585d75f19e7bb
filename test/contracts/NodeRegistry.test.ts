import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { zeroAddress, zeroHash } from 'viem';
import { usageReceiptDigest, type UsageReceipt } from '../../src/chain/eip712.ts';
import { buildReceiptTree, receiptBatchDigest, signReceiptBatch, type ReceiptBatch } from '../../src/chain/receiptBatch.ts';
import { expectRevert, highSTwin, receipt, setupChain, TOKEN, type Chain } from './fixture.ts';

const STAKE = 1_000n * TOKEN;

describe('NodeRegistry', () => {
  let c: Chain;
  let restore: () => Promise<void>;
  const node = 1;
  const prover = 2;

  beforeAll(async () => {
    c = await setupChain();
    // Node 1 approves and registers once; every test starts from this state.
    await c.wait(c.as(node).token.write.approve([c.deployment.contracts.nodeRegistry, 10n ** 30n]));
    await c.wait(c.as(node).nodeRegistry.write.register([STAKE, 'http://node-1:8080', ['/ip4/127.0.0.1/tcp/9000']]));
    restore = await c.snapshot();
  });
  beforeEach(async () => {
    await restore();
    restore = await c.snapshot();
  });

  const nodeAddress = () => c.accounts[node].address;

  it('registers a node with stake and endpoints', async () => {
    const n = await c.contracts.nodeRegistry.read.nodeOf([nodeAddress()]);
    expect(n.registered).toBe(true);
    expect(n.stake).toBe(STAKE);
    expect(n.url).toBe('http://node-1:8080');
    expect(n.multiaddrs).toEqual(['/ip4/127.0.0.1/tcp/9000']);
    expect(await c.contracts.nodeRegistry.read.isActive([nodeAddress()])).toBe(true);
    const events = await c.contracts.nodeRegistry.getEvents.NodeRegistered({}, { fromBlock: 0n });
    expect(events[0].args.node).toBe(nodeAddress());
  });

  it('rejects a second registration and a stake below the minimum', async () => {
    await expectRevert(c.as(node).nodeRegistry.write.register([STAKE, 'x', []]), 'NodeRegistryAlreadyRegistered', [nodeAddress()]);
    await c.wait(c.as(3).token.write.approve([c.deployment.contracts.nodeRegistry, STAKE]));
    await expectRevert(c.as(3).nodeRegistry.write.register([TOKEN, 'x', []]), 'NodeRegistryStakeTooLow', [TOKEN, 100n * TOKEN]);
  });

  it('updates endpoints; unregistered callers are refused', async () => {
    await c.wait(c.as(node).nodeRegistry.write.updateEndpoints(['http://new', ['/a', '/b']]));
    const n = await c.contracts.nodeRegistry.read.nodeOf([nodeAddress()]);
    expect([n.url, n.multiaddrs]).toEqual(['http://new', ['/a', '/b']]);
    await expectRevert(c.as(3).nodeRegistry.write.updateEndpoints(['x', []]), 'NodeRegistryNotRegistered', [c.accounts[3].address]);
  });

  it('adds stake; zero is refused', async () => {
    await c.wait(c.as(node).nodeRegistry.write.addStake([5n]));
    expect((await c.contracts.nodeRegistry.read.nodeOf([nodeAddress()])).stake).toBe(STAKE + 5n);
    await expectRevert(c.as(node).nodeRegistry.write.addStake([0n]), 'NodeRegistryZeroAmount');
  });

  it('unbonds only after the delay', async () => {
    await expectRevert(c.as(node).nodeRegistry.write.requestUnbond([0n]), 'NodeRegistryZeroAmount');
    await expectRevert(c.as(node).nodeRegistry.write.requestUnbond([STAKE + 1n]), 'NodeRegistryInsufficientStake', [STAKE + 1n, STAKE]);
    await c.wait(c.as(node).nodeRegistry.write.requestUnbond([STAKE]));
    expect(await c.contracts.nodeRegistry.read.isActive([nodeAddress()])).toBe(false);
    const n = await c.contracts.nodeRegistry.read.nodeOf([nodeAddress()]);
    await expectRevert(c.as(node).nodeRegistry.write.withdrawUnbonded(), 'NodeRegistryUnbondingNotReady', [STAKE, n.unbondingReadyAt]);
    await c.increaseTime(3600);
    const before = await c.contracts.token.read.balanceOf([nodeAddress()]);
    await c.wait(c.as(node).nodeRegistry.write.withdrawUnbonded());
    expect(await c.contracts.token.read.balanceOf([nodeAddress()])).toBe(before + STAKE);
    await expectRevert(c.as(node).nodeRegistry.write.withdrawUnbonded(), 'NodeRegistryUnbondingNotReady', [0n, 0n]);
  });

  it('hashes receipts exactly like the shared TS definition', async () => {
    const r = receipt();
    const digest = usageReceiptDigest({ receipt: r, chainId: c.chainId, nodeRegistry: c.deployment.contracts.nodeRegistry });
    expect(await c.contracts.nodeRegistry.read.hashUsageReceipt([r])).toBe(digest);
  });

  describe('slash', () => {
    it('slashes two different receipts with one seq, crediting prover and treasury', async () => {
      const a = receipt({ seq: 7n, amount: 30n });
      const b = receipt({ seq: 7n, amount: 31n });
      const [sigA, sigB] = [await c.signReceiptAs(node, a), await c.signReceiptAs(node, b)];
      await c.wait(c.as(prover).nodeRegistry.write.slash([a, sigA, b, sigB]));
      const slashed = STAKE / 2n;
      const reward = slashed / 10n;
      expect((await c.contracts.nodeRegistry.read.nodeOf([nodeAddress()])).stake).toBe(STAKE - slashed);
      expect(await c.contracts.nodeRegistry.read.creditOf([c.accounts[prover].address])).toBe(reward);
      expect(await c.contracts.nodeRegistry.read.creditOf([c.accounts[9].address])).toBe(slashed - reward);
      // Pull payment.
      const before = await c.contracts.token.read.balanceOf([c.accounts[prover].address]);
      await c.wait(c.as(prover).nodeRegistry.write.withdrawCredit());
      expect(await c.contracts.token.read.balanceOf([c.accounts[prover].address])).toBe(before + reward);
      await expectRevert(c.as(prover).nodeRegistry.write.withdrawCredit(), 'NodeRegistryNothingToWithdraw', [c.accounts[prover].address]);
      // The same seq cannot be slashed twice, even with a third receipt.
      const third = receipt({ seq: 7n, amount: 32n });
      await expectRevert(c.as(prover).nodeRegistry.write.slash([a, sigA, third, await c.signReceiptAs(node, third)]), 'NodeRegistryAlreadySlashed', [nodeAddress(), 7n]);
    });

    it('a node that slashes itself first collects no reward: it waits for the first other prover', async () => {
      // The attack of issue 14: the equivocating node proves its own equivocation before anyone else
      // does, to take the prover reward (5 of the 50 slashed) back.
      const a = receipt({ seq: 9n, amount: 30n });
      const b = receipt({ seq: 9n, amount: 31n });
      const [sigA, sigB] = [await c.signReceiptAs(node, a), await c.signReceiptAs(node, b)];
      const walletBefore = await c.contracts.token.read.balanceOf([nodeAddress()]);
      await c.wait(c.as(node).nodeRegistry.write.slash([a, sigA, b, sigB]));
      const slashed = STAKE / 2n;
      const reward = slashed / 10n;
      expect((await c.contracts.nodeRegistry.read.nodeOf([nodeAddress()])).stake).toBe(STAKE - slashed);
      expect(await c.contracts.nodeRegistry.read.creditOf([nodeAddress()])).toBe(0n);
      expect(await c.contracts.nodeRegistry.read.creditOf([c.accounts[9].address])).toBe(slashed - reward);
      expect(await c.contracts.nodeRegistry.read.heldRewardOf([nodeAddress(), 9n])).toBe(reward);
      await expectRevert(c.as(node).nodeRegistry.write.withdrawCredit(), 'NodeRegistryNothingToWithdraw', [nodeAddress()]);
      // The node cannot collect its held reward by proving again either.
      await expectRevert(c.as(node).nodeRegistry.write.slash([a, sigA, b, sigB]), 'NodeRegistryAlreadySlashed', [nodeAddress(), 9n]);
      // The first other prover gets it, once; the stake is not slashed twice.
      await c.wait(c.as(prover).nodeRegistry.write.slash([b, sigB, a, sigA]));
      expect(await c.contracts.nodeRegistry.read.creditOf([c.accounts[prover].address])).toBe(reward);
      expect(await c.contracts.nodeRegistry.read.heldRewardOf([nodeAddress(), 9n])).toBe(0n);
      expect((await c.contracts.nodeRegistry.read.nodeOf([nodeAddress()])).stake).toBe(STAKE - slashed);
      const events = await c.contracts.nodeRegistry.getEvents.ProverRewarded({ node: nodeAddress() }, { fromBlock: 0n });
      expect(events.at(-1)?.args).toMatchObject({ seq: 9n, prover: c.accounts[prover].address, amount: reward });
      await expectRevert(c.as(3).nodeRegistry.write.slash([a, sigA, b, sigB]), 'NodeRegistryAlreadySlashed', [nodeAddress(), 9n]);
      // Self-slashing never paid: the node's wallet did not grow and its stake shrank by the whole slash.
      expect(await c.contracts.token.read.balanceOf([nodeAddress()])).toBe(walletBefore);
    });

    it('reaches stake that is unbonding', async () => {
      await c.wait(c.as(node).nodeRegistry.write.requestUnbond([STAKE - 100n]));
      const a = receipt({ seq: 1n });
      const b = receipt({ seq: 1n, requestId: receipt({}).channelId });
      await c.wait(c.as(prover).nodeRegistry.write.slash([a, await c.signReceiptAs(node, a), b, await c.signReceiptAs(node, b)]));
      const n = await c.contracts.nodeRegistry.read.nodeOf([nodeAddress()]);
      expect(n.stake).toBe(0n);
      expect(n.unbonding).toBe(STAKE / 2n);
    });

    it('never slashes one receipt shown twice', async () => {
      const a = receipt({ seq: 3n });
      const sig = await c.signReceiptAs(node, a);
      await expectRevert(c.as(prover).nodeRegistry.write.slash([a, sig, a, sig]), 'NodeRegistryNotEquivocation');
      // Not even with the other (high-s) form of the same signature: the receipts are compared, not the signatures.
      const highS = highSTwin(sig);
      await expectRevert(c.as(prover).nodeRegistry.write.slash([a, sig, a, highS]), 'NodeRegistryNotEquivocation');
    });

    it('never slashes two receipts with different seq', async () => {
      const a = receipt({ seq: 3n });
      const b = receipt({ seq: 4n });
      await expectRevert(
        c.as(prover).nodeRegistry.write.slash([a, await c.signReceiptAs(node, a), b, await c.signReceiptAs(node, b)]),
        'NodeRegistrySeqMismatch',
        [3n, 4n],
      );
    });

    it('rejects receipts signed by different keys, unregistered signers and high-s signatures', async () => {
      const a = receipt({ seq: 5n });
      const b = receipt({ seq: 5n, amount: 99n });
      await expectRevert(
        c.as(prover).nodeRegistry.write.slash([a, await c.signReceiptAs(node, a), b, await c.signReceiptAs(3, b)]),
        'NodeRegistrySignerMismatch',
        [nodeAddress(), c.accounts[3].address],
      );
      await expectRevert(
        c.as(prover).nodeRegistry.write.slash([a, await c.signReceiptAs(3, a), b, await c.signReceiptAs(3, b)]),
        'NodeRegistryNotRegistered',
        [c.accounts[3].address],
      );
      const sigB = await c.signReceiptAs(node, b);
      const highS = highSTwin(sigB);
      await expectRevert(c.as(prover).nodeRegistry.write.slash([a, await c.signReceiptAs(node, a), b, highS]), 'ECDSAInvalidSignatureS');
    });

    it('rejects a receipt signed for another chain or another contract', async () => {
      const a = receipt({ seq: 6n });
      const b = receipt({ seq: 6n, amount: 1n });
      const { signUsageReceipt } = await import('../../src/chain/eip712.ts');
      const other = await signUsageReceipt({ account: c.accounts[node], receipt: b, chainId: c.chainId + 1, nodeRegistry: c.deployment.contracts.nodeRegistry });
      await expectRevert(c.as(prover).nodeRegistry.write.slash([a, await c.signReceiptAs(node, a), b, other]), 'NodeRegistrySignerMismatch');
      const otherContract = await signUsageReceipt({ account: c.accounts[node], receipt: b, chainId: c.chainId, nodeRegistry: c.deployment.contracts.paymentChannels });
      await expectRevert(c.as(prover).nodeRegistry.write.slash([a, await c.signReceiptAs(node, a), b, otherContract]), 'NodeRegistrySignerMismatch');
    });

    it('refuses when nothing is staked', async () => {
      await c.wait(c.as(node).nodeRegistry.write.requestUnbond([STAKE]));
      await c.increaseTime(3600);
      await c.wait(c.as(node).nodeRegistry.write.withdrawUnbonded());
      const a = receipt({ seq: 8n });
      const b = receipt({ seq: 8n, amount: 1n });
      await expectRevert(
        c.as(prover).nodeRegistry.write.slash([a, await c.signReceiptAs(node, a), b, await c.signReceiptAs(node, b)]),
        'NodeRegistryNothingToSlash',
        [nodeAddress()],
      );
    });
  });

  describe('batch slashing', () => {
    const domain = () => ({ chainId: c.chainId, nodeRegistry: c.deployment.contracts.nodeRegistry });
    const digestOf = (r: UsageReceipt) => usageReceiptDigest({ receipt: r, ...domain() });
    /** Commits `receipts` in one batch signed by account `signer`; evidence for receipt `i`. */
    const commit = async (receipts: UsageReceipt[], batchSeq: bigint, signer = node) => {
      const tree = buildReceiptTree(receipts.map((r) => Buffer.from(digestOf(r).slice(2), 'hex')));
      const batch: ReceiptBatch = { batchSeq, root: tree.root, count: receipts.length, timestamp: 1_700_000_000n };
      const signature = await signReceiptBatch({ account: c.accounts[signer], batch, ...domain() });
      return { batch, signature, evidence: (i: number) => ({ receipt: receipts[i], signature, batch, proof: tree.proof(i) }) };
    };
    const single = async (r: UsageReceipt, signer = node) => ({ receipt: r, signature: await c.signReceiptAs(signer, r), batch: { batchSeq: 0n, root: zeroHash, count: 0, timestamp: 0n }, proof: [] });

    it('hashes batches like the TS definition', async () => {
      const batch: ReceiptBatch = { batchSeq: 5n, root: receipt().channelId, count: 3, timestamp: 9n };
      expect(await c.contracts.nodeRegistry.read.hashReceiptBatch([batch])).toBe(receiptBatchDigest({ batch, ...domain() }));
    });

    it('slashes two signed batches with one batchSeq and different roots, once', async () => {
      const a = await commit([receipt({ seq: 1n }), receipt({ seq: 2n })], 100n);
      const b = await commit([receipt({ seq: 1n }), receipt({ seq: 2n, amount: 99n })], 100n);
      await c.wait(c.as(prover).nodeRegistry.write.slashBatch([a.batch, a.signature, b.batch, b.signature]));
      expect((await c.contracts.nodeRegistry.read.nodeOf([nodeAddress()])).stake).toBe(STAKE / 2n);
      expect(await c.contracts.nodeRegistry.read.creditOf([c.accounts[prover].address])).toBe(STAKE / 20n);
      expect(await c.contracts.nodeRegistry.read.batchSlashedAt([nodeAddress(), 100n])).toBe(true);
      const events = await c.contracts.nodeRegistry.getEvents.BatchSlashed({}, { fromBlock: 0n });
      expect(events.at(-1)?.args).toMatchObject({ node: nodeAddress(), batchSeq: 100n, amount: STAKE / 2n, prover: c.accounts[prover].address });
      const third = await commit([receipt({ seq: 3n })], 100n);
      await expectRevert(c.as(prover).nodeRegistry.write.slashBatch([a.batch, a.signature, third.batch, third.signature]), 'NodeRegistryBatchAlreadySlashed', [nodeAddress(), 100n]);
    });

    it('a node that slashes its own batch equivocation collects no reward: the first other prover does', async () => {
      const a = await commit([receipt({ seq: 1n })], 500n);
      const b = await commit([receipt({ seq: 1n, amount: 2n })], 500n);
      const args = [a.batch, a.signature, b.batch, b.signature] as const;
      await c.wait(c.as(node).nodeRegistry.write.slashBatch(args));
      expect(await c.contracts.nodeRegistry.read.creditOf([nodeAddress()])).toBe(0n);
      expect(await c.contracts.nodeRegistry.read.heldBatchRewardOf([nodeAddress(), 500n])).toBe(STAKE / 20n);
      await expectRevert(c.as(node).nodeRegistry.write.slashBatch(args), 'NodeRegistryBatchAlreadySlashed', [nodeAddress(), 500n]);
      await c.wait(c.as(prover).nodeRegistry.write.slashBatch(args));
      expect(await c.contracts.nodeRegistry.read.creditOf([c.accounts[prover].address])).toBe(STAKE / 20n);
      expect((await c.contracts.nodeRegistry.read.nodeOf([nodeAddress()])).stake).toBe(STAKE / 2n); // slashed once
      await expectRevert(c.as(prover).nodeRegistry.write.slashBatch(args), 'NodeRegistryBatchAlreadySlashed', [nodeAddress(), 500n]);
    });

    it('never slashes one batch shown twice, batches with different batchSeq, or two signers', async () => {
      const a = await commit([receipt({ seq: 1n })], 100n);
      await expectRevert(c.as(prover).nodeRegistry.write.slashBatch([a.batch, a.signature, a.batch, a.signature]), 'NodeRegistryNotEquivocation');
      const b = await commit([receipt({ seq: 2n })], 101n);
      await expectRevert(c.as(prover).nodeRegistry.write.slashBatch([a.batch, a.signature, b.batch, b.signature]), 'NodeRegistryBatchSeqMismatch', [100n, 101n]);
      const other = await commit([receipt({ seq: 2n })], 100n, 3);
      await expectRevert(c.as(prover).nodeRegistry.write.slashBatch([a.batch, a.signature, other.batch, other.signature]), 'NodeRegistrySignerMismatch', [nodeAddress(), c.accounts[3].address]);
    });

    it('slashes a receipt signed on its own that a batch contradicts', async () => {
      const given = receipt({ seq: 7n, amount: 30n }); // what the client got
      const batched = [receipt({ seq: 6n }), receipt({ seq: 7n, amount: 3n }), receipt({ seq: 8n })]; // what the network was shown
      const b = await commit(batched, 200n);
      await c.wait(c.as(prover).nodeRegistry.write.slashReceipts([await single(given), b.evidence(1)]));
      expect((await c.contracts.nodeRegistry.read.nodeOf([nodeAddress()])).stake).toBe(STAKE / 2n);
      expect(await c.contracts.nodeRegistry.read.slashedAt([nodeAddress(), 7n])).toBe(true);
      // The same seq is not slashed again, through either path.
      await expectRevert(c.as(prover).nodeRegistry.write.slash([given, await c.signReceiptAs(node, given), batched[1], await c.signReceiptAs(node, batched[1])]), 'NodeRegistryAlreadySlashed', [nodeAddress(), 7n]);
    });

    it('slashes two batches that commit different receipts with one seq', async () => {
      const a = await commit([receipt({ seq: 4n, amount: 1n }), receipt({ seq: 5n })], 300n);
      const b = await commit([receipt({ seq: 9n }), receipt({ seq: 10n }), receipt({ seq: 4n, amount: 2n })], 301n);
      await c.wait(c.as(prover).nodeRegistry.write.slashReceipts([a.evidence(0), b.evidence(2)]));
      expect(await c.contracts.nodeRegistry.read.slashedAt([nodeAddress(), 4n])).toBe(true);
    });

    it('refuses a receipt that is not in the batch, the same receipt twice, and different seqs', async () => {
      const a = await commit([receipt({ seq: 4n }), receipt({ seq: 5n })], 300n);
      const stranger = receipt({ seq: 4n, amount: 77n });
      const forged = { ...a.evidence(0), receipt: stranger };
      await expectRevert(c.as(prover).nodeRegistry.write.slashReceipts([await single(receipt({ seq: 4n, amount: 1n })), forged]), 'NodeRegistryNotInBatch', [digestOf(stranger), a.batch.root]);
      await expectRevert(c.as(prover).nodeRegistry.write.slashReceipts([await single(receipt({ seq: 4n })), a.evidence(0)]), 'NodeRegistryNotEquivocation');
      await expectRevert(c.as(prover).nodeRegistry.write.slashReceipts([a.evidence(0), a.evidence(1)]), 'NodeRegistrySeqMismatch', [4n, 5n]);
      // A batch signed by another key does not implicate this node.
      const other = await commit([receipt({ seq: 4n, amount: 5n })], 300n, 3);
      await expectRevert(c.as(prover).nodeRegistry.write.slashReceipts([a.evidence(0), other.evidence(0)]), 'NodeRegistrySignerMismatch', [nodeAddress(), c.accounts[3].address]);
    });
  });

  describe('admin', () => {
    it('sets parameters with events; only the owner; within bounds', async () => {
      const reg = c.contracts.nodeRegistry;
      await c.wait(reg.write.setTreasury([c.accounts[8].address]));
      expect(await reg.read.treasury()).toBe(c.accounts[8].address);
      await c.wait(reg.write.setMinStake([1n]));
      expect(await reg.read.minStake()).toBe(1n);
      await c.wait(reg.write.setUnbondingDelay([60n]));
      expect(await reg.read.unbondingDelay()).toBe(60n);
      await c.wait(reg.write.setSlashParams([100, 200]));
      expect([await reg.read.slashBps(), await reg.read.proverRewardBps()]).toEqual([100, 200]);
      expect((await reg.getEvents.SlashParamsChanged({ fromBlock: 0n })).at(-1)?.args).toEqual({ slashBps: 100, proverRewardBps: 200 });
      await expectRevert(reg.write.setTreasury([zeroAddress]), 'NodeRegistryZeroAddress');
      await expectRevert(reg.write.setUnbondingDelay([91n * 86400n]), 'NodeRegistryDelayTooLong', [91n * 86400n, 90n * 86400n]);
      await expectRevert(reg.write.setSlashParams([10_001, 0]), 'NodeRegistryInvalidBps', [10_001n]);
      // The prover reward is capped at half the slash: a node slashing itself through another address still loses half.
      expect(await reg.read.MAX_PROVER_REWARD_BPS()).toBe(5000);
      await expectRevert(reg.write.setSlashParams([0, 5_001]), 'NodeRegistryInvalidBps', [5_001n]);
      await expectRevert(c.as(3).nodeRegistry.write.setMinStake([1n]), 'OwnableUnauthorizedAccount', [c.accounts[3].address]);
    });
  });
});
