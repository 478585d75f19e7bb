/**
 * Audits other nodes' batches (docs/p2p.md "Following" and "Sampling"): fetches every batch of the
 * nodes this node follows (from the peer that forwarded the header, else the node, else another
 * follower), checks it against its signed root, stores its receipts and hands equivocations to the
 * watcher; and every `sampleIntervalMs` checks a few random receipts, with their Merkle paths, of
 * the latest batch of one random node it does not follow.
 */
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Address, Hex } from 'viem';
import type { Deployment } from '../chain/deployment.ts';
import type { UsageReceipt } from '../chain/eip712.ts';
import type { ReceiptBatch } from '../chain/receiptBatch.ts';
import type { PeerReceiptStore } from '../ledger/peerReceipts.ts';
import type { Logger } from '../log.ts';
import { decodeBatchEntry, decodeBatchHeader } from './batchCodec.ts';
import { requestBatch, sampleMatches } from './batchProtocol.ts';
import { batchDigestOf, domainSeparator, receiptDigestOf } from './codec.ts';
import { BATCH_FETCH_TIMEOUT_MS, DEFAULT_SAMPLE_INTERVAL_MS, DEFAULT_SAMPLE_RECEIPTS } from './constants.ts';
import type { Host } from './host.ts';
import { PENALTY, type PeerPenalties } from './limits.ts';
import type { NetworkMetrics } from './metrics.ts';
import type { SignatureVerifier } from './signatures.ts';
import type { BatchCheck } from './verifyBatch.ts';
import type { Watcher } from './watcher.ts';

/** A batch of another node, checked and stored. */
export interface ReceivedBatch {
  node: Address;
  batch: ReceiptBatch;
  receipts: Array<{ digest: Hex; receipt: UsageReceipt }>;
  /** Unix ms it was stored. */
  receivedAt: number;
}

/** What auditing a node found: its receipts check out, it served nothing, or what it served is wrong. */
export type AuditResult = 'ok' | 'unavailable' | 'invalid';

export interface AuditorSettings {
  sampleIntervalMs?: number;
  sampleReceipts?: number;
  /** Batches fetched at once. Default 4. */
  fetchConcurrency?: number;
}

export interface AuditorComponents {
  host: Host;
  protocol: string;
  deployment: Pick<Deployment, 'chainId' | 'contracts'>;
  store: PeerReceiptStore;
  verifyBatch(node: Address, batch: ReceiptBatch, entries: readonly Uint8Array[]): Promise<BatchCheck>;
  verifier: SignatureVerifier;
  watcher: Watcher;
  penalties: PeerPenalties;
  /** The peer id a node announced or registered, when known. */
  peerOf(node: Address): string | undefined;
  /** Peers subscribed to `node`'s batches topic (the node itself and its other followers). */
  holdersOf(node: Address): string[];
  /** Nodes that may be sampled now (known peers, not followed, not this node). */
  sampleCandidates(): Address[];
  onBatch(b: ReceivedBatch): void;
  log: Logger;
  metrics?: NetworkMetrics;
}

