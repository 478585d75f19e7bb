import type { Address, Hex } from 'viem';
import { recoverVoucherSigner, voucherDigest } from '../chain/eip712.ts';
import type { LaneStore } from '../ledger/lanes.ts';
import { PaymentRequiredError } from './errors.ts';
import type { PaymentAuthorization, PaymentGate, PaymentRequest } from './gate.ts';
import type { ChannelReader } from './channels.ts';
import type { ResolvedModel } from '../serving/inference.ts';
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
  /** Most a payer may owe unacknowledged on one lane, token base units. */
  creditLimit: bigint;
  priceOf(adapterId: Hex | null): Price;
}

/** The lane state returned by `POST /v1/vouchers` and in 402 bodies. */
export interface LaneState {
  channelId: Hex;
  adapterId: Hex;
  /** What the node has charged on the lane: the amount to acknowledge. */
  charged: string;
  /** The largest voucher the node holds. */
  acknowledged: string;
  creditLimit: string;
}

/** Paid mode: also accepts vouchers without a request (`POST /v1/vouchers`). */
export interface PaidGate extends PaymentGate {
  readonly mode: 'paid';
  /** Verifies and stores a voucher; returns the lane's state. */
  acceptVoucher(voucher: SignedVoucher): Promise<LaneState>;
  /** Tells the gate what the chain has paid on a lane (from the settlement worker). */
  noteSettled(channelId: Hex, adapterId: Hex, settled: bigint): void;
  /** Payment requirements for a model (402 bodies, `GET /v1/payment`); without a model, the node's alone. */
  requirements(model: ResolvedModel | null, lane?: { channelId: Hex; adapterId: Hex }): Record<string, unknown>;
}

interface Lane {
  charged: bigint;
  acknowledged: bigint;
  reserved: bigint;
  /** What the chain has paid on the lane (from the voucher store). */
  settled: bigint;
}

/**
 * Post-pay vouchers (protocol.md "Money flow"): a request carries the payer's latest voucher for its
 * lane; the node serves while `charged + reserved - acknowledged + ceiling <= creditLimit`, reserving
 * the request's ceiling until it is charged. Stale vouchers are refused, so a replayed voucher buys
 * nothing; the payer never owes more than the receipts it acknowledged.
 */
