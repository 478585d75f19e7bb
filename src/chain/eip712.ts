/**
 * EIP-712 definitions shared by every signer and verifier of openlora vouchers and receipts
 * (protocol.md). The Solidity type hashes in contracts/ are the same strings; test/contracts checks
 * the digests match on-chain.
 *
 * Domains: {name: "openlora", version: "1", chainId, verifyingContract}, where verifyingContract
 * is `PaymentChannels` for vouchers, `NodeRegistry` for usage receipts and `DatanetRegistry` for
 * contributions (the contract that verifies each: settlement, equivocation slashing,
 * `contributeFor`).
 */
import {
  hashTypedData,
  hexToBigInt,
  recoverTypedDataAddress,
  sliceHex,
  type Address,
  type Hex,
  type TypedDataDomain,
  type TypedDataDefinition,
} from 'viem';
import { InvalidSignatureError } from './errors.ts';

/** EIP-712 domain name of every openlora contract. */
export const EIP712_NAME = 'openlora';
/** EIP-712 domain version of every openlora contract. */
export const EIP712_VERSION = '1';

/** `Voucher(bytes32 channelId,bytes32 adapterId,uint256 cumulativeAmount)`. */
export const voucherTypes = {
  Voucher: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'adapterId', type: 'bytes32' },
    { name: 'cumulativeAmount', type: 'uint256' },
  ],
} as const;

/** `UsageReceipt(...)`, field order as in protocol.md and `INodeRegistry.UsageReceipt`. */
export const usageReceiptTypes = {
  UsageReceipt: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'adapterId', type: 'bytes32' },
    { name: 'requestId', type: 'bytes32' },
    { name: 'seq', type: 'uint64' },
    { name: 'promptTokens', type: 'uint32' },
    { name: 'completionTokens', type: 'uint32' },
    { name: 'amount', type: 'uint256' },
    { name: 'laneCharged', type: 'uint256' },
    { name: 'voucherDigest', type: 'bytes32' },
    { name: 'attributionDigest', type: 'bytes32' },
    { name: 'timestamp', type: 'uint64' },
  ],
} as const;

/** `Contribution(uint256 datanetId,bytes32 contentHash,uint64 tokenCount)`: a contributor's consent to be recorded by `DatanetRegistry.contributeFor`. */
export const contributionTypes = {
  Contribution: [
    { name: 'datanetId', type: 'uint256' },
    { name: 'contentHash', type: 'bytes32' },
    { name: 'tokenCount', type: 'uint64' },
  ],
} as const;

/** A voucher: the total the payer acknowledges owing on lane `(channelId, adapterId)`. */
export type Voucher = TypedDataDefinition<typeof voucherTypes, 'Voucher'>['message'];
/** A node's signed account of one request. */
export type UsageReceipt = TypedDataDefinition<typeof usageReceiptTypes, 'UsageReceipt'>['message'];
/** A contribution as its contributor signs it. */
export type ContributionMessage = TypedDataDefinition<typeof contributionTypes, 'Contribution'>['message'];

export interface DomainParameters {
  chainId: number;
  /** The verifying contract: PaymentChannels for vouchers, NodeRegistry for receipts. */
  verifyingContract: Address;
}

/** The domain of vouchers: verifyingContract = PaymentChannels. */
export function voucherDomain(parameters: { chainId: number; paymentChannels: Address }): TypedDataDomain {
  return domain({ chainId: parameters.chainId, verifyingContract: parameters.paymentChannels });
}

/** The domain of usage receipts: verifyingContract = NodeRegistry. */
export function usageReceiptDomain(parameters: { chainId: number; nodeRegistry: Address }): TypedDataDomain {
  return domain({ chainId: parameters.chainId, verifyingContract: parameters.nodeRegistry });
}

/** The domain of contributions: verifyingContract = DatanetRegistry. */
export function contributionDomain(parameters: { chainId: number; datanetRegistry: Address }): TypedDataDomain {
  return domain({ chainId: parameters.chainId, verifyingContract: parameters.datanetRegistry });
}

function domain({ chainId, verifyingContract }: DomainParameters): TypedDataDomain {
  return { name: EIP712_NAME, version: EIP712_VERSION, chainId, verifyingContract };
}

/** Something that signs typed data: a viem `LocalAccount` or `WalletClient` account. */
export interface TypedDataSigner {
  signTypedData: (parameters: any) => Promise<Hex>;
}

export interface VoucherParameters {
  voucher: Voucher;
  chainId: number;
  paymentChannels: Address;
}

export interface UsageReceiptParameters {
  receipt: UsageReceipt;
  chainId: number;
  nodeRegistry: Address;
}

