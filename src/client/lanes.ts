import { isAddressEqual, type Address, type Hex, type LocalAccount } from 'viem';
import { recoverUsageReceiptSigner, recoverVoucherSigner, signVoucher } from '../chain/eip712.ts';
import { charge, type Price } from '../payments/pricing.ts';
import { receiptFromJson, requestIdOfNonce } from '../payments/receiptJson.ts';
import type { SignedVoucher } from '../payments/voucher.ts';
import { NodeEquivocatedError, ReceiptMismatchError } from './errors.ts';
import { readNonce, type RequestBound } from './nonce.ts';
import type { PaidClientStore } from './store.ts';

/** Receipts remembered for equivocation checks (the oldest go first). */
const SEEN_RECEIPTS = 10_000;

/** A receipt as the node returns it (header, final SSE event, `/v1/receipts`). */
export interface ReceiptJson {
  node: Address;
  payer: string;
  digest: Hex;
  signature: Hex;
  /** The request nonce the payer sent (absent for requests without one). */
  nonce?: string;
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

/** The lane as the node shows it to its payer (`GET /v1/payment?model=&channel=`). */
export interface NodeLaneView {
  charged: string;
  voucher: { cumulativeAmount: string; signature: Hex } | null;
  tail: string | null;
}

/** The client's view of one lane. */
export interface ClientLane {
  adapterId: Hex;
  price: Price;
  /**
   * What the payer acknowledges: the `laneCharged` of the last receipt of an unbroken chain of
   * receipts it verified (each one `laneCharged = previous + amount`, each for its own request).
   */
  acked: bigint;
  /** Seq of the receipt at `acked`: `/v1/receipts?after=` lists what came after it. */
  tipSeq: bigint | undefined;
  /** Verified receipts whose predecessor is not verified yet, by their previous `laneCharged`. */
  waiting: Map<bigint, { laneCharged: bigint; seq: bigint }>;
  /** The largest `laneCharged` the node claimed. */
  claimed: bigint;
  /** Requests under way on the lane. */
  inflight: number;
}

export interface LaneBookParameters {
  account: LocalAccount;
  channelId: Hex;
  node: Address;
  chainId: number;
  paymentChannels: Address;
  nodeRegistry: Address;
  /** Key of the request nonces' MAC (`deriveNonceKey`). */
  nonceKey: Uint8Array;
  /** The node's receipts of a lane after a seq (`GET /v1/receipts`), one page. */
  fetchReceipts: (adapterId: Hex, after: bigint | undefined) => Promise<{ data: ReceiptJson[]; next: string | null }>;
  store?: PaidClientStore;
}

/**
 * The payer's per-lane accounts with one node. A receipt counts only when the node signed it, it
 * names this channel and lane, its nonce is one this payer made (so it is for a request this payer
 * sent) and it stays within that request's bounds (`max_tokens`, ceiling, accepted price). A
 * voucher acknowledges the end of the unbroken chain of such receipts, never more; a node whose
 * receipts or claims break any of this is not paid again.
 */
export class LaneBook {
  readonly #p: LaneBookParameters;
  readonly #lanes = new Map<Hex, ClientLane>();
  /** The last receipts seen, by seq (at most {@link SEEN_RECEIPTS}): two different ones with one seq are an equivocation. */
  readonly #seen = new Map<string, ReceiptJson>();
  /** The last voucher signed per lane. */
  readonly #vouchers = new Map<Hex, SignedVoucher>();
  #poisoned: ReceiptMismatchError | undefined;

  constructor(p: LaneBookParameters) {
    this.#p = p;
  }

  get node(): Address {
    return this.#p.node;
  }

  /** The lane (created at 0; `resume` brings it up to date). */
  lane(adapterId: Hex, price: Price): ClientLane {
    const id = adapterId.toLowerCase() as Hex;
    let lane = this.#lanes.get(id);
    if (!lane) this.#lanes.set(id, (lane = { adapterId: id, price, acked: 0n, tipSeq: undefined, waiting: new Map(), claimed: 0n, inflight: 0 }));
    return lane;
  }

