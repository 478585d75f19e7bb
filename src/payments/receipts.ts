import type { Address, Hex, LocalAccount } from 'viem';
import { signUsageReceipt, type UsageReceipt, type Voucher } from '../chain/eip712.ts';
import type { ReceiptLedger, SignedReceipt } from '../ledger/receipts.ts';
import { createUsageReceiptHasher } from './receiptDigest.ts';
import { requestIdOf, requestIdOfNonce } from './receiptJson.ts';

/** The lane a receipt charges: read when its batch is written, told once it is durable. */
export interface ReceiptLaneCharge {
  /** The lane's durable charged total before this receipt. */
  charged(): bigint;
  /** Called synchronously once the receipt is durable, before the next batch reads `charged()`. */
  commit(amount: bigint, laneCharged: bigint): void;
}

export interface IssueReceiptParameters {
  payer: string;
  channelId: Hex;
  adapterId: Hex;
  /** The node's request id; `requestId` is its hash unless the client sent a nonce. */
  requestKey: string;
  /** The client's request nonce: `requestId` is then `requestIdOfNonce(nonce)` and the nonce is stored with the receipt. */
  nonce?: string;
  promptTokens: number;
  completionTokens: number;
  amount: bigint;
  /** The lane: `laneCharged` is `lane.charged() + amount`, taken when the receipt is written. */
  lane: ReceiptLaneCharge;
  voucherDigest: Hex;
  attributionDigest: Hex;
  /** The voucher the request carried (paid mode), passed on to `onReceipt` for gossip. */
  voucher?: { voucher: Voucher; signature: Hex };
}

/** Signs usage receipts with the node key and stores them durably before returning them. */
export interface ReceiptIssuer {
  readonly node: Address;
  /** Resolves once the receipt is durable and its lane charged; rejects (with nothing charged) when the write failed. */
  issue(parameters: IssueReceiptParameters): Promise<SignedReceipt>;
}

export interface CreateReceiptIssuerParameters {
  account: LocalAccount;
  chainId: number;
  nodeRegistry: Address;
  ledger: ReceiptLedger;
  /** Called with each receipt once it is durable (the P2P network publishes it). */
  onReceipt?: (signed: SignedReceipt, voucher?: { voucher: Voucher; signature: Hex }) => void;
}


interface Pending {
  p: IssueReceiptParameters;
  resolve: (signed: SignedReceipt) => void;
  reject: (error: unknown) => void;
}

/**
 * Creates the node's receipt issuer (protocol.md step 4). Receipts are group-committed: those
 * issued while a batch is written form the next batch, one transaction (one fsync) each. A lane's
 * `laneCharged` is computed when its batch is written from the lane's durable total, and the lane
 * is charged only after the transaction commits, so a failed write charges nothing and leaves no
 * gap in a lane's chain of `laneCharged` values.
 */
export function createReceiptIssuer(p: CreateReceiptIssuerParameters): ReceiptIssuer {
  const digestOf = createUsageReceiptHasher({ chainId: p.chainId, nodeRegistry: p.nodeRegistry });
  const { account } = p;
  let queue: Pending[] = [];
  let writing: Promise<void> | undefined;

  async function sign(q: IssueReceiptParameters, laneCharged: bigint): Promise<SignedReceipt> {
    const receipt: UsageReceipt = {
      channelId: q.channelId,
      adapterId: q.adapterId,
      requestId: q.nonce === undefined ? requestIdOf(q.requestKey) : requestIdOfNonce(q.nonce),
      seq: await p.ledger.nextSeq(),
      promptTokens: q.promptTokens,
      completionTokens: q.completionTokens,
      amount: q.amount,
      laneCharged,
      voucherDigest: q.voucherDigest,
      attributionDigest: q.attributionDigest,
      timestamp: BigInt(Math.floor(Date.now() / 1000)),
    };
    // Hashed once; signing the digest is what `signTypedData` does after hashing it again.
    const digest = digestOf(receipt);
    const signature = account.sign ? await account.sign({ hash: digest }) : await signUsageReceipt({ account, receipt, chainId: p.chainId, nodeRegistry: p.nodeRegistry });
    return { receipt, node: account.address, payer: q.payer, digest, signature, ...(q.nonce === undefined ? {} : { nonce: q.nonce }) };
  }

  async function writeBatch(batch: Pending[]): Promise<void> {
    const running = new Map<string, bigint>();
    const signed: SignedReceipt[] = [];
    try {
      for (const { p: q } of batch) {
        const lane = `${q.channelId}:${q.adapterId}`;
        const laneCharged = (running.get(lane) ?? q.lane.charged()) + q.amount;
        running.set(lane, laneCharged);
        signed.push(await sign(q, laneCharged));
      }
      p.ledger.write(signed);
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    batch.forEach(({ p: q }, i) => q.lane.commit(q.amount, signed[i].receipt.laneCharged));
    batch.forEach((entry, i) => {
      entry.resolve(signed[i]);
      p.onReceipt?.(signed[i], entry.p.voucher);
    });
  }

  async function drain(): Promise<void> {
    await new Promise((r) => setImmediate(r)); // gather the receipts of this tick
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      await writeBatch(batch);
    }
    writing = undefined;
  }

  return {
    node: p.account.address,
    issue(q) {
      return new Promise<SignedReceipt>((resolve, reject) => {
        queue.push({ p: q, resolve, reject });
        writing ??= drain();
      });
    },
  };
}

/** JSON form of a signed receipt (bigints as decimal strings), as sent in headers and SSE events. */
export function receiptToJson(signed: SignedReceipt): Record<string, unknown> {
  const r = signed.receipt;
  return {
    node: signed.node,
    payer: signed.payer,
    digest: signed.digest,
    signature: signed.signature,
    ...(signed.nonce === undefined ? {} : { nonce: signed.nonce }),
    receipt: { ...r, seq: r.seq.toString(), amount: r.amount.toString(), laneCharged: r.laneCharged.toString(), timestamp: r.timestamp.toString() },
  };
}
