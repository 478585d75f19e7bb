/**
 * Property-based fuzzing of the contracts together: random sequences of open, top-up, settle (fresh
 * and stale vouchers), withdraw, credit withdrawal, claim and slash by several accounts, with the
 * invariants checked after every step:
 *  - each contract's token balance equals the sum of what it owes (channel balances and credits;
 *    unclaimed reward pools; stakes, unbonding and credits);
 *  - nobody is paid more than was paid in for them (per channel: claimed + balance + withdrawn ==
 *    deposited; per lane: claimed <= the largest voucher signed; per pool: claimed <= notified);
 *  - lane claims only grow.
 * Bounded (FUZZ_RUNS sequences of at most 15 steps) with a fixed seed (FUZZ_SEED) that fast-check
 * prints, with the shrunk sequence, on failure.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { BaseError, ContractFunctionRevertedError, type Address, type Hex } from 'viem';
import { buildAttributionTree, getAttributionProof, type AttributionTree } from '../../src/chain/merkle.ts';
import { id, receipt, setupChain, TOKEN, type Chain } from './fixture.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20250101);
const RUNS = Number(process.env.FUZZ_RUNS ?? 30);
const NODES = [1, 2];
const PAYERS = [3, 4];
const OWNER = 5;
const CONTRIBUTORS = [6, 7, 8];
const TREASURY = 9;
const PROVER = 0;
const STAKE = 1_000n * TOKEN;

type Op =
  | { kind: 'open'; payer: number; node: number; salt: number; amount: bigint }
  | { kind: 'topUp'; channel: number; amount: bigint }
  | { kind: 'settle'; lanes: { channel: number; adapter: number; add: bigint; stale: boolean }[] }
  | { kind: 'requestWithdraw'; channel: number }
  | { kind: 'time'; seconds: number }
  | { kind: 'withdraw'; channel: number }
  | { kind: 'withdrawCredit'; who: number }
  | { kind: 'claim'; contributor: number; adapters: number[] }
  | { kind: 'slash'; node: number };

const amount = fc.bigInt({ min: 1n, max: 10n ** 21n });
const openArb = fc.record({ kind: fc.constant('open' as const), payer: fc.constantFrom(...PAYERS), node: fc.constantFrom(...NODES), salt: fc.integer({ min: 0, max: 1 }), amount });
const settleArb = fc.record({
  kind: fc.constant('settle' as const),
  lanes: fc.array(fc.record({ channel: fc.nat(7), adapter: fc.nat(2), add: fc.bigInt({ min: 0n, max: 10n ** 21n }), stale: fc.boolean() }), { minLength: 1, maxLength: 4 }),
});
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: openArb, weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('topUp' as const), channel: fc.nat(7), amount }), weight: 1 },
  { arbitrary: settleArb, weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('requestWithdraw' as const), channel: fc.nat(7) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('time' as const), seconds: fc.integer({ min: 1, max: 2000 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('withdraw' as const), channel: fc.nat(7) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('withdrawCredit' as const), who: fc.constantFrom(...NODES, OWNER, TREASURY, PROVER) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('claim' as const), contributor: fc.constantFrom(...CONTRIBUTORS), adapters: fc.subarray([1, 2], { minLength: 1 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('slash' as const), node: fc.constantFrom(...NODES) }), weight: 1 },
);
/** A sequence: one or two opens first (so most steps have a channel), then up to 13 random steps. */
const sequenceArb = fc.tuple(fc.array(openArb, { minLength: 1, maxLength: 2 }), fc.array(opArb, { minLength: 3, maxLength: 13 })).map(([opens, rest]): Op[] => [...opens, ...rest]);

interface ChannelModel {
  id: Hex;
  payer: number;
  deposited: bigint;
  withdrawn: bigint;
}

function revertName(error: unknown): string | undefined {
  const reverted = error instanceof BaseError ? (error.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null) : null;
  return reverted?.data?.errorName;
}

