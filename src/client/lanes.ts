import type { Address, Hex, LocalAccount } from 'viem';
import { recoverUsageReceiptSigner, signVoucher } from '../chain/eip712.ts';
import { charge, type Price } from '../payments/pricing.ts';
import { receiptFromJson } from '../payments/receiptJson.ts';
import type { SignedVoucher } from '../payments/voucher.ts';
import { ReceiptMismatchError } from './errors.ts';

/** A receipt as the node returns it (header or final SSE event). */
export interface ReceiptJson {
  node: Address;
  payer: string;
  digest: Hex;
  signature: Hex;
  receipt: {
    channelId: Hex;
    adapterId: Hex;
    requestId: Hex;
    seq: string;
    promptTokens: number | string;
    completionTokens: number | string;
    amount: string;
    laneCharged: string;
    voucherDigest: Hex;
    attributionDigest: Hex;
    timestamp: string;
  };
}

/** The client's view of one lane. */
export interface ClientLane {
  adapterId: Hex;
  price: Price;
  /** Sum of the amounts of every verified receipt: what the payer acknowledges. */
  charged: bigint;
  /** The largest `laneCharged` any receipt claimed. */
  claimed: bigint;
  /** Requests under way on the lane. */
  inflight: number;
  /** Seqs of verified receipts. */
  seen: Set<string>;
}

export interface LaneBookParameters {
  account: LocalAccount;
  channelId: Hex;
  node: Address;
  chainId: number;
  paymentChannels: Address;
  nodeRegistry: Address;
  /** The node's receipts of a lane (GET /v1/receipts), to account for receipts a cancelled response never delivered. */
  fetchReceipts: (channelId: Hex, adapterId: Hex) => Promise<ReceiptJson[]>;
}

/**
 * The payer's per-lane accounts with one node. Every receipt is checked (node signature, channel,
 * lane, token counts, amount from the announced price) before a voucher acknowledges it, and a
 * voucher never acknowledges more than the verified receipts add up to. When nothing is in flight,
 * the node's `laneCharged` must equal that sum (after fetching receipts the client missed);
 * otherwise the node is no longer trusted.
 */
export class LaneBook {
  readonly #p: LaneBookParameters;
  readonly #lanes = new Map<Hex, ClientLane>();
  #poisoned: ReceiptMismatchError | undefined;

  constructor(p: LaneBookParameters) {
    this.#p = p;
  }

  lane(adapterId: Hex, price: Price): ClientLane {
    const id = adapterId.toLowerCase() as Hex;
    let lane = this.#lanes.get(id);
    if (!lane) this.#lanes.set(id, (lane = { adapterId: id, price, charged: 0n, claimed: 0n, inflight: 0, seen: new Set() }));
    return lane;
  }

  lanes(): ClientLane[] {
    return [...this.#lanes.values()];
  }

  /** Throws the mismatch that ended trust in the node, if any. */
  assertTrusted(): void {
    if (this.#poisoned) throw this.#poisoned;
  }

  #fail(problem: string): never {
    this.#poisoned = new ReceiptMismatchError(problem, this.#p.node);
    throw this.#poisoned;
  }

  /** Signs the voucher acknowledging the lane's verified total. */
  async voucher(lane: ClientLane): Promise<SignedVoucher> {
    this.assertTrusted();
    const voucher = { channelId: this.#p.channelId, adapterId: lane.adapterId, cumulativeAmount: lane.charged };
    const signature = await signVoucher({ account: this.#p.account, voucher, chainId: this.#p.chainId, paymentChannels: this.#p.paymentChannels });
    return { voucher, signature };
  }

  /** Checks one receipt; `usage` are the token counts the response itself reported (absent for receipts fetched later). */
  async verify(lane: ClientLane, json: ReceiptJson, usage?: { promptTokens: number; completionTokens: number }): Promise<void> {
    this.assertTrusted();
    const r = json.receipt;
    if (lane.seen.has(r.seq)) return;
    const receipt = receiptFromJson(json);
    let signer: Address | undefined;
    try {
      signer = await recoverUsageReceiptSigner({ receipt, signature: json.signature, chainId: this.#p.chainId, nodeRegistry: this.#p.nodeRegistry });
    } catch {
      signer = undefined;
    }
    if (signer?.toLowerCase() !== this.#p.node.toLowerCase()) this.#fail(`receipt seq ${r.seq} is not signed by the node key`);
    if (receipt.channelId.toLowerCase() !== this.#p.channelId.toLowerCase()) this.#fail(`receipt seq ${r.seq} names channel ${receipt.channelId}`);
    if (receipt.adapterId.toLowerCase() !== lane.adapterId) this.#fail(`receipt seq ${r.seq} names lane ${receipt.adapterId}, not ${lane.adapterId}`);
    if (usage && (receipt.promptTokens !== usage.promptTokens || receipt.completionTokens !== usage.completionTokens)) {
      this.#fail(`receipt seq ${r.seq} counts ${receipt.promptTokens}+${receipt.completionTokens} tokens, the response ${usage.promptTokens}+${usage.completionTokens}`);
    }
    const expected = charge(lane.price, { promptTokens: receipt.promptTokens, completionTokens: receipt.completionTokens });
    if (receipt.amount !== expected) this.#fail(`receipt seq ${r.seq} charges ${receipt.amount}, the announced price gives ${expected}`);
    lane.seen.add(r.seq);
    lane.charged += receipt.amount;
    if (receipt.laneCharged > lane.claimed) lane.claimed = receipt.laneCharged;
  }

  /** With nothing in flight, the node's claimed total must equal the verified sum (fetching receipts the client missed). */
  async reconcile(lane: ClientLane): Promise<void> {
    if (lane.inflight > 0 || lane.claimed <= lane.charged) return;
    for (const json of await this.#p.fetchReceipts(this.#p.channelId, lane.adapterId)) await this.verify(lane, json);
    if (lane.claimed > lane.charged) this.#fail(`lane ${lane.adapterId} claims ${lane.claimed} charged, its receipts add up to ${lane.charged}`);
  }
}
