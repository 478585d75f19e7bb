/**
 * A TypeScript reference model of the openlora contracts' money (PaymentChannels, AdapterRegistry
 * split terms, AttributionRewards pools, NodeRegistry stakes and slashing), for the stateful
 * invariant test: each operation says whether the chain must revert (and with which error) and
 * updates balances the way the contracts must. It also keeps, per actor, what it earned and lost,
 * so "every wei in equals every wei out plus what is held" can be checked for every actor.
 * Time is the model's: the test sets each block's timestamp to `now`.
 */
import type { Hex } from 'viem';
import { splitPayment } from '../../src/chain/split.ts';
import { TERMS_DELAY_SECONDS } from '../../src/chain/terms.ts';

const BPS = 10_000n;
const POOL_CAP = 2n ** 96n - 1n;
export const TERMS_DELAY = BigInt(TERMS_DELAY_SECONDS);

export type Actor = number;
export interface Split {
  royaltyBps: number;
  contributorBps: number;
}

export interface AdapterModel {
  id: Hex;
  owner: Actor;
  split: Split;
  pending?: Split & { at: bigint };
  /** Leaf weights by contributor; empty: no root. */
  weights: Map<Actor, bigint>;
  totalWeight: bigint;
  notified: bigint;
  balance: bigint;
  claimed: Map<Actor, bigint>;
}

export interface ChannelModel {
  id: Hex;
  payer: Actor;
  node: Actor;
  balance: bigint;
  withdrawDelay: bigint;
  readyAt: bigint;
  /** Lane (adapter index; `adapters.length` is lane zero, the base model) to claimed total. */
  claimed: Map<number, bigint>;
  /** Lane to the largest voucher signed. */
  signed: Map<number, bigint>;
}

export interface NodeModel {
  stake: bigint;
  unbonding: bigint;
  readyAt: bigint;
}

export interface ModelParams {
  now: bigint;
  feeBps: number;
  slashBps: number;
  proverRewardBps: number;
  unbondingDelay: bigint;
  treasury: Actor;
}

/** One lane of a `settle` call. */
export interface LaneVoucher {
  channel: ChannelModel;
  lane: number;
  cumulative: bigint;
}

export class ContractsModel {
  now: bigint;
  fee: { bps: number; pending?: { bps: number; at: bigint } };
  readonly adapters: AdapterModel[] = [];
  readonly channels: ChannelModel[] = [];
  readonly nodes = new Map<Actor, NodeModel>();
  readonly pcCredit = new Map<Actor, bigint>();
  readonly nrCredit = new Map<Actor, bigint>();
  /** Prover rewards of self-slashes waiting for another prover, by `node:seq`. */
  readonly held = new Map<string, bigint>();
  readonly slashed = new Set<string>();
  /** Settlement and slash shares credited to each actor (contributors' accruals are computed from the pools). */
  readonly earned = new Map<Actor, bigint>();
  /** Paid out of each actor's channels on lanes, and slashed from its stake. */
  readonly lost = new Map<Actor, bigint>();

  readonly p: ModelParams;

  constructor(p: ModelParams) {
    this.p = p;
    this.now = p.now;
    this.fee = { bps: p.feeBps };
  }

  private add(map: Map<Actor, bigint>, who: Actor, amount: bigint) {
    map.set(who, (map.get(who) ?? 0n) + amount);
  }

  feeInForce(): number {
    const f = this.fee;
    return f.pending && this.now >= f.pending.at ? f.pending.bps : f.bps;
  }

  splitInForce(a: AdapterModel, at = this.now): Split {
    const s = a.pending && at >= a.pending.at ? a.pending : a.split;
    return { royaltyBps: s.royaltyBps, contributorBps: s.contributorBps };
  }

  /** floor(weight * notified / totalWeight): what `contributor` has earned on `a` in total. */
  accrued(a: AdapterModel, contributor: Actor): bigint {
    const w = a.weights.get(contributor) ?? 0n;
    return a.totalWeight === 0n ? 0n : (w * a.notified) / a.totalWeight;
  }

  setRoyalty(a: AdapterModel, next: Split): void {
    const inForce = this.splitInForce(a);
    a.split = { ...inForce };
    a.pending = next.royaltyBps === inForce.royaltyBps && next.contributorBps === inForce.contributorBps ? undefined : { ...next, at: this.now + TERMS_DELAY };
  }

  setFee(bps: number): void {
    const current = this.feeInForce();
    this.fee = { bps: current, pending: bps === current ? undefined : { bps, at: this.now + TERMS_DELAY } };
  }

  open(channel: ChannelModel, amount: bigint): string | undefined {
    if (this.channels.some((c) => c.id === channel.id)) return 'PaymentChannelsChannelExists';
    this.channels.push(channel);
    channel.balance = amount;
    return undefined;
  }