describe('contracts invariants (fast-check)', () => {
  let c: Chain;
  let adapters: Hex[];
  const trees = new Map<number, AttributionTree>();
  let restore: () => Promise<void>;
  const stats: Record<string, number> = {};
  let paidSettles = 0;

  beforeAll(async () => {
    c = await setupChain({ protocolFeeBps: 300 });
    const pc = c.deployment.contracts.paymentChannels;
    for (const p of PAYERS) await c.wait(c.as(p).token.write.approve([pc, 2n ** 255n]));
    for (const n of NODES) {
      await c.wait(c.as(n).token.write.approve([c.deployment.contracts.nodeRegistry, STAKE]));
      await c.wait(c.as(n).nodeRegistry.write.register([STAKE, `http://node-${n}`, []]));
    }
    const royalties = [[1000, 5000], [2000, 7000], [5000, 3333]] as const;
    adapters = [];
    for (let k = 0; k < 3; k += 1) {
      await c.wait(c.as(OWNER).adapterRegistry.write.register([{ salt: id(`fuzz-${k}`), baseModelHash: id('b'), weightsHash: id('w'), uri: '', datanetIds: [], royaltyBps: royalties[k][0], contributorBps: royalties[k][1] }]));
      adapters.push(await c.contracts.adapterRegistry.read.adapterIdFor([c.accounts[OWNER].address, id(`fuzz-${k}`)]));
    }
    // Adapter 0 has no root (contributor share to the owner); 1 and 2 have roots with odd weights.
    for (const k of [1, 2]) {
      const tree = buildAttributionTree({ adapterId: adapters[k], leaves: CONTRIBUTORS.map((i, j) => ({ contributor: c.accounts[i].address, weight: BigInt(k * 7 + j * 3 + 1) })) });
      trees.set(k, tree);
      await c.wait(c.as(OWNER).adapterRegistry.write.setAttributionRoot([adapters[k], tree.root, tree.totalWeight]));
    }
    restore = await c.snapshot();
  }, 60_000);

  it('hold after every step of random sequences', async () => {
    await fc.assert(
      fc.asyncProperty(sequenceArb, async (ops) => {
        await restore();
        restore = await c.snapshot();
        const channels: ChannelModel[] = [];
        const signed = new Map<string, bigint>(); // lane -> largest voucher signed
        const lastClaimed = new Map<string, bigint>();
        const notified = new Map<number, bigint>(); // adapter -> total contributor share notified
        const seqs = new Map<number, bigint>();
        const pcAddress = c.deployment.contracts.paymentChannels;
        const addr = (i: number): Address => c.accounts[i].address;
        const expectOneOf = async (promise: Promise<unknown>, allowed: string[]) => {
          try {
            await c.wait(promise as Promise<Hex>);
          } catch (error) {
            const name = revertName(error);
            if (!name || !allowed.includes(name)) throw error;
          }
        };

        for (const op of ops) {
          stats[op.kind] = (stats[op.kind] ?? 0) + 1;
          const ch = channels.length ? channels[('channel' in op ? op.channel : 0) % channels.length] : undefined;
          switch (op.kind) {
            case 'open': {
              const cid = await c.contracts.paymentChannels.read.channelIdFor([addr(op.payer), addr(op.node), c.deployment.contracts.token, id(`salt-${op.salt}`)]);
              const exists = channels.some((m) => m.id === cid);
              await expectOneOf(c.as(op.payer).paymentChannels.write.open([addr(op.node), c.deployment.contracts.token, addr(op.payer), op.amount, 900n, id(`salt-${op.salt}`)]), exists ? ['PaymentChannelsChannelExists'] : []);
              if (!exists) channels.push({ id: cid, payer: op.payer, deposited: op.amount, withdrawn: 0n });
              break;
            }
            case 'topUp':
              if (!ch) break;
              await c.wait(c.as(ch.payer).paymentChannels.write.topUp([ch.id, op.amount]));
              ch.deposited += op.amount;
              break;
            case 'settle': {
              if (!channels.length) break;
              const vouchers = [];
              for (const lane of op.lanes) {
                const m = channels[lane.channel % channels.length];
                const key = `${m.id}:${lane.adapter}`;
                const top = signed.get(key) ?? 0n;
                // A stale voucher repeats or undercuts the largest one signed; a fresh one raises it.
                const cumulativeAmount = lane.stale ? top - (lane.add % (top + 1n)) : top + lane.add;
                if (!lane.stale) signed.set(key, cumulativeAmount);
                const voucher = { channelId: m.id, adapterId: adapters[lane.adapter], cumulativeAmount };
                const signature = await c.accounts[m.payer].signTypedData({
                  domain: { name: 'openlora', version: '1', chainId: c.chainId, verifyingContract: pcAddress },
                  types: { Voucher: [{ name: 'channelId', type: 'bytes32' }, { name: 'adapterId', type: 'bytes32' }, { name: 'cumulativeAmount', type: 'uint256' }] },
                  primaryType: 'Voucher',
                  message: voucher,
                });
                vouchers.push({ voucher, signature });
              }
              const poolsBefore = await Promise.all([1, 2].map((k) => c.contracts.attributionRewards.read.poolOf([adapters[k]])));
              const claimedBefore = await Promise.all([1, 2].map(async (k) => sumClaimed(k)));
              const settled = await c.wait(c.as(NODES[0]).paymentChannels.write.settle([vouchers]));
              if (settled.logs.length > 0) paidSettles += 1;
              for (const [j, k] of [1, 2].entries()) {
                const grew = (await c.contracts.attributionRewards.read.poolOf([adapters[k]])) + (await sumClaimed(k)) - poolsBefore[j] - claimedBefore[j];
                notified.set(k, (notified.get(k) ?? 0n) + grew);
              }
              break;
            }
            case 'requestWithdraw':
              if (!ch) break;
              await c.wait(c.as(ch.payer).paymentChannels.write.requestWithdraw([ch.id]));
              break;
            case 'time':
              await c.increaseTime(op.seconds);
              break;
            case 'withdraw': {
              if (!ch) break;
              const state = await c.contracts.paymentChannels.read.channelOf([ch.id]);
              const block = await c.publicClient.getBlock();
              // The next block's timestamp is at least the latest one's + 1.
              const ready = state.withdrawReadyAt !== 0n && block.timestamp + 1n >= state.withdrawReadyAt;
              const before = await c.contracts.token.read.balanceOf([addr(ch.payer)]);
              await expectOneOf(c.as(ch.payer).paymentChannels.write.withdraw([ch.id]), ready ? [] : ['PaymentChannelsWithdrawNotRequested', 'PaymentChannelsWithdrawNotReady']);
              const got = (await c.contracts.token.read.balanceOf([addr(ch.payer)])) - before;
              if (ready) expect(got).toBe(state.balance);
              else expect(got).toBe(0n);
              ch.withdrawn += got;
              break;
            }
            case 'withdrawCredit': {
              const allowed = ['PaymentChannelsNothingToWithdraw'];
              await expectOneOf(c.as(op.who).paymentChannels.write.withdrawCredit(), allowed);
              await expectOneOf(c.as(op.who).nodeRegistry.write.withdrawCredit(), ['NodeRegistryNothingToWithdraw']);
              break;
            }
            case 'claim': {
              const who = addr(op.contributor);
              const proofs = op.adapters.map((k) => getAttributionProof(trees.get(k)!, who));
              await expectOneOf(
                c.as(op.contributor).attributionRewards.write.claim([op.adapters.map((k) => adapters[k]), proofs.map((p) => p.weight), proofs.map((p) => p.proof)]),
                ['AttributionRewardsNothingToClaim'],
              );
              break;
            }
            case 'slash': {
              const seq = (seqs.get(op.node) ?? 0n) + 1n;
              seqs.set(op.node, seq);
              const a = receipt({ seq, amount: 1n });
              const b = receipt({ seq, amount: 2n });
              await expectOneOf(
                c.as(PROVER).nodeRegistry.write.slash([a, await c.signReceiptAs(op.node, a), b, await c.signReceiptAs(op.node, b)]),
                ['NodeRegistryNothingToSlash'],
              );
              break;
            }
          }
          await checkInvariants(channels, signed, lastClaimed, notified);
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    if (process.env.FUZZ_STATS) console.log(stats, { paidSettles });
  }, 600_000);

  async function sumClaimed(k: number): Promise<bigint> {
    let sum = 0n;
    for (const i of CONTRIBUTORS) sum += await c.contracts.attributionRewards.read.claimedOf([adapters[k], c.accounts[i].address]);
    return sum;
  }

  async function checkInvariants(channels: ChannelModel[], signed: Map<string, bigint>, lastClaimed: Map<string, bigint>, notified: Map<number, bigint>) {
    const read = c.contracts;
    const balanceOf = (a: Address) => read.token.read.balanceOf([a]);
    // PaymentChannels: balance == channel balances + credits.
    let owedByChannels = 0n;
    for (const m of channels) {
      const state = await read.paymentChannels.read.channelOf([m.id]);
      owedByChannels += state.balance;
      let claimed = 0n;
      for (let k = 0; k < 3; k += 1) {
        const key = `${m.id}:${k}`;
        const lane = await read.paymentChannels.read.laneClaimed([m.id, adapters[k]]);
        expect(lane).toBeGreaterThanOrEqual(lastClaimed.get(key) ?? 0n); // lane claims only grow
        expect(lane).toBeLessThanOrEqual(signed.get(key) ?? 0n); // never more than the payer signed
        lastClaimed.set(key, lane);
        claimed += lane;
      }
      // Every token paid into the channel is either still there, paid out on a lane, or returned.
      expect(claimed + state.balance + m.withdrawn).toBe(m.deposited);
    }
    const creditHolders = [...NODES, OWNER, TREASURY, PROVER].map((i) => c.accounts[i].address);
    let credits = 0n;
    for (const a of creditHolders) credits += await read.paymentChannels.read.creditOf([a]);
    expect(await balanceOf(c.deployment.contracts.paymentChannels)).toBe(owedByChannels + credits);

    // AttributionRewards: balance == unclaimed pools; claims never exceed what was notified.
    let pools = 0n;
    for (const k of [0, 1, 2]) {
      const pool = await read.attributionRewards.read.poolOf([adapters[k]]);
      pools += pool;
      if (k > 0) expect(pool + (await sumClaimed(k))).toBe(notified.get(k) ?? 0n);
    }
    expect(await balanceOf(c.deployment.contracts.attributionRewards)).toBe(pools);

    // NodeRegistry: balance == stakes + unbonding + credits.
    let staked = 0n;
    for (const n of NODES) {
      const node = await read.nodeRegistry.read.nodeOf([c.accounts[n].address]);
      staked += node.stake + node.unbonding;
    }
    let nrCredits = 0n;
    for (const a of creditHolders) nrCredits += await read.nodeRegistry.read.creditOf([a]);
    expect(await balanceOf(c.deployment.contracts.nodeRegistry)).toBe(staked + nrCredits);
  }
});