/** The EIP-712 digest of a voucher (what `UsageReceipt.voucherDigest` holds). */
export function voucherDigest({ voucher, chainId, paymentChannels }: VoucherParameters): Hex {
  return hashTypedData({ domain: voucherDomain({ chainId, paymentChannels }), types: voucherTypes, primaryType: 'Voucher', message: voucher });
}

/** The EIP-712 digest of a usage receipt. */
export function usageReceiptDigest({ receipt, chainId, nodeRegistry }: UsageReceiptParameters): Hex {
  return hashTypedData({
    domain: usageReceiptDomain({ chainId, nodeRegistry }),
    types: usageReceiptTypes,
    primaryType: 'UsageReceipt',
    message: receipt,
  });
}

/** Signs a voucher with the channel's authorizer. */
export async function signVoucher(parameters: VoucherParameters & { account: TypedDataSigner }): Promise<Hex> {
  const { account, voucher, chainId, paymentChannels } = parameters;
  return account.signTypedData({ domain: voucherDomain({ chainId, paymentChannels }), types: voucherTypes, primaryType: 'Voucher', message: voucher });
}

/** Signs a usage receipt with the node key. */
export async function signUsageReceipt(parameters: UsageReceiptParameters & { account: TypedDataSigner }): Promise<Hex> {
  const { account, receipt, chainId, nodeRegistry } = parameters;
  return account.signTypedData({
    domain: usageReceiptDomain({ chainId, nodeRegistry }),
    types: usageReceiptTypes,
    primaryType: 'UsageReceipt',
    message: receipt,
  });
}

export interface ContributionParameters {
  contribution: ContributionMessage;
  chainId: number;
  datanetRegistry: Address;
}

/** Signs a contribution with the contributor's key (for a curator to submit with `contributeFor`). */
export async function signContribution(parameters: ContributionParameters & { account: TypedDataSigner }): Promise<Hex> {
  const { account, contribution, chainId, datanetRegistry } = parameters;
  return account.signTypedData({ domain: contributionDomain({ chainId, datanetRegistry }), types: contributionTypes, primaryType: 'Contribution', message: contribution });
}

/** Recovers a contribution's signer; throws `InvalidSignatureError` for signatures the contract rejects. */
export async function recoverContributionSigner(parameters: ContributionParameters & { signature: Hex }): Promise<Address> {
  const { contribution, chainId, datanetRegistry, signature } = parameters;
  assertCanonicalSignature(signature, 'contribution');
  return recoverTypedDataAddress({ domain: contributionDomain({ chainId, datanetRegistry }), types: contributionTypes, primaryType: 'Contribution', message: contribution, signature });
}

/** Recovers a voucher's signer; throws `InvalidSignatureError` for signatures the contract rejects. */
export async function recoverVoucherSigner(parameters: VoucherParameters & { signature: Hex }): Promise<Address> {
  const { voucher, chainId, paymentChannels, signature } = parameters;
  assertCanonicalSignature(signature, 'voucher');
  return recoverTypedDataAddress({ domain: voucherDomain({ chainId, paymentChannels }), types: voucherTypes, primaryType: 'Voucher', message: voucher, signature });
}

/** Recovers a usage receipt's signer; throws `InvalidSignatureError` for signatures the contract rejects. */
export async function recoverUsageReceiptSigner(parameters: UsageReceiptParameters & { signature: Hex }): Promise<Address> {
  const { receipt, chainId, nodeRegistry, signature } = parameters;
  assertCanonicalSignature(signature, 'usage receipt');
  return recoverTypedDataAddress({
    domain: usageReceiptDomain({ chainId, nodeRegistry }),
    types: usageReceiptTypes,
    primaryType: 'UsageReceipt',
    message: receipt,
    signature,
  });
}

/** secp256k1 group order n; OpenZeppelin ECDSA accepts only s <= n/2 (EIP-2). */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
export const SECP256K1_HALF_N = SECP256K1_N / 2n;

/** Throws unless `signature` is 65 bytes with low s and v in {27, 28}, as OpenZeppelin ECDSA requires. */
export function assertCanonicalSignature(signature: Hex, what = 'given'): void {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) {
    throw new InvalidSignatureError(what, `must be 65 bytes (r, s, v), got ${(signature.length - 2) / 2} bytes`);
  }
  const s = hexToBigInt(sliceHex(signature, 32, 64));
  if (s > SECP256K1_HALF_N) throw new InvalidSignatureError(what, 'has a high s value (malleable); the contracts reject it');
  const v = Number.parseInt(signature.slice(130), 16);
  if (v !== 27 && v !== 28) throw new InvalidSignatureError(what, `has v = ${v}; expected 27 or 28`);
}
