import { keccak256, stringToHex, type Address, type Hex, type LocalAccount } from 'viem';
import { signUsageReceipt, type UsageReceipt, type Voucher } from '../chain/eip712.ts';
import type { ReceiptLedger, SignedReceipt } from '../ledger/receipts.ts';
import { createUsageReceiptHasher } from './receiptDigest.ts';

export interface IssueReceiptParameters {
  payer: string;
  channelId: Hex;
  adapterId: Hex;
  /** Client-visible request id; hashed into `requestId`. */
  requestKey: string;
  promptTokens: number;
  completionTokens: number;
  amount: bigint;
  laneCharged: bigint;
  voucherDigest: Hex;
  attributionDigest: Hex;
  /** The voucher the request carried (paid mode), passed on to `onReceipt` for gossip. */
  voucher?: { voucher: Voucher; signature: Hex };
}

/** Signs usage receipts with the node key and stores them durably before returning them. */
export interface ReceiptIssuer {
  readonly node: Address;
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

/** The receipt's `requestId`: keccak256 of the node's request id string. */
export function requestIdOf(requestKey: string): Hex {
  return keccak256(stringToHex(requestKey));
}

/** Creates the node's receipt issuer (protocol.md step 4). */
export function createReceiptIssuer(p: CreateReceiptIssuerParameters): ReceiptIssuer {
  const digestOf = createUsageReceiptHasher({ chainId: p.chainId, nodeRegistry: p.nodeRegistry });
  const { account } = p;
  return {
    node: p.account.address,
    async issue(q) {
      const receipt: UsageReceipt = {
        channelId: q.channelId,
        adapterId: q.adapterId,
        requestId: requestIdOf(q.requestKey),
        seq: p.ledger.nextSeq(),
        promptTokens: q.promptTokens,
        completionTokens: q.completionTokens,
        amount: q.amount,
        laneCharged: q.laneCharged,
        voucherDigest: q.voucherDigest,
        attributionDigest: q.attributionDigest,
        timestamp: BigInt(Math.floor(Date.now() / 1000)),
      };
      // Hashed once; signing the digest is what `signTypedData` does after hashing it again.
      const digest = digestOf(receipt);
      const signature = account.sign ? await account.sign({ hash: digest }) : await signUsageReceipt({ account, receipt, chainId: p.chainId, nodeRegistry: p.nodeRegistry });
      const signed: SignedReceipt = { receipt, node: account.address, payer: q.payer, digest, signature };
      await p.ledger.append(signed);
      p.onReceipt?.(signed, q.voucher);
      return signed;
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
    receipt: { ...r, seq: r.seq.toString(), amount: r.amount.toString(), laneCharged: r.laneCharged.toString(), timestamp: r.timestamp.toString() },
  };
}
