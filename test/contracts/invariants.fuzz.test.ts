/**
 * Stateful fast-check runs over the contracts together (issue 14): random sequences of open, top-up,
 * settle (fresh and stale vouchers, any caller, the base lane too), royalty and protocol fee
 * changes, time jumps (onto the moment a change takes effect), withdraw, credit withdrawal, claims,
 * slashes (by a prover, by the node itself, then by another prover), unbonding. A TS model
 * (model.ts) predicts every revert and balance; after every step:
 *  - the chain equals the model: every wallet, credit, channel, lane, pool, claim, stake, held reward;
 *  - per actor, every wei in equals every wei out plus what is held:
 *    wallet + held == start + earned - lost, where earned is the actor's settlement shares at the
 *    split terms in force (never terms changed after the work), slash credits and accrued rewards;
 *  - each contract's token balance is what it holds for actors plus pool dust (< one wei per
 *    contributor) plus prover rewards held back from self-slashes; no wei appears or vanishes.
 * FUZZ_RUNS sequences of 29-50 steps (270 by default: >= 10,000 steps, checked) with a fixed seed (FUZZ_SEED);
 * fast-check prints the failing sequence; FUZZ_STATS=1 prints how often each operation and outcome ran.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { BaseError, ContractFunctionRevertedError, numberToHex, zeroHash, type Address, type Hex } from 'viem';
import { adapterRegistryAbi, attributionRewardsAbi, nodeRegistryAbi, paymentChannelsAbi, readBatchAbi, testTokenAbi } from '../../src/chain/generated/abis.ts';
import { signVoucher } from '../../src/chain/eip712.ts';
import { buildAttributionTree, getAttributionProof, type AttributionTree } from '../../src/chain/merkle.ts';
import { ContractsModel, type Actor, type ChannelModel, type Split } from './model.ts';
import { id, receipt, SEND_AS_IS, setupChain, TOKEN, type Chain } from './fixture.ts';
import { deployReadBatch, type Read } from './readBatch.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20250114);
const RUNS = Number(process.env.FUZZ_RUNS ?? 270);
const MIN_STEPS = 10_000;
const PROVER = 0; // also the admin
const NODES = [1, 2];
const PAYERS = [3, 4];
const OWNER = 5;
const CONTRIBUTORS = [6, 7, 8];
const TREASURY = 9;
const ACTORS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
/** Who can be credited: PaymentChannels pays nodes, the owner and the treasury; NodeRegistry pays provers and the treasury. */
const PC_CREDITED = [...NODES, OWNER, TREASURY];
const NR_CREDITED = [PROVER, ...NODES, TREASURY];
const STAKE = 1_000n * TOKEN;
const PARAMS = { protocolFeeBps: 300, slashBps: 5000, proverRewardBps: 1000, unbondingDelay: 3600n };
const SPLITS: Split[] = [{ royaltyBps: 1000, contributorBps: 5000 }, { royaltyBps: 2000, contributorBps: 7000 }, { royaltyBps: 5000, contributorBps: 3333 }];
/** Adapter 1's weights are small, adapter 2's total is near 2^64 (the rounding case of issue 14). */
const WEIGHTS = [undefined, [3n, 5n, 11n], [2n ** 64n - 100n, 7n, 90n]] as const;
const ZERO_LANE = SPLITS.length;

type Op =
  | { kind: 'open'; payer: number; node: number; salt: number; amount: bigint; delay: bigint }
  | { kind: 'topUp'; channel: number; amount: bigint }
  | { kind: 'settle'; caller: number; lanes: { channel: number; lane: number; add: bigint; stale: boolean }[] }
  | { kind: 'setRoyalty'; adapter: number; split: Split | 'inForce' }
  | { kind: 'setFee'; bps: number }
  | { kind: 'time'; mode: 'small' | 'day' | 'beforeChange' | 'atChange'; seconds: number }
  | { kind: 'requestWithdraw'; channel: number }
  | { kind: 'withdraw'; channel: number }
  | { kind: 'withdrawCredit'; who: number }
  | { kind: 'claim'; contributor: number; adapters: number[] }
  | { kind: 'slash'; node: number; prover: 'prover' | 'self' | 'other'; reuse: boolean }
  | { kind: 'unbond'; node: number; percent: number }
  | { kind: 'withdrawUnbonded'; node: number };

