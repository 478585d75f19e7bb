import fc from 'fast-check';
import { zeroAddress, zeroHash, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { signUsageReceipt, usageReceiptDigest, type UsageReceipt } from '../../src/chain/eip712.ts';
import { openLedgerDatabase } from '../../src/ledger/db.ts';
import { createReceiptLedger } from '../../src/ledger/receipts.ts';
import { createUsageReceiptHasher } from '../../src/payments/receiptDigest.ts';
import { createReceiptIssuer } from '../../src/payments/receipts.ts';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `0x${Buffer.from(b).toString('hex')}` as Hex);
const uint = (bits: number) => fc.oneof(fc.constantFrom(0n, 2n ** BigInt(bits) - 1n), fc.bigInt({ min: 0n, max: 2n ** BigInt(bits) - 1n }));
const receipt: fc.Arbitrary<UsageReceipt> = fc.record({
  channelId: bytes32, adapterId: bytes32, requestId: bytes32,
  seq: uint(64),
  promptTokens: fc.oneof(fc.constantFrom(0, 2 ** 32 - 1), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  completionTokens: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  amount: uint(256), laneCharged: uint(256),
  voucherDigest: bytes32, attributionDigest: bytes32,
  timestamp: uint(64),
});
const domain = fc.record({ chainId: fc.oneof(fc.constantFrom(0, 1, 31337, 8453), fc.integer({ min: 0, max: 2 ** 40 })), nodeRegistry: bytes32.map((h) => `0x${h.slice(26)}` as Address) });

describe('createUsageReceiptHasher', () => {
  it('equals the EIP-712 digest viem computes, for any receipt and domain', () => {
    fc.assert(fc.property(receipt, domain, (r, d) => {
      expect(createUsageReceiptHasher(d)(r)).toBe(usageReceiptDigest({ receipt: r, ...d }));
    }), { numRuns: 300 });
  });

  it('rejects what viem rejects: a value too large for its type, a short bytes32', () => {
    const hash = createUsageReceiptHasher({ chainId: 1, nodeRegistry: zeroAddress });
    const base = fc.sample(receipt, { numRuns: 1, seed: 7 })[0];
    expect(() => hash({ ...base, seq: 2n ** 64n })).toThrow();
    expect(() => hash({ ...base, promptTokens: 2 ** 32 })).toThrow();
    expect(() => hash({ ...base, amount: -1n })).toThrow();
    expect(() => hash({ ...base, channelId: '0x1234' })).toThrow();
  });

  it('the issuer signs what signTypedData signs and stores the same digest', async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const db = openLedgerDatabase(':memory:');
    const nodeRegistry = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
    const issuer = createReceiptIssuer({ account, chainId: 31337, nodeRegistry, ledger: createReceiptLedger(db) });
    const zero = zeroHash;
    const signed = await issuer.issue({ payer: 'key:a', channelId: zero, adapterId: zero, requestKey: 'r1', promptTokens: 3, completionTokens: 5, amount: 80n, lane: { charged: () => 0n, commit() {} }, voucherDigest: zero, attributionDigest: zero });
    expect(signed.receipt.laneCharged).toBe(80n);
    expect(signed.digest).toBe(usageReceiptDigest({ receipt: signed.receipt, chainId: 31337, nodeRegistry }));
    expect(signed.signature).toBe(await signUsageReceipt({ account, receipt: signed.receipt, chainId: 31337, nodeRegistry }));
    db.close();
  });
});
