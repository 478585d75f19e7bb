/**
 * Commits this node's receipts in signed batches (docs/p2p.md "Batches"): receipts wait until the
 * batch holds `maxReceipts` or its oldest receipt is `intervalMs` old; then the node signs one
 * header over the Merkle root of their digests, stores the batch (it serves it to whoever asks)
 * and publishes the header on its batches topic. `batchSeq` is the unix ms of the commit (strictly
 * increasing), so it never repeats, not even after the node loses its disk.
 */
import { hexToBytes, type Hex, type LocalAccount } from 'viem';
import type { Deployment } from '../chain/deployment.ts';
import { buildReceiptTree, signReceiptBatch, type ReceiptBatch } from '../chain/receiptBatch.ts';
import type { PeerReceiptStore } from '../ledger/peerReceipts.ts';
import type { Logger } from '../log.ts';
import { encodeBatchEntry, encodeBatchHeader, type BatchEntry } from './batchCodec.ts';
import { domainSeparator, receiptDigestOf } from './codec.ts';
import { DEFAULT_BATCH_INTERVAL_MS, DEFAULT_BATCH_RECEIPTS, MAX_BATCH_RECEIPTS } from './constants.ts';

export interface BatcherSettings {
  /** Oldest a pending receipt gets before its batch is committed, ms. Default 250. */
  intervalMs?: number;
  /** Most receipts per batch. Default 1,024 (the protocol allows 4,096). */
  maxReceipts?: number;
}

export interface BatcherComponents {
  account: LocalAccount;
  deployment: Pick<Deployment, 'chainId' | 'contracts'>;
  store: Pick<PeerReceiptStore, 'addHeader'>;
  /** Publishes a header message; a failure is logged, the batch stays stored and servable. */
  publish(header: Uint8Array, batch: ReceiptBatch): Promise<void>;
  log: Logger;
}

export interface Batcher {
  /** Queues one of this node's receipts for the next batch (`digest`: its EIP-712 digest, when the caller has it). */
  add(entry: BatchEntry, digest?: Hex): void;
  /** Commits what is pending now (tests, shutdown); resolves when every pending receipt is committed. */
  flush(): Promise<void>;
  /** Receipts waiting. */
  readonly pending: number;
  start(): void;
  stop(): Promise<void>;
}

export function createBatcher(settings: BatcherSettings, c: BatcherComponents): Batcher {
  const intervalMs = settings.intervalMs ?? DEFAULT_BATCH_INTERVAL_MS;
  const maxReceipts = Math.min(settings.maxReceipts ?? DEFAULT_BATCH_RECEIPTS, MAX_BATCH_RECEIPTS);
  const domain = domainSeparator(c.deployment.chainId, c.deployment.contracts.nodeRegistry);
  let pending: Uint8Array[] = [];
  let digests: Array<Uint8Array | undefined> = [];
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let lastSeq = 0n;
  let chain: Promise<void> = Promise.resolve();

  async function commit(entries: Uint8Array[], known: Array<Uint8Array | undefined>): Promise<void> {
    const tree = buildReceiptTree(entries.map((e, i) => known[i] ?? receiptDigestOf(domain, e.subarray(0, 352))));
    const now = Date.now();
    lastSeq = BigInt(now) > lastSeq ? BigInt(now) : lastSeq + 1n;
    const batch: ReceiptBatch = { batchSeq: lastSeq, root: tree.root, count: entries.length, timestamp: BigInt(Math.floor(now / 1000)) };
    const signature = await signReceiptBatch({ account: c.account, batch, chainId: c.deployment.chainId, nodeRegistry: c.deployment.contracts.nodeRegistry });
    const message = encodeBatchHeader({ node: c.account.address, batch, signature });
    const body = new Uint8Array(entries.reduce((n, e) => n + e.length, 0));
    let at = 0;
    for (const e of entries) {
      body.set(e, at);
      at += e.length;
    }
    c.store.addHeader(c.account.address, batch, message, now, body);
    await c.publish(message, batch).catch((err: unknown) => c.log.debug({ err, batchSeq: batch.batchSeq.toString() }, 'publishing a batch header failed; the batch is still served'));
  }

  function cut(): Promise<void> {
    clearTimeout(timer);
    timer = undefined;
    const entries = pending;
    const known = digests;
    pending = [];
    digests = [];
    if (entries.length === 0) return chain;
    chain = chain.then(() => commit(entries, known)).catch((err: unknown) => c.log.error({ err, receipts: entries.length }, 'committing a receipt batch failed'));
    return chain;
  }

  return {
    add(entry, digest) {
      pending.push(encodeBatchEntry(entry));
      digests.push(digest && hexToBytes(digest));
      if (pending.length >= maxReceipts) void cut();
      else if (running && !timer) timer = setTimeout(() => void cut(), intervalMs);
    },
    flush: cut,
    get pending() {
      return pending.length;
    },
    start() {
      running = true;
      if (pending.length > 0) timer ??= setTimeout(() => void cut(), intervalMs);
    },
    async stop() {
      running = false;
      await cut();
    },
  };
}