export function createPaidGate(p: CreatePaidGateParameters): PaidGate {
  const lanes = new Map<string, Lane>();
  const key = (channelId: Hex, adapterId: Hex) => `${channelId}:${adapterId}`;
  const loadedChannels = new Set<Hex>();

  function lane(channelId: Hex, adapterId: Hex): Lane {
    let l = lanes.get(key(channelId, adapterId));
    if (!l) {
      const held = p.lanes.voucher(channelId, adapterId);
      l = { charged: p.lanes.charged(channelId, adapterId), acknowledged: held?.amount ?? 0n, reserved: 0n, settled: held?.settled ?? 0n };
      lanes.set(key(channelId, adapterId), l);
    }
    return l;
  }

  /** What the channel's balance must still cover: everything charged or reserved and not yet paid out, over its lanes. */
  function exposure(channelId: Hex): bigint {
    if (!loadedChannels.has(channelId)) {
      for (const adapterId of p.lanes.adaptersOf(channelId)) lane(channelId, adapterId);
      loadedChannels.add(channelId);
    }
    let total = 0n;
    for (const [k, l] of lanes) if (k.startsWith(channelId)) total += l.charged + l.reserved - l.settled;
    return total;
  }

  function requirements(model: ResolvedModel | null, laneRef?: { channelId: Hex; adapterId: Hex }): Record<string, unknown> {
    const out: Record<string, unknown> = {
      scheme: 'openlora-channel',
      node: p.node,
      chainId: p.chainId,
      contracts: { paymentChannels: p.paymentChannels, token: p.token },
      creditLimit: p.creditLimit.toString(),
      header: VOUCHER_HEADER,
    };
    if (model) {
      const price = p.priceOf(model.adapterId);
      out.model = model.name;
      out.adapterId = model.laneId;
      out.price = { inputPer1k: price.inputPer1k.toString(), outputPer1k: price.outputPer1k.toString() };
    }
    if (laneRef) {
      const l = lane(laneRef.channelId, laneRef.adapterId);
      out.lane = { channelId: laneRef.channelId, adapterId: laneRef.adapterId, charged: l.charged.toString(), acknowledged: l.acknowledged.toString() };
    }
    return out;
  }

  /** Checks a voucher against the chain and the lane; stores it when it is the largest yet. */
  async function verify(sv: SignedVoucher, model: ResolvedModel | null): Promise<Lane> {
    const { channelId, adapterId, cumulativeAmount } = sv.voucher;
    const req = requirements(model, { channelId, adapterId });
    if (model !== null && adapterId !== model.laneId.toLowerCase()) {
      throw new PaymentRequiredError('wrong_lane', `The voucher is for lane adapter ${adapterId}, the request is for ${model.laneId}.`, 'Send the voucher of the lane (channel, adapter) the request uses.', req);
    }
    const channel = await p.channels.get(channelId);
    if (channel.payer === '0x0000000000000000000000000000000000000000') {
      throw new PaymentRequiredError('unknown_channel', `Channel ${channelId} does not exist on chain ${p.chainId}.`, 'Open a channel to this node with PaymentChannels.open (openlora channel open).', req);
    }
    if (channel.node.toLowerCase() !== p.node.toLowerCase()) {
      throw new PaymentRequiredError('wrong_node', `Channel ${channelId} pays node ${channel.node}, not this node (${p.node}).`, 'Open a channel to this node.', req);
    }
    let signer: Address;
    try {
      signer = await recoverVoucherSigner({ voucher: sv.voucher, chainId: p.chainId, paymentChannels: p.paymentChannels, signature: sv.signature });
    } catch {
      signer = '0x0000000000000000000000000000000000000000';
    }
    if (signer.toLowerCase() !== channel.authorizer.toLowerCase()) {
      throw new PaymentRequiredError('bad_signature', `The voucher is not signed by channel ${channelId}'s authorizer ${channel.authorizer} for chain ${p.chainId} and PaymentChannels ${p.paymentChannels}.`, "Sign the voucher with the channel's authorizer key in this node's EIP-712 domain.", req);
    }
    const l = lane(channelId, adapterId);
    if (cumulativeAmount < l.acknowledged) {
      throw new PaymentRequiredError('stale_voucher', `The voucher acknowledges ${cumulativeAmount}, less than the ${l.acknowledged} already acknowledged on this lane.`, `Sign a voucher for the lane's charged total (${l.charged}).`, req);
    }
    if (cumulativeAmount > l.acknowledged) {
      p.lanes.saveVoucher({ channelId, adapterId, amount: cumulativeAmount, signature: sv.signature, digest: voucherDigest({ voucher: sv.voucher, chainId: p.chainId, paymentChannels: p.paymentChannels }) });
      l.acknowledged = cumulativeAmount;
    }
    return l;
  }

  return {
    mode: 'paid',
    requirements,
    noteSettled(channelId, adapterId, settled) {
      const l = lane(channelId.toLowerCase() as Hex, adapterId.toLowerCase() as Hex);
      if (settled > l.settled) l.settled = settled;
      p.channels.invalidate(channelId);
    },
    async acceptVoucher(sv) {
      const l = await verify(sv, null);
      return { channelId: sv.voucher.channelId, adapterId: sv.voucher.adapterId, charged: l.charged.toString(), acknowledged: l.acknowledged.toString(), creditLimit: p.creditLimit.toString() };
    },
    async authorize(request: PaymentRequest): Promise<PaymentAuthorization> {
      const laneAdapter = request.model.laneId.toLowerCase() as Hex;
      const header = request.headers[VOUCHER_HEADER];
      if (typeof header !== 'string' || header === '') {
        throw new PaymentRequiredError('voucher_missing', 'This node is paid per token: the request carries no voucher.', `Open a channel to ${p.node} and send your latest voucher for the lane in the ${VOUCHER_HEADER} header (the first request carries a voucher for 0). The openlora client SDK's createPaidClient() does this.`, requirements(request.model));
      }
      const sv = parseVoucherHeader(header, requirements(request.model));
      const { channelId } = sv.voucher;
      const channel = await p.channels.get(channelId);
      const l = await verify(sv, request.model);
      const req = requirements(request.model, { channelId, adapterId: laneAdapter });
      if (channel.withdrawReadyAt !== 0n) {
        throw new PaymentRequiredError('withdrawing', `Channel ${channelId} is being withdrawn; the node serves it no more.`, 'Open a new channel, or top it up and cancel by opening anew.', req);
      }
      const price = p.priceOf(request.model.adapterId);
      const cost = ceiling(price, request.promptTokens, request.maxTokens);
      const unpaid = l.charged + l.reserved - l.acknowledged;
      if (unpaid + cost > p.creditLimit) {
        throw new PaymentRequiredError('credit_exhausted', `Lane credit exhausted: ${unpaid} unacknowledged plus this request's ceiling ${cost} exceeds the credit limit ${p.creditLimit}.`, `Sign a voucher for ${l.charged} (the lane's charged total) and retry, or lower max_tokens.`, req);
      }
      if (exposure(channelId) + cost > channel.balance) {
        throw new PaymentRequiredError('balance_exhausted', `Channel ${channelId} holds ${channel.balance}, too little for what is owed plus this request's ceiling ${cost}.`, 'Top the channel up (openlora channel topup).', req);
      }
      l.reserved += cost;
      let done = false;
      return {
        payer: channel.payer,
        channelId,
        laneAdapterId: laneAdapter,
        voucherDigest: voucherDigest({ voucher: sv.voucher, chainId: p.chainId, paymentChannels: p.paymentChannels }),
        voucher: sv,
        commit(usage) {
          if (done) throw new Error('payment authorization committed twice');
          done = true;
          l.reserved -= cost;
          const amount = charge(price, usage);
          l.charged += amount;
          return { amount, laneCharged: l.charged };
        },
        release() {
          if (done) return;
          done = true;
          l.reserved -= cost;
        },
      };
    },
  };
}