export function createAuditor(settings: AuditorSettings, c: AuditorComponents) {
  const domain = domainSeparator(c.deployment.chainId, c.deployment.contracts.nodeRegistry);
  const concurrency = settings.fetchConcurrency ?? 4;
  const queue: Array<() => Promise<void>> = [];
  let active = 0;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let idleWaiters: Array<() => void> = [];

  function pump(): void {
    while (running && active < concurrency && queue.length > 0) {
      const job = queue.shift()!;
      active += 1;
      void job().finally(() => {
        active -= 1;
        if (active === 0 && queue.length === 0) for (const w of idleWaiters.splice(0)) w();
        pump();
      });
    }
  }

  // The peer that last served each node's batch: asked first next time (usually the node itself).
  const lastServed = new Map<Address, string>();

  async function fetch(node: Address, batch: ReceiptBatch, from: PeerId | undefined): Promise<void> {
    const peers = [lastServed.get(node), c.peerOf(node), from?.toString(), ...c.holdersOf(node)].filter((x, i, all): x is string => x !== undefined && all.indexOf(x) === i);
    for (const peer of peers) {
      let entries: Uint8Array[];
      try {
        const r = await requestBatch(c.host, c.protocol, peerIdFromString(peer), { kind: 'batch', node, batchSeq: batch.batchSeq, root: batch.root }, AbortSignal.timeout(BATCH_FETCH_TIMEOUT_MS));
        if (r.kind !== 'batch') continue;
        entries = r.entries;
      } catch (err) {
        c.log.debug({ err, node, peer, batchSeq: batch.batchSeq.toString() }, 'batch fetch failed; trying another peer');
        continue;
      }
      const check = await c.verifyBatch(node, batch, entries);
      if (!check.ok) {
        c.penalties.add(peer, PENALTY.badBatch);
        c.metrics?.batches.inc({ result: 'invalid' });
        c.log.warn({ node, peer, batchSeq: batch.batchSeq.toString(), reason: check.reason }, 'a peer served a batch that does not match its header');
        continue;
      }
      lastServed.set(node, peer);
      const receivedAt = Date.now();
      const conflicts = c.store.addBatchReceipts(node, batch, check.receipts, receivedAt);
      c.metrics?.batches.inc({ result: 'stored' });
      for (const [reason, n] of Object.entries(check.refused)) c.metrics?.refused.inc({ reason }, n);
      for (const { stored, conflicting } of conflicts) void c.watcher.onEquivocation(conflicting, stored);
      c.onBatch({ node, batch, receipts: check.receipts.map((r) => ({ digest: r.digest, receipt: r.receipt })), receivedAt });
      return;
    }
    c.metrics?.batches.inc({ result: 'unavailable' });
    c.log.info({ node, batchSeq: batch.batchSeq.toString() }, 'no peer served the batch');
  }

  /** Checks a few receipts of the latest batch of one random unfollowed node; answers how that went (none: nobody to sample). */
  async function sample(): Promise<AuditResult | undefined> {
    const candidates = c.sampleCandidates();
    if (candidates.length === 0) return undefined;
    const node = candidates[Math.floor(Math.random() * candidates.length)];
    const peerText = c.peerOf(node);
    if (!peerText) return undefined;
    const peer = peerIdFromString(peerText);
    const signal = AbortSignal.timeout(BATCH_FETCH_TIMEOUT_MS);
    let result: AuditResult = 'unavailable';
    try {
      const recent = await requestBatch(c.host, c.protocol, peer, { kind: 'recent', node }, signal);
      const h = recent.kind === 'recent' && recent.headers.length > 0 ? decodeBatchHeader(recent.headers[0]) : undefined;
      if (!h?.ok || h.value.node !== node || !c.verifier.verify(batchDigestOf(domain, h.value.batchWords), h.value.signature, node)) {
        result = h ? 'invalid' : 'unavailable';
        return result;
      }
      const batch = h.value.batch;
      const stored = c.store.addHeader(node, batch, recent.kind === 'recent' ? recent.headers[0] : new Uint8Array(), Date.now());
      const other = stored.others.find((o) => o.batch.root !== batch.root);
      if (other) void c.watcher.onBatchEquivocation(other, c.store.headers(node, batch.batchSeq).find((x) => x.batch.root === batch.root)!);
      const n = Math.min(settings.sampleReceipts ?? DEFAULT_SAMPLE_RECEIPTS, batch.count);
      const indices = [...new Set(Array.from({ length: n }, () => Math.floor(Math.random() * batch.count)))];
      const s = await requestBatch(c.host, c.protocol, peer, { kind: 'sample', node, batchSeq: batch.batchSeq, root: batch.root, indices }, signal);
      if (s.kind !== 'sample') return result;
      result = s.samples.length === indices.length && s.samples.every((x) => {
        const e = decodeBatchEntry(x.entry);
        return e.ok && sampleMatches(receiptDigestOf(domain, e.value.receiptWords), x.proof, batch.root);
      })
        ? 'ok'
        : 'invalid';
    } catch (err) {
      c.log.debug({ err, node }, 'sampling a node failed');
    } finally {
      c.metrics?.audits.inc({ result });
      if (result !== 'ok') c.log.info({ node, result }, 'sampled node did not serve valid receipts');
    }
    return result;
  }

  return {
    /** Queues the fetch of a followed node's batch whose header was accepted. */
    fetch(node: Address, batch: ReceiptBatch, from?: PeerId): void {
      queue.push(() => fetch(node, batch, from));
      pump();
    },
    sample,
    /** Resolves when no fetch is queued or running. */
    idle(): Promise<void> {
      if (active === 0 && queue.length === 0) return Promise.resolve();
      return new Promise((r) => idleWaiters.push(r));
    },
    start() {
      running = true;
      pump();
      const every = settings.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS;
      if (every > 0) {
        timer = setInterval(() => void sample(), every);
        timer.unref();
      }
    },
    stop() {
      running = false;
      clearInterval(timer);
      queue.length = 0;
      for (const w of idleWaiters.splice(0)) w();
      idleWaiters = [];
    },
  };
}