const amount = fc.bigInt({ min: 1n, max: 10n ** 21n });
// One salt: at most 4 channels (2 payers x 2 nodes); opening one twice must revert.
const openArb = fc.record({ kind: fc.constant('open' as const), payer: fc.constantFrom(...PAYERS), node: fc.constantFrom(...NODES), salt: fc.constant(0), amount, delay: fc.constantFrom(900n, 3600n) });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: openArb, weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('topUp' as const), channel: fc.nat(7), amount }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      caller: fc.constantFrom(...ACTORS),
      lanes: fc.array(fc.record({ channel: fc.nat(7), lane: fc.nat(ZERO_LANE), add: fc.bigInt({ min: 0n, max: 10n ** 21n }), stale: fc.boolean() }), { minLength: 1, maxLength: 3 }),
    }),
    weight: 5,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('setRoyalty' as const),
      adapter: fc.nat(SPLITS.length - 1),
      split: fc.oneof(fc.constant('inForce' as const), fc.record({ royaltyBps: fc.constantFrom(0, 500, 1500, 5000), contributorBps: fc.constantFrom(0, 3333, 10_000) })),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('setFee' as const), bps: fc.constantFrom(0, 200, 300, 1000) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('time' as const), mode: fc.constantFrom('small' as const, 'day' as const, 'beforeChange' as const, 'atChange' as const), seconds: fc.integer({ min: 1, max: 2000 }) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('requestWithdraw' as const), channel: fc.nat(7) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('withdraw' as const), channel: fc.nat(7) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('withdrawCredit' as const), who: fc.constantFrom(...ACTORS) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('claim' as const), contributor: fc.constantFrom(...CONTRIBUTORS), adapters: fc.subarray([1, 2], { minLength: 1 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('slash' as const), node: fc.constantFrom(...NODES), prover: fc.constantFrom('prover' as const, 'self' as const, 'other' as const), reuse: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('unbond' as const), node: fc.constantFrom(...NODES), percent: fc.integer({ min: 0, max: 120 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('withdrawUnbonded' as const), node: fc.constantFrom(...NODES) }), weight: 1 },
);
/** One or two opens first (so most steps have a channel), then 28-48 random steps. */
const sequenceArb = fc.tuple(fc.array(openArb, { minLength: 1, maxLength: 2 }), fc.array(opArb, { minLength: 28, maxLength: 48 })).map(([opens, rest]): Op[] => [...opens, ...rest]);

function revertName(error: unknown): string | undefined {
  const reverted = error instanceof BaseError ? (error.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null) : null;
  return reverted?.data?.errorName;
}

