import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { bytesToHex, hashMessage, hexToBytes, zeroHash, type Hex } from 'viem';
import { describe, expect, it } from 'vitest';
import { signUsageReceipt, signVoucher, usageReceiptDigest, voucherDigest } from '../../src/chain/eip712.ts';
import { buildReceiptTree, processReceiptProof, receiptBatchDigest, signReceiptBatch } from '../../src/chain/receiptBatch.ts';
import { decodeBatchEntry, decodeBatchHeader, encodeBatchEntry, encodeBatchHeader } from '../../src/p2p/batchCodec.ts';
import { announcementHash, batchDigestOf, decodeAnnouncement, domainSeparator, encodeAnnouncement, receiptDigestOf, voucherDigestOf, type Announcement } from '../../src/p2p/codec.ts';
import { BATCH_ENTRY_BYTES, MAX_HEADER_MESSAGE_BYTES } from '../../src/p2p/constants.ts';
import { createSignatureVerifier } from '../../src/p2p/signatures.ts';
import { id, receipt as makeReceipt } from '../contracts/fixture.ts';

const chainId = 31337;
const nodeRegistry = '0x5FbDB2315678afecb367f032d93F642f64180aa3' as const;
const paymentChannels = '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512' as const;

describe('gossip codecs', () => {
  it('round-trips a paid batch entry; digests equal the EIP-712 ones; the signer is found by both verifier paths', async () => {
    const node = privateKeyToAccount(generatePrivateKey());
    const payer = privateKeyToAccount(generatePrivateKey());
    const voucher = { channelId: id('ch'), adapterId: id('adapter'), cumulativeAmount: 1234n };
    const vDigest = voucherDigest({ voucher, chainId, paymentChannels });
    const receipt = makeReceipt({ channelId: id('ch'), adapterId: id('adapter'), voucherDigest: vDigest, seq: 77n, amount: 10n, laneCharged: 1244n });
    const signature = await signUsageReceipt({ account: node, receipt, chainId, nodeRegistry });
    const voucherSignature = await signVoucher({ account: payer, voucher, chainId, paymentChannels });
    const data = encodeBatchEntry({ receipt, voucher, voucherSignature });
    expect(data.length).toBe(BATCH_ENTRY_BYTES);
    const d = decodeBatchEntry(data);
    if (!d.ok) throw new Error(d.reason);
    expect(d.value.receipt).toEqual(receipt);
    expect(d.value.voucher).toEqual(voucher);
    expect(d.value.voucherSignature).toBe(voucherSignature);
    const digest = receiptDigestOf(domainSeparator(chainId, nodeRegistry), d.value.receiptWords);
    expect(bytesToHex(digest)).toBe(usageReceiptDigest({ receipt, chainId, nodeRegistry }));
    expect(bytesToHex(voucherDigestOf(domainSeparator(chainId, paymentChannels), d.value.voucherWords))).toBe(vDigest);
    const verifier = createSignatureVerifier();
    expect(verifier.recover(digest, signature)).toBe(node.address); // full recovery, caches the key
    expect(verifier.recover(digest, signature, node.address)).toBe(node.address); // fast path
    expect(verifier.verify(digest, signature, node.address)).toBe(true);
    // A signature by someone else, given the wrong hint, still recovers its true signer, and never verifies as the hinted one.
    const other = await signUsageReceipt({ account: payer, receipt, chainId, nodeRegistry });
    expect(verifier.recover(digest, other, node.address)).toBe(payer.address);
    expect(verifier.verify(digest, other, node.address)).toBe(false);
    // Flipping v gives another signer, never the hinted one.
    const flipped = (other.slice(0, -2) + (other.endsWith('1b') ? '1c' : '1b')) as Hex;
    expect(verifier.recover(digest, flipped, payer.address)).not.toBe(payer.address);
    expect(verifier.verify(digest, flipped, payer.address)).toBe(false);
  });

  it('decodes an open-mode entry without a voucher; refuses values outside their types', () => {
    const receipt = makeReceipt({ voucherDigest: zeroHash });
    const data = encodeBatchEntry({ receipt });
    const d = decodeBatchEntry(data);
    expect(d.ok && d.value.voucher === undefined).toBe(true);
    const wide = data.slice();
    wide[3 * 32] = 1; // seq is uint64: a high byte set is not a receipt
    expect(decodeBatchEntry(wide)).toEqual({ ok: false, reason: 'receipt field out of range' });
    expect(decodeBatchEntry(data.subarray(0, 500)).ok).toBe(false);
  });

  it('round-trips a signed batch header, whose digest equals the EIP-712 one; garbage and padding never decode', async () => {
    const node = privateKeyToAccount(generatePrivateKey());
    const leaves = [1, 2, 3].map((n) => hexToBytes(usageReceiptDigest({ receipt: makeReceipt({ seq: BigInt(n) }), chainId, nodeRegistry })));
    const tree = buildReceiptTree(leaves);
    const batch = { batchSeq: 1_700_000_000_123n, root: tree.root, count: 3, timestamp: 1_700_000_000n };
    const signature = await signReceiptBatch({ account: node, batch, chainId, nodeRegistry });
    const data = encodeBatchHeader({ node: node.address, batch, signature });
    expect(data.length).toBe(MAX_HEADER_MESSAGE_BYTES);
    const d = decodeBatchHeader(data);
    if (!d.ok) throw new Error(d.reason);
    expect(d.value.batch).toEqual(batch);
    const digest = batchDigestOf(domainSeparator(chainId, nodeRegistry), d.value.batchWords);
    expect(bytesToHex(digest)).toBe(receiptBatchDigest({ batch, chainId, nodeRegistry }));
    expect(createSignatureVerifier().verify(digest, signature, node.address)).toBe(true);
    for (const [i, leaf] of leaves.entries()) expect(processReceiptProof(leaf, tree.proof(i))).toBe(tree.root);
    for (const bad of [new Uint8Array(0), new Uint8Array(100).fill(7), data.slice(0, 200), new Uint8Array(4096)]) expect(decodeBatchHeader(bad).ok).toBe(false);
    const padded = new Uint8Array(data.length + 32);
    padded.set(data);
    expect(decodeBatchHeader(padded).ok).toBe(false);
    expect(decodeBatchHeader(encodeBatchHeader({ node: node.address, batch: { ...batch, count: 0 }, signature }))).toEqual({ ok: false, reason: 'bad count (0)' });
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
