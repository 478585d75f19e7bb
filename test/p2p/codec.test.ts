import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { bytesToHex, hashMessage, hexToBytes, type Hex } from 'viem';
import { describe, expect, it } from 'vitest';
import { signUsageReceipt, signVoucher, usageReceiptDigest, voucherDigest } from '../../src/chain/eip712.ts';
import {
  announcementHash,
  decodeAnnouncement,
  decodeReceiptMessage,
  domainSeparator,
  encodeAnnouncement,
  encodeReceiptMessage,
  receiptDigestOf,
  voucherDigestOf,
  type Announcement,
} from '../../src/p2p/codec.ts';
import { MAX_RECEIPT_MESSAGE_BYTES } from '../../src/p2p/constants.ts';
import { createSignatureVerifier } from '../../src/p2p/signatures.ts';
import { id, receipt as makeReceipt } from '../contracts/fixture.ts';

const chainId = 31337;
const nodeRegistry = '0x5FbDB2315678afecb367f032d93F642f64180aa3' as const;
const paymentChannels = '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512' as const;

describe('gossip codecs', () => {
  it('round-trips a paid receipt, digests equal the EIP-712 ones, and the signer is found by both verifier paths', async () => {
    const node = privateKeyToAccount(generatePrivateKey());
    const payer = privateKeyToAccount(generatePrivateKey());
    const voucher = { channelId: id('ch'), adapterId: id('adapter'), cumulativeAmount: 1234n };
    const vDigest = voucherDigest({ voucher, chainId, paymentChannels });
    const receipt = makeReceipt({ channelId: id('ch'), adapterId: id('adapter'), voucherDigest: vDigest, seq: 77n, amount: 10n, laneCharged: 1244n });
    const signature = await signUsageReceipt({ account: node, receipt, chainId, nodeRegistry });
    const voucherSignature = await signVoucher({ account: payer, voucher, chainId, paymentChannels });
    const data = encodeReceiptMessage({ receipt, signature, voucher, voucherSignature });
    expect(data.length).toBeLessThanOrEqual(MAX_RECEIPT_MESSAGE_BYTES);
    const d = decodeReceiptMessage(data);
    if (!d.ok) throw new Error(d.reason);
    expect(d.value.receipt).toEqual(receipt);
    expect(d.value.voucher).toEqual(voucher);
    const digest = receiptDigestOf(domainSeparator(chainId, nodeRegistry), d.value.receiptWords);
    expect(bytesToHex(digest)).toBe(usageReceiptDigest({ receipt, chainId, nodeRegistry }));
    expect(bytesToHex(voucherDigestOf(domainSeparator(chainId, paymentChannels), d.value.voucherWords))).toBe(vDigest);
    const verifier = createSignatureVerifier();
    expect(verifier.recover(digest, signature)).toBe(node.address); // full recovery, caches the key
    expect(verifier.recover(digest, signature, node.address)).toBe(node.address); // fast path
    // A signature by someone else, given the wrong hint, still recovers its true signer.
    const other = await signUsageReceipt({ account: payer, receipt, chainId, nodeRegistry });
    expect(verifier.recover(digest, other, node.address)).toBe(payer.address);
    // Flipping v gives another signer, never the hinted one.
    const flipped = (other.slice(0, -2) + (other.endsWith('1b') ? '1c' : '1b')) as Hex;
    expect(verifier.recover(digest, flipped, payer.address)).not.toBe(payer.address);
  });

  it('decodes an open-mode receipt without a voucher and never throws on garbage', async () => {
    const node = privateKeyToAccount(generatePrivateKey());
    const receipt = makeReceipt({ voucherDigest: `0x${'00'.repeat(32)}` });
    const signature = await signUsageReceipt({ account: node, receipt, chainId, nodeRegistry });
    const data = encodeReceiptMessage({ receipt, signature });
    const d = decodeReceiptMessage(data);
    expect(d.ok && d.value.voucher === undefined).toBe(true);
    for (const bad of [new Uint8Array(0), new Uint8Array(100).fill(7), data.slice(0, 500), new Uint8Array(4096)]) expect(decodeReceiptMessage(bad).ok).toBe(false);
    const padded = new Uint8Array(data.length + 32);
    padded.set(data);
    expect(decodeReceiptMessage(padded)).toEqual({ ok: false, reason: expect.stringMatching(/non-canonical|oversize/) });
  });

  it('round-trips a signed announcement', async () => {
    const node = privateKeyToAccount(generatePrivateKey());
    const a: Announcement = {
      node: node.address,
      chainId,
      timestamp: BigInt(Date.now()),
      url: 'http://127.0.0.1:8080',
      peerId: '12D3KooWtest',
      multiaddrs: ['/ip4/127.0.0.1/tcp/4001'],
      adapters: [{ id: id('a'), name: 'poet', resident: 'gpu', inputPer1k: 1000n, outputPer1k: 2000n }],
      queueDepth: 3,
      running: 2,
      freeKvBlocks: 100,
      totalKvBlocks: 512,
      creditLimit: 5n,
    };
    const signature = await node.signMessage({ message: { raw: announcementHash(a) } });
    const d = decodeAnnouncement(encodeAnnouncement(a, signature));
    if (!d.ok) throw new Error(d.reason);
    expect(d.value.announcement).toEqual(a);
    expect(createSignatureVerifier().recover(hexToBytes(hashMessage({ raw: announcementHash(a) })), signature, a.node)).toBe(node.address);
    expect(decodeAnnouncement(new Uint8Array(20_000)).ok).toBe(false);
  });
});