  lanes(): ClientLane[] {
    return [...this.#lanes.values()];
  }

  /** The mismatch that ended trust in the node, if any. */
  get error(): ReceiptMismatchError | undefined {
    return this.#poisoned;
  }

  /** Throws the mismatch that ended trust in the node, if any. */
  assertTrusted(): void {
    if (this.#poisoned) throw this.#poisoned;
  }

  #fail(error: ReceiptMismatchError | string): never {
    this.#poisoned ??= typeof error === 'string' ? new ReceiptMismatchError(error, this.#p.node) : error;
    throw this.#poisoned;
  }

  #storeKey(lane: ClientLane): string {
    return `${this.#p.node.toLowerCase()}:${this.#p.channelId.toLowerCase()}:${lane.adapterId}`;
  }

  /** Signs the voucher acknowledging the lane's verified total (once per total). */
  async voucher(lane: ClientLane): Promise<SignedVoucher> {
    this.assertTrusted();
    let signed = this.#vouchers.get(lane.adapterId);
    if (signed?.voucher.cumulativeAmount !== lane.acked) {
      const voucher = { channelId: this.#p.channelId, adapterId: lane.adapterId, cumulativeAmount: lane.acked };
      signed = { voucher, signature: await signVoucher({ account: this.#p.account, voucher, chainId: this.#p.chainId, paymentChannels: this.#p.paymentChannels }) };
      this.#vouchers.set(lane.adapterId, signed);
    }
    return signed;
  }

  /**
   * Checks one receipt and adds it to its lane's chain. `sent` is the bound of the request this
   * response answers, `usage` the token counts the response itself reported (both absent for
   * receipts listed by `/v1/receipts`).
   */
  async verify(lane: ClientLane, json: ReceiptJson, sent?: RequestBound, usage?: { promptTokens: number; completionTokens: number }): Promise<void> {
    this.assertTrusted();
    let receipt: ReturnType<typeof receiptFromJson>;
    try {
      receipt = receiptFromJson(json);
    } catch {
      this.#fail(`a receipt is malformed (${JSON.stringify(json).slice(0, 200)})`);
    }
    const seq = receipt.seq.toString();
    const seen = this.#seen.get(seq);
    if (seen) {
      if (seen.digest === json.digest && seen.signature === json.signature) return;
      if (await this.#signedByNode(json)) this.#fail(new NodeEquivocatedError(this.#p.node, seen, json));
    }
    const what = `receipt seq ${seq}`;
    if (!(await this.#signedByNode(json))) this.#fail(`${what} is not signed by the node key`);
    if (receipt.channelId.toLowerCase() !== this.#p.channelId.toLowerCase()) this.#fail(`${what} names channel ${receipt.channelId}`);
    if (receipt.adapterId.toLowerCase() !== lane.adapterId) this.#fail(`${what} names lane ${receipt.adapterId}, not ${lane.adapterId}`);
    const bound = readNonce(this.#p.nonceKey, { channelId: this.#p.channelId, adapterId: lane.adapterId }, json.nonce);
    if (!bound || receipt.requestId !== requestIdOfNonce(bound.nonce)) this.#fail(`${what} is for a request this payer never sent`);
    if (sent && bound.nonce !== sent.nonce) this.#fail(`${what} answers another request than the one sent`);
    if (usage && (receipt.promptTokens !== usage.promptTokens || receipt.completionTokens !== usage.completionTokens)) {
      this.#fail(`${what} counts ${receipt.promptTokens}+${receipt.completionTokens} tokens, the response ${usage.promptTokens}+${usage.completionTokens}`);
    }
    if (receipt.completionTokens > bound.maxCompletionTokens) this.#fail(`${what} charges ${receipt.completionTokens} completion tokens, the request allowed ${bound.maxCompletionTokens} (n × max_tokens)`);
    const expected = charge(bound.price, { promptTokens: receipt.promptTokens, completionTokens: receipt.completionTokens });
    if (receipt.amount !== expected) this.#fail(`${what} charges ${receipt.amount}, the accepted price gives ${expected}`);
    if (receipt.amount > bound.maxAmount) this.#fail(`${what} charges ${receipt.amount}, above the request's ceiling ${bound.maxAmount}`);
    if (receipt.laneCharged < receipt.amount) this.#fail(`${what} claims a lane total ${receipt.laneCharged} below its own amount`);
    this.#seen.set(seq, json);
    if (this.#seen.size > SEEN_RECEIPTS) this.#seen.delete(this.#seen.keys().next().value!);
    if (receipt.laneCharged > lane.claimed) lane.claimed = receipt.laneCharged;
    if (receipt.laneCharged > lane.acked) lane.waiting.set(receipt.laneCharged - receipt.amount, { laneCharged: receipt.laneCharged, seq: receipt.seq });
    await this.#advance(lane);
  }

  async #signedByNode(json: ReceiptJson): Promise<boolean> {
    try {
      const signer = await recoverUsageReceiptSigner({ receipt: receiptFromJson(json), signature: json.signature, chainId: this.#p.chainId, nodeRegistry: this.#p.nodeRegistry });
      return isAddressEqual(signer, this.#p.node);
    } catch {
      return false;
    }
  }

  /** Moves the lane's acknowledged total along the chain of verified receipts. */
  async #advance(lane: ClientLane): Promise<void> {
    const before = lane.acked;
    for (let next = lane.waiting.get(lane.acked); next; next = lane.waiting.get(lane.acked)) {
      lane.waiting.delete(lane.acked);
      lane.acked = next.laneCharged;
      lane.tipSeq = next.seq;
    }
    if (lane.acked !== before) await this.#p.store?.set(this.#storeKey(lane), JSON.stringify({ acked: lane.acked.toString(), tipSeq: lane.tipSeq?.toString() ?? null }));
  }

  /** Raises the lane to an acknowledged total the payer itself signed (stored, or shown by the node with this payer's signature). */
  async #adopt(lane: ClientLane, amount: bigint, tipSeq: bigint | undefined): Promise<void> {
    if (amount <= lane.acked) return;
    lane.acked = amount;
    lane.tipSeq = tipSeq;
    for (const prev of lane.waiting.keys()) if ((lane.waiting.get(prev)?.laneCharged ?? 0n) <= amount) lane.waiting.delete(prev);
    await this.#advance(lane);
  }

  /**
   * Brings a lane up to date without trusting the node: the payer's own stored total and its own
   * latest voucher (signature checked), then every receipt after it, each verified and chained.
   * With nothing in flight, a node claiming more than that chain reaches is not trusted again.
   */
  async resume(lane: ClientLane, view: NodeLaneView | undefined): Promise<void> {
    this.assertTrusted();
    const stored = await this.#p.store?.get(this.#storeKey(lane));
    if (stored) {
      const s = JSON.parse(stored) as { acked: string; tipSeq: string | null };
      await this.#adopt(lane, BigInt(s.acked), s.tipSeq === null ? undefined : BigInt(s.tipSeq));
    }
    if (view?.voucher && (await this.#isMine(lane, view.voucher))) {
      await this.#adopt(lane, BigInt(view.voucher.cumulativeAmount), view.tail === null ? undefined : BigInt(view.tail));
    }
    const charged = view ? BigInt(view.charged) : lane.claimed;
    if (charged > lane.claimed) lane.claimed = charged;
    if (lane.claimed <= lane.acked) return;
    let after = lane.tipSeq;
    for (;;) {
      const page = await this.#p.fetchReceipts(lane.adapterId, after);
      for (const json of page.data) {
        if (BigInt(json.receipt.laneCharged) > lane.acked) await this.verify(lane, json);
      }
      if (page.next === null || page.data.length === 0) break;
      after = BigInt(page.next);
    }
    if (lane.inflight === 0 && lane.claimed > lane.acked) {
      this.#fail(`lane ${lane.adapterId} claims ${lane.claimed} charged; this payer's receipts chain up to ${lane.acked}`);
    }
  }

  async #isMine(lane: ClientLane, v: { cumulativeAmount: string; signature: Hex }): Promise<boolean> {
    try {
      const voucher = { channelId: this.#p.channelId, adapterId: lane.adapterId, cumulativeAmount: BigInt(v.cumulativeAmount) };
      const signer = await recoverVoucherSigner({ voucher, signature: v.signature, chainId: this.#p.chainId, paymentChannels: this.#p.paymentChannels });
      return isAddressEqual(signer, this.#p.account.address);
    } catch {
      return false;
    }
  }
}