describe('contracts invariants (stateful fast-check, every actor)', () => {
  let c: Chain;
  let adapters: Hex[];
  const trees = new Map<number, AttributionTree>();
  let restore: () => Promise<void>;
  let readBatch: Address;
  let readAll: (reads: Read[]) => Promise<unknown[]>;
  let start: { now: bigint; total: Map<Actor, bigint>; supply: bigint };
  let steps = 0;
  const stats: Record<string, number> = {};
  const addr = (i: number): Address => c.accounts[i].address;

  beforeAll(async () => {
    c = await setupChain({ ...PARAMS });
    const k = c.deployment.contracts;
    ({ address: readBatch, readAll } = await deployReadBatch(c));
    // Each step takes a send that returns as a success without reading the receipt (one round trip
    // to EDR fewer per step): that holds while EDR throws on a failed transaction (Hardhat's
    // throwOnTransactionFailures, on by default).
    const failed = await c.as(PAYERS[0]).paymentChannels.write.withdraw([zeroHash], SEND_AS_IS).then(() => undefined, revertName);
    expect(failed, 'a failed transaction throws when sent').toBe('PaymentChannelsUnknownChannel');
    for (const p of PAYERS) await c.wait(c.as(p).token.write.approve([k.paymentChannels, 2n ** 255n]));
    for (const n of NODES) {
      await c.wait(c.as(n).token.write.approve([k.nodeRegistry, STAKE]));
      await c.wait(c.as(n).nodeRegistry.write.register([STAKE, `http://node-${n}`, []]));
    }
    adapters = [];
    for (const [j, split] of SPLITS.entries()) {
      await c.wait(c.as(OWNER).adapterRegistry.write.register([{ salt: id(`fuzz-${j}`), baseModelHash: id('b'), weightsHash: id('w'), uri: '', datanetIds: [], ...split }]));
      adapters.push(await c.contracts.adapterRegistry.read.adapterIdFor([addr(OWNER), id(`fuzz-${j}`)]));
      const weights = WEIGHTS[j];
      if (!weights) continue;
      const tree = buildAttributionTree({ adapterId: adapters[j], leaves: CONTRIBUTORS.map((i, x) => ({ contributor: addr(i), weight: weights[x] })) });
      trees.set(j, tree);
      await c.wait(c.as(OWNER).adapterRegistry.write.setAttributionRoot([adapters[j], tree.root, tree.totalWeight]));
    }
    const block = await c.publicClient.getBlock();
    const wallets = (await readAll(ACTORS.map((a) => ({ abi: testTokenAbi, to: k.token, fn: 'balanceOf', args: [addr(a)] })))) as bigint[];
    const total = new Map(ACTORS.map((a, i) => [a, wallets[i] + (NODES.includes(a) ? STAKE : 0n)]));
    const supply = await c.contracts.token.read.totalSupply();
    start = { now: block.timestamp, total, supply };
    restore = await c.snapshot();
  });

  function freshModel(): ContractsModel {
    const m = new ContractsModel({ now: start.now, feeBps: PARAMS.protocolFeeBps, slashBps: PARAMS.slashBps, proverRewardBps: PARAMS.proverRewardBps, unbondingDelay: PARAMS.unbondingDelay, treasury: TREASURY });
    for (const n of NODES) m.nodes.set(n, { stake: STAKE, unbonding: 0n, readyAt: 0n });
    SPLITS.forEach((split, j) => {
      const tree = trees.get(j);
      const weights = new Map<Actor, bigint>(tree ? CONTRIBUTORS.map((i, x) => [i, WEIGHTS[j]![x]]) : []);
      m.adapters.push({ id: adapters[j], owner: OWNER, split: { ...split }, weights, totalWeight: tree?.totalWeight ?? 0n, notified: 0n, balance: 0n, claimed: new Map() });
    });
    return m;
  }

  it(`hold after every step of >= ${MIN_STEPS.toLocaleString('en-US')} random steps`, async () => {
    await fc.assert(
      fc.asyncProperty(sequenceArb, async (ops) => {
        await restore();
        restore = await c.snapshot();
        const m = freshModel();
        const wallet = new Map<Actor, bigint>(); // out - in, per actor
        const seqs = new Map<Actor, bigint>();
        const slashedSeqs = new Map<Actor, { seq: bigint; proof: readonly [ReturnType<typeof receipt>, Hex, ReturnType<typeof receipt>, Hex] }[]>();
        const pay = (who: Actor, delta: bigint) => wallet.set(who, (wallet.get(who) ?? 0n) + delta);
        /** Advances the model's clock one second and makes it the next block's timestamp. */
        const tick = async () => {
          m.now += 1n;
          await c.connection.provider.request({ method: 'evm_setNextBlockTimestamp', params: [numberToHex(m.now)] });
        };
        /** Sends a transaction and checks it reverts exactly when (and how) the model says. */
        const expectOutcome = async (tx: () => Promise<Hex>, expected: string | undefined) => {
          let got: string | undefined;
          try {
            await tx(); // mined when it returns; a failed transaction throws (checked in beforeAll), so no receipt is read
          } catch (error) {
            got = revertName(error);
            if (!got) throw error;
          }
          expect(got).toBe(expected);
          stats[got ?? 'success'] = (stats[got ?? 'success'] ?? 0) + 1;
        };

        for (const op of ops) {
          steps += 1;
          stats[op.kind] = (stats[op.kind] ?? 0) + 1;
          const ch: ChannelModel | undefined = m.channels.length && 'channel' in op ? m.channels[op.channel % m.channels.length] : undefined;
          switch (op.kind) {
            case 'open': {
              await tick();
              const cid = await c.contracts.paymentChannels.read.channelIdFor([addr(op.payer), addr(op.node), c.deployment.contracts.token, id(`salt-${op.salt}`)]);
              const channel: ChannelModel = { id: cid, payer: op.payer, node: op.node, balance: 0n, withdrawDelay: op.delay, readyAt: 0n, claimed: new Map(), signed: new Map() };
              const expected = m.open(channel, op.amount);
              await expectOutcome(() => c.as(op.payer).paymentChannels.write.open([addr(op.node), c.deployment.contracts.token, addr(op.payer), op.amount, op.delay, id(`salt-${op.salt}`)], SEND_AS_IS), expected);
              if (!expected) pay(op.payer, -op.amount);
              break;
            }
            case 'topUp':
              if (!ch) break;
              await tick();
              await expectOutcome(() => c.as(ch.payer).paymentChannels.write.topUp([ch.id, op.amount], SEND_AS_IS), undefined);
              ch.balance += op.amount;
              pay(ch.payer, -op.amount);
              break;
            case 'settle': {
              if (!m.channels.length) break;
              const lanes = [];
              const vouchers: { voucher: { channelId: Hex; adapterId: Hex; cumulativeAmount: bigint }; signature: Hex }[] = [];
              for (const l of op.lanes) {
                const channel = m.channels[l.channel % m.channels.length];
                const top = channel.signed.get(l.lane) ?? 0n;
                // A stale voucher repeats or undercuts the largest one signed; a fresh one raises it.
                const cumulative = l.stale ? top - (l.add % (top + 1n)) : top + l.add;
                if (!l.stale) channel.signed.set(l.lane, cumulative);
                lanes.push({ channel, lane: l.lane, cumulative });
                const voucher = { channelId: channel.id, adapterId: l.lane === ZERO_LANE ? zeroHash : adapters[l.lane], cumulativeAmount: cumulative };
                vouchers.push({ voucher, signature: await signVoucher({ account: c.accounts[channel.payer], voucher, chainId: c.chainId, paymentChannels: c.deployment.contracts.paymentChannels }) });
              }
              await tick();
              m.settle(lanes);
              await expectOutcome(() => c.as(op.caller).paymentChannels.write.settle([vouchers], SEND_AS_IS), undefined);
              break;
            }
            case 'setRoyalty': {
              await tick();
              const a = m.adapters[op.adapter];
              const next = op.split === 'inForce' ? m.splitInForce(a) : op.split;
              m.setRoyalty(a, next);
              await expectOutcome(() => c.as(OWNER).adapterRegistry.write.setRoyalty([a.id, next.royaltyBps, next.contributorBps], SEND_AS_IS), undefined);
              break;
            }
            case 'setFee':
              await tick();
              m.setFee(op.bps);
              await expectOutcome(() => c.as(PROVER).paymentChannels.write.setProtocolFee([op.bps], SEND_AS_IS), undefined);
              break;
            case 'time': {
              const change = m.nextChange();
              // Land the next transaction one second before, or exactly at, the next change of terms.
              const target = change === undefined ? undefined : op.mode === 'beforeChange' ? change - 2n : op.mode === 'atChange' ? change - 1n : undefined;
              if (target !== undefined) m.now = target > m.now ? target : m.now;
              else m.now += BigInt(op.mode === 'day' ? 86_400 : op.seconds);
              break;
            }
            case 'requestWithdraw':
              if (!ch) break;
              await tick();
              ch.readyAt = m.now + ch.withdrawDelay;
              await expectOutcome(() => c.as(ch.payer).paymentChannels.write.requestWithdraw([ch.id], SEND_AS_IS), undefined);
              break;
            case 'withdraw': {
              if (!ch) break;
              await tick();
              const r = m.withdraw(ch);
              await expectOutcome(() => c.as(ch.payer).paymentChannels.write.withdraw([ch.id], SEND_AS_IS), r.error);
              pay(ch.payer, r.amount);
              break;
            }
            case 'withdrawCredit': {
              await tick();
              const fromChannels = m.withdrawCredit(m.pcCredit, op.who);
              await expectOutcome(() => c.as(op.who).paymentChannels.write.withdrawCredit(SEND_AS_IS), fromChannels === 0n ? 'PaymentChannelsNothingToWithdraw' : undefined);
              await tick();
              const fromRegistry = m.withdrawCredit(m.nrCredit, op.who);
              await expectOutcome(() => c.as(op.who).nodeRegistry.write.withdrawCredit(SEND_AS_IS), fromRegistry === 0n ? 'NodeRegistryNothingToWithdraw' : undefined);
              pay(op.who, fromChannels + fromRegistry);
              break;
            }
            case 'claim': {
              await tick();
              const proofs = op.adapters.map((j) => getAttributionProof(trees.get(j)!, addr(op.contributor)));
              const got = m.claim(op.contributor, op.adapters.map((j) => m.adapters[j]));
              await expectOutcome(() => c.as(op.contributor).attributionRewards.write.claim([op.adapters.map((j) => adapters[j]), proofs.map((p) => p.weight), proofs.map((p) => p.proof)], SEND_AS_IS), got === 0n ? 'AttributionRewardsNothingToClaim' : undefined);
              pay(op.contributor, got);
              break;
            }
            case 'slash': {
              const prover = op.prover === 'self' ? op.node : op.prover === 'other' ? NODES.find((n) => n !== op.node)! : PROVER;
              const earlier = slashedSeqs.get(op.node) ?? [];
              let entry = op.reuse && earlier.length ? earlier[earlier.length - 1] : undefined;
              if (!entry) {
                const seq = (seqs.get(op.node) ?? 0n) + 1n;
                seqs.set(op.node, seq);
                const a = receipt({ seq, amount: 1n });
                const b = receipt({ seq, amount: 2n });
                entry = { seq, proof: [a, await c.signReceiptAs(op.node, a), b, await c.signReceiptAs(op.node, b)] };
              }
              await tick();
              const expected = m.slash(op.node, entry.seq, prover);
              const proof = entry.proof;
              await expectOutcome(() => c.as(prover).nodeRegistry.write.slash(proof, SEND_AS_IS), expected);
              if (!expected && !earlier.includes(entry)) slashedSeqs.set(op.node, [...earlier, entry]);
              break;
            }
            case 'unbond': {
              const n = m.nodes.get(op.node)!;
              const amountToUnbond = (n.stake * BigInt(op.percent)) / 100n + (op.percent > 100 ? 1n : 0n);
              if (amountToUnbond === 0n) break;
              await tick();
              await expectOutcome(() => c.as(op.node).nodeRegistry.write.requestUnbond([amountToUnbond], SEND_AS_IS), m.requestUnbond(op.node, amountToUnbond));
              break;
            }
            case 'withdrawUnbonded': {
              await tick();
              const r = m.withdrawUnbonded(op.node);
              await expectOutcome(() => c.as(op.node).nodeRegistry.write.withdrawUnbonded(SEND_AS_IS), r.error);
              pay(op.node, r.amount);
              break;
            }
          }
          await checkInvariants(m, wallet);
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    if (process.env.FUZZ_STATS) console.log({ steps, ...stats });
    if (!process.env.FUZZ_RUNS) expect(steps).toBeGreaterThanOrEqual(MIN_STEPS);
  }, 900_000);

  async function checkInvariants(m: ContractsModel, walletDelta: Map<Actor, bigint>) {
    const k = c.deployment.contracts;
    const reads: Read[] = [];
    const at = (r: Read) => reads.push(r) - 1;
    const walletAt = ACTORS.map((a) => at({ abi: testTokenAbi, to: k.token, fn: 'balanceOf', args: [addr(a)] }));
    // Credits of anyone else show up as tokens the contracts hold for nobody (the per-contract check below).
    const pcAt = new Map(PC_CREDITED.map((a) => [a, at({ abi: paymentChannelsAbi, to: k.paymentChannels, fn: 'creditOf', args: [addr(a)] })]));
    const nrAt = new Map(NR_CREDITED.map((a) => [a, at({ abi: nodeRegistryAbi, to: k.nodeRegistry, fn: 'creditOf', args: [addr(a)] })]));
    const channelAt = m.channels.map((ch) => at({ abi: paymentChannelsAbi, to: k.paymentChannels, fn: 'channelOf', args: [ch.id], struct: true }));
    const laneAt = m.channels.map((ch) => Array.from({ length: ZERO_LANE + 1 }, (_, l) => at({ abi: paymentChannelsAbi, to: k.paymentChannels, fn: 'laneClaimed', args: [ch.id, l === ZERO_LANE ? zeroHash : adapters[l]] })));
    const notifiedAt = m.adapters.map((a) => at({ abi: attributionRewardsAbi, to: k.attributionRewards, fn: 'notifiedOf', args: [a.id] }));
    const poolAt = m.adapters.map((a) => at({ abi: attributionRewardsAbi, to: k.attributionRewards, fn: 'poolOf', args: [a.id] }));
    const claimedAt = m.adapters.map((a) => CONTRIBUTORS.map((i) => at({ abi: attributionRewardsAbi, to: k.attributionRewards, fn: 'claimedOf', args: [a.id, addr(i)] })));
    const nodeAt = NODES.map((n) => at({ abi: nodeRegistryAbi, to: k.nodeRegistry, fn: 'nodeOf', args: [addr(n)], struct: true }));
    const heldKeys = [...m.slashed].map((key) => key.split(':').map(BigInt) as [bigint, bigint]);
    const heldAt = heldKeys.map(([n, seq]) => at({ abi: nodeRegistryAbi, to: k.nodeRegistry, fn: 'heldRewardOf', args: [addr(Number(n)), seq] }));
    const contractAt = [k.paymentChannels, k.attributionRewards, k.nodeRegistry].map((x) => at({ abi: testTokenAbi, to: k.token, fn: 'balanceOf', args: [x] }));
    // The split views agree with the model's terms at the time the reads run.
    const splitAt = m.adapters.map((a) => at({ abi: adapterRegistryAbi, to: k.adapterRegistry, fn: 'termsOf', args: [a.id], struct: true }));
    const timeAt = at({ abi: readBatchAbi, to: readBatch, fn: 'timestamp', args: [] });
    const v = await readAll(reads);
    const big = (i: number) => v[i] as bigint;
    const credit = (ats: Map<Actor, number>, a: Actor) => (ats.has(a) ? big(ats.get(a)!) : 0n);

    // The chain is the model.
    ACTORS.forEach((a, i) => {
      expect(big(walletAt[i]), `wallet of ${a}`).toBe(start.total.get(a)! - (NODES.includes(a) ? STAKE : 0n) + (walletDelta.get(a) ?? 0n));
      expect(credit(pcAt, a), `PaymentChannels credit of ${a}`).toBe(m.pcCredit.get(a) ?? 0n);
      expect(credit(nrAt, a), `NodeRegistry credit of ${a}`).toBe(m.nrCredit.get(a) ?? 0n);
    });
    m.channels.forEach((ch, x) => {
      const state = v[channelAt[x]] as { balance: bigint; withdrawReadyAt: bigint };
      expect([state.balance, state.withdrawReadyAt]).toEqual([ch.balance, ch.readyAt]);
      laneAt[x].forEach((r, l) => expect(big(r)).toBe(ch.claimed.get(l) ?? 0n));
    });
    m.adapters.forEach((a, j) => {
      expect([big(notifiedAt[j]), big(poolAt[j])]).toEqual([a.notified, a.balance]);
      CONTRIBUTORS.forEach((i, x) => expect(big(claimedAt[j][x])).toBe(a.claimed.get(i) ?? 0n));
      const [royalty, contributor] = v[splitAt[j]] as readonly [number, number, number, number, bigint];
      expect({ royaltyBps: royalty, contributorBps: contributor }).toEqual(m.splitInForce(a, big(timeAt)));
    });
    NODES.forEach((n, x) => {
      const node = v[nodeAt[x]] as { stake: bigint; unbonding: bigint };
      expect([node.stake, node.unbonding]).toEqual([m.nodes.get(n)!.stake, m.nodes.get(n)!.unbonding]);
    });
    heldKeys.forEach(([n, seq], x) => expect(big(heldAt[x])).toBe(m.held.get(`${n}:${seq}`) ?? 0n));

    // Per actor: wallet + what the contracts hold for it == what it started with + earned - lost.
    let heldForActors = 0n;
    let sumEarned = 0n;
    let sumLost = 0n;
    ACTORS.forEach((a, i) => {
      let held = credit(pcAt, a) + credit(nrAt, a);
      m.channels.forEach((ch, x) => {
        if (ch.payer === a) held += (v[channelAt[x]] as { balance: bigint }).balance;
      });
      const nx = NODES.indexOf(a);
      if (nx >= 0) held += (v[nodeAt[nx]] as { stake: bigint }).stake + (v[nodeAt[nx]] as { unbonding: bigint }).unbonding;
      let accrued = 0n;
      m.adapters.forEach((ad, j) => {
        const x = CONTRIBUTORS.indexOf(a);
        if (x < 0) return;
        accrued += m.accrued(ad, a);
        held += m.accrued(ad, a) - big(claimedAt[j][x]);
      });
      const earned = (m.earned.get(a) ?? 0n) + accrued;
      const lost = m.lost.get(a) ?? 0n;
      expect(big(walletAt[i]) + held, `every wei of actor ${a}`).toBe(start.total.get(a)! + earned - lost);
      heldForActors += held;
      sumEarned += earned;
      sumLost += lost;
    });

    // Per contract: its tokens are what it holds for actors, pool dust (bounded) and held prover rewards.
    let dust = 0n;
    m.adapters.forEach((a, j) => {
      const owedOut = CONTRIBUTORS.reduce((s, i, x) => s + m.accrued(a, i) - big(claimedAt[j][x]), 0n);
      const d = big(poolAt[j]) - owedOut;
      expect(d).toBeGreaterThanOrEqual(0n);
      expect(d).toBeLessThan(BigInt(CONTRIBUTORS.length)); // less than one wei per contributor, ever
      dust += d;
    });
    const heldRewards = heldKeys.reduce((s, _, x) => s + big(heldAt[x]), 0n);
    const contracts = contractAt.reduce((s, x) => s + big(x), 0n);
    expect(contracts).toBe(heldForActors + dust + heldRewards);
    expect(sumEarned - sumLost).toBe(-(dust + heldRewards));
    expect(ACTORS.reduce((s, _, i) => s + big(walletAt[i]), 0n) + contracts).toBe(start.supply);
  }
});