  /** One `settle` call: lanes in order, as the contract does. */
  settle(lanes: LaneVoucher[]): void {
    let toTreasury = 0n;
    const feeBps = this.feeInForce();
    for (const { channel, lane, cumulative } of lanes) {
      const claimed = channel.claimed.get(lane) ?? 0n;
      if (cumulative <= claimed) continue;
      const paid = cumulative - claimed < channel.balance ? cumulative - claimed : channel.balance;
      if (paid === 0n) continue;
      channel.balance -= paid;
      channel.claimed.set(lane, claimed + paid);
      this.add(this.lost, channel.payer, paid);
      const a = this.adapters[lane]; // undefined: lane zero
      const split = a ? this.splitInForce(a) : { royaltyBps: 0, contributorBps: 0 };
      const s = splitPayment({ paid, protocolFeeBps: feeBps, ...split, hasRoot: (a?.totalWeight ?? 0n) > 0n });
      this.add(this.pcCredit, channel.node, s.node);
      this.add(this.earned, channel.node, s.node);
      let owner = s.owner;
      if (a && s.contributors > 0n) {
        if (a.notified + s.contributors > POOL_CAP) owner += s.contributors;
        else {
          a.notified += s.contributors;
          a.balance += s.contributors;
        }
      }
      if (a && owner > 0n) {
        this.add(this.pcCredit, a.owner, owner);
        this.add(this.earned, a.owner, owner);
      }
      toTreasury += s.treasury;
    }
    this.add(this.pcCredit, this.p.treasury, toTreasury);
    this.add(this.earned, this.p.treasury, toTreasury);
  }

  withdraw(channel: ChannelModel): { error?: string; amount: bigint } {
    if (channel.readyAt === 0n) return { error: 'PaymentChannelsWithdrawNotRequested', amount: 0n };
    if (this.now < channel.readyAt) return { error: 'PaymentChannelsWithdrawNotReady', amount: 0n };
    const amount = channel.balance;
    channel.balance = 0n;
    channel.readyAt = 0n;
    return { amount };
  }

  withdrawCredit(map: Map<Actor, bigint>, who: Actor): bigint {
    const amount = map.get(who) ?? 0n;
    map.set(who, 0n);
    return amount;
  }

  claim(who: Actor, adapters: AdapterModel[]): bigint {
    let total = 0n;
    for (const a of adapters) {
      const accrued = this.accrued(a, who);
      const claimed = a.claimed.get(who) ?? 0n;
      if (accrued <= claimed) continue;
      const owed = accrued - claimed < a.balance ? accrued - claimed : a.balance;
      a.claimed.set(who, claimed + owed);
      a.balance -= owed;
      total += owed;
    }
    return total;
  }

  /** A proven equivocation of `node` at `seq` by `prover`: the revert the chain must give, if any. */
  slash(node: Actor, seq: bigint, prover: Actor): string | undefined {
    const key = `${node}:${seq}`;
    if (this.slashed.has(key)) {
      const held = this.held.get(key) ?? 0n;
      if (held === 0n || prover === node) return 'NodeRegistryAlreadySlashed';
      this.held.delete(key);
      this.add(this.nrCredit, prover, held);
      this.add(this.earned, prover, held);
      return undefined;
    }
    const n = this.nodes.get(node)!;
    const amount = ((n.stake + n.unbonding) * BigInt(this.p.slashBps)) / BPS;
    if (amount === 0n) return 'NodeRegistryNothingToSlash';
    this.slashed.add(key);
    if (amount <= n.stake) n.stake -= amount;
    else {
      n.unbonding -= amount - n.stake;
      n.stake = 0n;
    }
    this.add(this.lost, node, amount);
    const reward = (amount * BigInt(this.p.proverRewardBps)) / BPS;
    this.add(this.nrCredit, this.p.treasury, amount - reward);
    this.add(this.earned, this.p.treasury, amount - reward);
    if (prover === node) this.held.set(key, reward);
    else {
      this.add(this.nrCredit, prover, reward);
      this.add(this.earned, prover, reward);
    }
    return undefined;
  }

  requestUnbond(node: Actor, amount: bigint): string | undefined {
    const n = this.nodes.get(node)!;
    if (amount > n.stake) return 'NodeRegistryInsufficientStake';
    n.stake -= amount;
    n.unbonding += amount;
    n.readyAt = this.now + this.p.unbondingDelay;
    return undefined;
  }

  withdrawUnbonded(node: Actor): { error?: string; amount: bigint } {
    const n = this.nodes.get(node)!;
    if (n.unbonding === 0n || this.now < n.readyAt) return { error: 'NodeRegistryUnbondingNotReady', amount: 0n };
    const amount = n.unbonding;
    n.unbonding = 0n;
    n.readyAt = 0n;
    return { amount };
  }

  /** The next time a pending split or fee change takes effect, if any. */
  nextChange(): bigint | undefined {
    const times = [this.fee.pending?.at, ...this.adapters.map((a) => a.pending?.at)].filter((t): t is bigint => t !== undefined && t > this.now);
    return times.length ? times.reduce((m, t) => (t < m ? t : m)) : undefined;
  }
}
