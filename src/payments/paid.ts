import { LRUCache } from 'lru-cache';
import { isAddressEqual, zeroAddress, type Address, type Hex } from 'viem';
import { recoverVoucherSigner, voucherDigest } from '../chain/eip712.ts';
import type { LaneStore } from '../ledger/lanes.ts';
import type { ReceiptLedger } from '../ledger/receipts.ts';
import type { ResolvedModel } from '../serving/inference.ts';
import { channelExposure, channelUnpaid, createAccountBook, type ChannelAccount, type Lane } from './accounts.ts';
import type { ChannelReader, ChannelState } from './channels.ts';
import { PaymentRequiredError } from './errors.ts';
import type { PaymentAdmission, PaymentGate } from './gate.ts';
import { ceiling, charge, type Price } from './pricing.ts';
import { VOUCHER_HEADER, parseVoucherHeader, type SignedVoucher } from './voucher.ts';

export interface CreatePaidGateParameters {
  /** This node's address (channels must be opened to it). */
  node: Address;
  chainId: number;
  paymentChannels: Address;
  token: Address;
  channels: ChannelReader;
  lanes: LaneStore;
  ledger: ReceiptLedger;
  /** Most a payer may owe unacknowledged on one lane, token base units. */
  creditLimit: bigint;
  /** Most a payer may owe unacknowledged on one channel, over all its lanes. */
  channelCreditLimit: bigint;
  /** Verified channel accounts kept in memory (LRU). */
  accountCacheSize?: number;
  /** Voucher signatures remembered as verified (LRU). Default 10,000. */
  signatureCacheSize?: number;
  /** Announced with the requirements: how the node picks `max_tokens` when a request gives none. */
  limits?: { defaultMaxTokens: number; maxTokensCap: number; contextLength: number };
  priceOf(adapterId: Hex | null): Price;
  /** Lanes this node serves: a voucher for any other lane is refused (`POST /v1/vouchers` keeps nothing for it). */
  servesLane(adapterId: Hex): boolean;
}

/**
 * A lane as the node shows it to its payer (`GET /v1/payment?channel=`, 402 bodies, `POST
 * /v1/vouchers`): the payer's own latest voucher lets a restarted payer resume without trusting
 * the node (it checks its own signature), and `tail` is the cursor of the receipts after it.
 */
export interface LaneView {
  channelId: Hex;
  adapterId: Hex;
  /** What the node has charged on the lane: the amount to acknowledge. */
  charged: string;
  /** The largest voucher the node holds. */
  acknowledged: string;
  /** That voucher (its signature), null when the node holds none. */
  voucher: { cumulativeAmount: string; signature: Hex } | null;
  /** Seq of the last receipt that voucher covers (`/v1/receipts?after=` it lists the unacknowledged tail); null: from the first. */
  tail: string | null;
  creditLimit: string;
  channelCreditLimit: string;
}

/** Paid mode: also accepts vouchers without a request (`POST /v1/vouchers`). */
export interface PaidGate extends PaymentGate {
  readonly mode: 'paid';
  /** Verifies and stores a voucher; returns the lane's state. */
  acceptVoucher(voucher: SignedVoucher): Promise<LaneView>;
  /** Tells the gate what the chain has paid on a lane (from the settlement worker). */
  noteSettled(channelId: Hex, adapterId: Hex, settled: bigint): void;
  /** Payment requirements for a model (402 bodies, `GET /v1/payment`); without a model, the node's alone. */
  requirements(model: ResolvedModel | null): Record<string, unknown>;
  /** A lane read from the ledger (creates no state): what the node charged and the payer's latest voucher. */
  laneView(channelId: Hex, adapterId: Hex): LaneView;
  /** Entries in the gate's bounded caches (tests and benchmarks). */
  stats(): { channels: number; accounts: number; signatures: number };
}

/**
 * Post-pay vouchers (protocol.md "Money flow"). A request carries the payer's latest voucher for
 * its lane; before anything is kept or read for it, the voucher must be signed by the channel's
 * authorizer (the channel itself comes from a bounded, rate-limited cache of chain reads). Then the
 * node serves while the lane's and the channel's unacknowledged totals plus the request's ceiling
 * stay within their credit limits and everything owed stays within the channel's balance. Stale
 * vouchers are refused, so a replayed voucher buys nothing; the payer never owes more than the
 * receipts it acknowledged.
 */
