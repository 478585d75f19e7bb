import { describe, expect, it } from 'vitest';
import { parseSignature, serializeSignature, zeroHash, type Address } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  assertCanonicalSignature,
  recoverUsageReceiptSigner,
  recoverVoucherSigner,
  SECP256K1_HALF_N,
  signUsageReceipt,
  signVoucher,
  usageReceiptDomain,
  voucherDigest,
  voucherDomain,
} from '../../src/chain/eip712.ts';
import { isBaseError } from '../../src/errors.ts';

const paymentChannels: Address = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const nodeRegistry: Address = '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512';
const account = privateKeyToAccount(generatePrivateKey());
const voucher = { channelId: `0x${'11'.repeat(32)}`, adapterId: `0x${'22'.repeat(32)}`, cumulativeAmount: 5n } as const;

describe('eip712', () => {
  it('uses the openlora domains with chainId and verifying contract', () => {
    expect(voucherDomain({ chainId: 31337, paymentChannels })).toEqual({ name: 'openlora', version: '1', chainId: 31337, verifyingContract: paymentChannels });
    expect(usageReceiptDomain({ chainId: 1, nodeRegistry })).toEqual({ name: 'openlora', version: '1', chainId: 1, verifyingContract: nodeRegistry });
  });

  it('signs and recovers vouchers and receipts; other domains recover other signers', async () => {
    const signature = await signVoucher({ account, voucher, chainId: 31337, paymentChannels });
    expect(await recoverVoucherSigner({ voucher, signature, chainId: 31337, paymentChannels })).toBe(account.address);
    expect(await recoverVoucherSigner({ voucher, signature, chainId: 1, paymentChannels })).not.toBe(account.address);
    const receipt = {
      channelId: voucher.channelId, adapterId: voucher.adapterId, requestId: zeroHash, seq: 1n, promptTokens: 1, completionTokens: 2,
      amount: 3n, laneCharged: 3n, voucherDigest: voucherDigest({ voucher, chainId: 31337, paymentChannels }), attributionDigest: zeroHash, timestamp: 0n,
    };
    const receiptSig = await signUsageReceipt({ account, receipt, chainId: 31337, nodeRegistry });
    expect(await recoverUsageReceiptSigner({ receipt, signature: receiptSig, chainId: 31337, nodeRegistry })).toBe(account.address);
  });

  it('rejects high-s, short and bad-v signatures like the contracts do', async () => {
    const signature = await signVoucher({ account, voucher, chainId: 31337, paymentChannels });
    expect(() => assertCanonicalSignature(signature)).not.toThrow();
    const { r, s, yParity } = parseSignature(signature);
    const highS = serializeSignature({ r, s: `0x${(SECP256K1_HALF_N * 2n + 1n - BigInt(s)).toString(16).padStart(64, '0')}`, yParity: 1 - yParity });
    await expect(recoverVoucherSigner({ voucher, signature: highS, chainId: 31337, paymentChannels })).rejects.toSatisfy((e) => isBaseError(e, 'OPENLORA_CHAIN_INVALID_SIGNATURE'));
    expect(() => assertCanonicalSignature('0x1234')).toThrow(/65 bytes/);
    expect(() => assertCanonicalSignature(`${signature.slice(0, 130)}00` as `0x${string}`)).toThrow(/v = 0/);
  });
});