export function createPaidGate(p: CreatePaidGateParameters): PaidGate {
  const accounts = createAccountBook({ ledger: p.ledger, lanes: p.lanes, maxEntries: p.accountCacheSize });
  const signers = new LRUCache<string, Address>({ max: p.signatureCacheSize ?? 10_000 });
  const digestOf = (v: SignedVoucher['voucher']) => voucherDigest({ voucher: v, chainId: p.chainId, paymentChannels: p.paymentChannels });

  function requirements(model: ResolvedModel | null): Record<string, unknown> {
    const out: Record<string, unknown> = {
      scheme: 'openlora-channel',
      node: p.node,
      chainId: p.chainId,
      contracts: { paymentChannels: p.paymentChannels, token: p.token },
      creditLimit: p.creditLimit.toString(),
      channelCreditLimit: p.channelCreditLimit.toString(),
      header: VOUCHER_HEADER,
      ...(p.limits ? { limits: p.limits } : {}),
    };
    if (model) {
      const price = p.priceOf(model.adapterId);
      out.model = model.name;
      out.adapterId = model.laneId;
      out.price = { inputPer1k: price.inputPer1k.toString(), outputPer1k: price.outputPer1k.toString() };
    }
    return out;
  }

  function laneView(channelId: Hex, adapterId: Hex): LaneView {
    const held = p.lanes.voucher(channelId, adapterId);
    const acknowledged = held?.amount ?? 0n;
    const ledgerCharged = p.ledger.laneCharged(channelId, adapterId);
    const tail = held ? p.ledger.tailCursor(channelId, adapterId, acknowledged) : undefined;
    return {
      channelId,
      adapterId,
      charged: (ledgerCharged > acknowledged ? ledgerCharged : acknowledged).toString(),
      acknowledged: acknowledged.toString(),
      voucher: held ? { cumulativeAmount: held.amount.toString(), signature: held.signature } : null,
      tail: tail?.toString() ?? null,
      creditLimit: p.creditLimit.toString(),
      channelCreditLimit: p.channelCreditLimit.toString(),
    };
  }

  const refuse = (reason: ConstructorParameters<typeof PaymentRequiredError>[0], message: string, hint: string, model: ResolvedModel | null, lane?: { channelId: Hex; adapterId: Hex }) =>
    new PaymentRequiredError(reason, message, hint, { ...requirements(model), ...(lane ? { lane: laneView(lane.channelId, lane.adapterId) } : {}) });

  /** Checks a voucher's channel (this node's) and signature (its authorizer's); nothing is kept or loaded before this passes. */
  async function verifySigner(sv: SignedVoucher): Promise<ChannelState> {
    const { channelId } = sv.voucher;
    const channel = await p.channels.get(channelId);
    if (isAddressEqual(channel.payer, zeroAddress)) {
      throw refuse('unknown_channel', `Channel ${channelId} does not exist on chain ${p.chainId}.`, 'Open a channel to this node with PaymentChannels.open (openlora channel open).', null);
    }
    if (!isAddressEqual(channel.node, p.node)) {
      throw refuse('wrong_node', `Channel ${channelId} pays node ${channel.node}, not this node (${p.node}).`, 'Open a channel to this node.', null);
    }
    const key = `${digestOf(sv.voucher)}:${sv.signature}`;
    let signer = signers.get(key);
    if (!signer) {
      signer = await recoverVoucherSigner({ voucher: sv.voucher, chainId: p.chainId, paymentChannels: p.paymentChannels, signature: sv.signature }).catch(() => zeroAddress);
      if (isAddressEqual(signer, channel.authorizer)) signers.set(key, signer); // only verified signatures are remembered
    }
    if (!isAddressEqual(signer, channel.authorizer)) {
      throw refuse('bad_signature', `The voucher is not signed by channel ${channelId}'s authorizer ${channel.authorizer} for chain ${p.chainId} and PaymentChannels ${p.paymentChannels}.`, "Sign the voucher with the channel's authorizer key in this node's EIP-712 domain.", null);
    }
    return channel;
  }

  /** After `verifySigner`: the lane's state (loaded now), the voucher kept when it is the largest yet; stale vouchers refused. */
  function acknowledge(sv: SignedVoucher, model: ResolvedModel | null): { account: ChannelAccount; lane: Lane } {
    const { channelId, adapterId, cumulativeAmount } = sv.voucher;
    const account = accounts.get(channelId);
    const lane = accounts.lane(account, adapterId);
    if (cumulativeAmount < lane.acknowledged) {
      throw refuse('stale_voucher', `The voucher acknowledges ${cumulativeAmount}, less than the ${lane.acknowledged} already acknowledged on this lane.`, `Sign a voucher for the lane's charged total (${lane.charged}); \`lane.voucher\` is your latest.`, model, { channelId, adapterId });
    }
    if (cumulativeAmount > lane.acknowledged) {
      p.lanes.saveVoucher({ channelId, adapterId, amount: cumulativeAmount, signature: sv.signature, digest: digestOf(sv.voucher) });
      lane.acknowledged = cumulativeAmount;
      if (lane.charged < cumulativeAmount) lane.charged = cumulativeAmount;
    }
    return { account, lane };
  }

  const gate: PaidGate = {
    mode: 'paid',
    requirements,
    laneView,
    stats: () => ({ channels: p.channels.size, accounts: accounts.size, signatures: signers.size }),
    noteSettled(channelId, adapterId, settled) {
      const account = accounts.peek(channelId.toLowerCase() as Hex);
      const lane = account?.lanes.get(adapterId.toLowerCase() as Hex);
      if (lane && settled > lane.settled) lane.settled = settled;
      p.channels.invalidate(channelId);
    },
    async acceptVoucher(sv) {
      if (!p.servesLane(sv.voucher.adapterId)) {
        throw refuse('wrong_lane', `This node serves no lane ${sv.voucher.adapterId}.`, 'Send vouchers for the lanes of the models you use (GET /v1/models lists their adapter ids).', null);
      }
      await verifySigner(sv);
      acknowledge(sv, null);
      return laneView(sv.voucher.channelId, sv.voucher.adapterId);
    },
    async identify(headers) {
      const header = headers[VOUCHER_HEADER];
      if (typeof header !== 'string' || header === '') {
        throw refuse('voucher_missing', 'This node is paid per token: the request carries no voucher.', `Open a channel to ${p.node} and send your latest voucher for the lane in the ${VOUCHER_HEADER} header (the first request carries a voucher for 0). The openlora client SDK's createPaidClient() does this.`, null);
      }
      const sv = parseVoucherHeader(header, requirements(null));
      const channel = await verifySigner(sv);
      const { channelId } = sv.voucher;
      return {
        payer: channel.payer,
        rateKey: `channel:${channelId}`,
        admit: async (model) => admit(sv, channel, model),
      };
    },
  };
  return gate;

  function admit(sv: SignedVoucher, channel: ChannelState, model: ResolvedModel): PaymentAdmission {
    const { channelId, adapterId } = sv.voucher;
    if (adapterId !== model.laneId.toLowerCase()) {
      throw refuse('wrong_lane', `The voucher is for lane adapter ${adapterId}, the request is for ${model.laneId}.`, 'Send the voucher of the lane (channel, adapter) the request uses.', model);
    }
    const { account, lane } = acknowledge(sv, model);
    const at = { channelId, adapterId };
    if (channel.withdrawReadyAt !== 0n) {
      throw refuse('withdrawing', `Channel ${channelId} is being withdrawn; the node serves it no more.`, 'Open a new channel.', model, at);
    }
    // Cheap early refusals, before the prompt is tokenized: no credit left at all.
    if (lane.charged + lane.reserved - lane.acknowledged >= p.creditLimit) {
      throw refuse('credit_exhausted', `Lane credit exhausted: ${lane.charged + lane.reserved - lane.acknowledged} unacknowledged, the credit limit is ${p.creditLimit}.`, `Sign a voucher for ${lane.charged} (the lane's charged total) and retry.`, model, at);
    }
    if (channelUnpaid(account) >= p.channelCreditLimit) {
      throw refuse('channel_credit_exhausted', `Channel credit exhausted: ${channelUnpaid(account)} unacknowledged over the channel's lanes, the limit is ${p.channelCreditLimit}.`, 'Acknowledge the charged total of every lane you use (POST /v1/vouchers), then retry.', model, at);
    }
    const price = p.priceOf(model.adapterId);
    const digest = digestOf(sv.voucher);
    return {
      reserve({ promptTokens, maxTokens }) {
        const cost = ceiling(price, promptTokens, maxTokens);
        const unpaid = lane.charged + lane.reserved - lane.acknowledged;
        if (unpaid + cost > p.creditLimit) {
          throw refuse('credit_exhausted', `Lane credit exhausted: ${unpaid} unacknowledged plus this request's ceiling ${cost} exceeds the credit limit ${p.creditLimit}.`, `Sign a voucher for ${lane.charged} (the lane's charged total) and retry, or lower max_tokens.`, model, at);
        }
        const channelOwed = channelUnpaid(account);
        if (channelOwed + cost > p.channelCreditLimit) {
          throw refuse('channel_credit_exhausted', `Channel credit exhausted: ${channelOwed} unacknowledged over the channel's lanes plus this request's ceiling ${cost} exceeds ${p.channelCreditLimit}.`, 'Acknowledge the charged total of every lane you use (POST /v1/vouchers), or lower max_tokens.', model, at);
        }
        if (channelExposure(account) + cost > channel.balance) {
          throw refuse('balance_exhausted', `Channel ${channelId} holds ${channel.balance}, too little for what is owed plus this request's ceiling ${cost}.`, 'Top the channel up (openlora channel topup).', model, at);
        }
        lane.reserved += cost;
        account.inflight++;
        let done = false;
        const end = () => {
          done = true;
          lane.reserved -= cost;
          accounts.done(account);
        };
        return {
          payer: channel.payer,
          channelId,
          laneAdapterId: adapterId,
          voucherDigest: digest,
          voucher: sv,
          amountFor: (usage) => charge(price, usage),
          charged: () => lane.charged,
          commit(_amount, laneCharged) {
            if (done) return;
            end();
            lane.charged = laneCharged;
          },
          release() {
            if (!done) end();
          },
        };
      },
    };
}
}
