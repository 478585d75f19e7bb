/**
 * The batch protocol (docs/p2p.md "Batch protocol"): a libp2p request-response protocol over which
 * a node serves its own batches and the batches it holds of nodes it follows. One request per
 * stream, length-prefixed frames:
 *
 *   request  = ABI (kind, node, batchSeq, root, indices)
 *   response = status byte (0 ok, 1 unknown, 2 busy, 3 bad request), then
 *     batch:  header message, body (count entries)
 *     sample: header message, then per index: entry ‖ Merkle path (32-byte words)
 *     recent: header messages, newest first, concatenated
 *
 * Serving is cheap and capped: graylisted peers are refused, each peer has a request rate and a
 * cap on streams, and so has the node in all.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { bytesToHex, hexToBytes, type Hex } from 'viem';
import { buildReceiptTree, processReceiptProof, type ReceiptTree } from '../chain/receiptBatch.ts';
import type { PeerReceiptStore } from '../ledger/peerReceipts.ts';
import type { Logger } from '../log.ts';
import { decodeBatchRequest, encodeBatchRequest, MAX_RECENT_HEADERS, type BatchRequest } from './batchCodec.ts';
import { BATCH_ENTRY_BYTES, MAX_BATCH_FRAME_BYTES, MAX_HEADER_MESSAGE_BYTES, MAX_PEER_STREAMS, MAX_SERVED_STREAMS } from './constants.ts';
import { BatchFetchError } from './errors.ts';
import type { Host } from './host.ts';
import type { PeerLimits } from './limits.ts';

const STATUS = { ok: 0, unknown: 1, busy: 2, bad: 3 } as const;

export interface BatchServerComponents {
  host: Host;
  protocol: string;
  store: Pick<PeerReceiptStore, 'headers' | 'recentHeaders' | 'body'>;
  /** The Merkle leaf (receipt digest) of a batch entry. */
  leafOf(entry: Uint8Array): Uint8Array;
  limits: PeerLimits;
  /** Whether the peer is below the graylist threshold (nothing it asks is served). */
  graylisted(peer: string): boolean;
  log: Logger;
}

/** Serves the batch protocol while started. */
export function createBatchServer(c: BatchServerComponents) {
  let open = 0;
  // Trees of the batches last sampled (samplers ask for a node's latest batch), by node, batchSeq and root.
  const trees = new Map<string, ReceiptTree>();
  const treeOf = (key: string, body: Uint8Array[]) => {
    let tree = trees.get(key);
    if (!tree) {
      tree = buildReceiptTree(body.map((e) => c.leafOf(e)));
      trees.set(key, tree);
      if (trees.size > 16) trees.delete(trees.keys().next().value as string);
    }
    return tree;
  };
  async function respond(stream: Stream): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_BATCH_FRAME_BYTES });
    const status = (s: number) => lp.write(Uint8Array.of(s));
    const req = decodeBatchRequest((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray());
    if (!req.ok) return status(STATUS.bad);
    const r = req.value;
    if (r.kind === 'recent') {
      const headers = c.store.recentHeaders(r.node, MAX_RECENT_HEADERS);
      if (headers.length === 0) return status(STATUS.unknown);
      const out = new Uint8Array(headers.length * MAX_HEADER_MESSAGE_BYTES);
      headers.forEach((h, i) => out.set(h.message, i * MAX_HEADER_MESSAGE_BYTES));
      return lp.writeV([Uint8Array.of(STATUS.ok), out]);
    }
    const header = c.store.headers(r.node, r.batchSeq).find((h) => h.batch.root === r.root);
    const body = header && c.store.body(r.node, r.batchSeq, r.root);
    if (!header || !body) return status(STATUS.unknown);
    if (r.kind === 'batch') {
      const out = new Uint8Array(body.length * BATCH_ENTRY_BYTES);
      body.forEach((e, i) => out.set(e, i * BATCH_ENTRY_BYTES));
      return lp.writeV([Uint8Array.of(STATUS.ok), header.message, out]);
    }
    if (r.indices.some((i) => i >= body.length)) return status(STATUS.bad);
    const tree = treeOf(`${r.node}:${r.batchSeq}:${r.root}`, body);
    const frames = r.indices.map((i) => {
      const proof = tree.proof(i);
      const f = new Uint8Array(BATCH_ENTRY_BYTES + proof.length * 32);
      f.set(body[i], 0);
      proof.forEach((w, k) => f.set(hexToBytes(w), BATCH_ENTRY_BYTES + k * 32));
      return f;
    });
    return lp.writeV([Uint8Array.of(STATUS.ok), header.message, ...frames]);
  }

  async function handle(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    if (c.graylisted(peer) || open >= MAX_SERVED_STREAMS) {
      stream.abort(new BatchFetchError(peer, 'refused'));
      return;
    }
    const refusal = c.limits.admit(peer);
    if (refusal) {
      await lpStream(stream).write(Uint8Array.of(STATUS.busy)).catch(() => {});
      await stream.close().catch(() => {});
      return;
    }
    open += 1;
    try {
      await respond(stream);
      await stream.close();
    } catch (err) {
      c.log.debug({ err, peer }, 'batch request failed');
      stream.abort(err as Error);
    } finally {
      open -= 1;
      c.limits.done(peer);
    }
  }

  return {
    async start() {
      await c.host.handle(c.protocol, handle, { maxInboundStreams: MAX_PEER_STREAMS, force: true });
    },
    async stop() {
      await c.host.unhandle(c.protocol).catch(() => {});
    },
  };
}

/** What a batch request returned. */
export type BatchResponse =
  | { kind: 'batch'; header: Uint8Array; entries: Uint8Array[] }
  | { kind: 'sample'; header: Uint8Array; samples: Array<{ index: number; entry: Uint8Array; proof: Hex[] }> }
  | { kind: 'recent'; headers: Uint8Array[] };

/** Asks `peer` one batch request; throws `BatchFetchError` for anything but an answer. */
export async function requestBatch(host: Host, protocol: string, peer: PeerId, req: BatchRequest, signal: AbortSignal): Promise<BatchResponse> {
  const stream = await host.dialProtocol(peer, protocol, { signal });
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_BATCH_FRAME_BYTES });
    await lp.write(encodeBatchRequest(req), { signal });
    const status = (await lp.read({ signal })).subarray()[0];
    if (status !== STATUS.ok) throw new BatchFetchError(peer.toString(), ['ok', 'it does not hold the batch', 'it is busy', 'it did not understand the request'][status] ?? `status ${status}`);
    let out: BatchResponse;
    if (req.kind === 'recent') {
      const all = (await lp.read({ signal })).subarray();
      const headers: Uint8Array[] = [];
      for (let i = 0; i + MAX_HEADER_MESSAGE_BYTES <= all.length && headers.length < MAX_RECENT_HEADERS; i += MAX_HEADER_MESSAGE_BYTES) headers.push(all.subarray(i, i + MAX_HEADER_MESSAGE_BYTES));
      out = { kind: 'recent', headers };
    } else if (req.kind === 'batch') {
      const header = (await lp.read({ signal })).subarray();
      const body = (await lp.read({ signal })).subarray();
      if (body.length % BATCH_ENTRY_BYTES !== 0) throw new BatchFetchError(peer.toString(), `a body of ${body.length} bytes`);
      const entries: Uint8Array[] = [];
      for (let i = 0; i < body.length; i += BATCH_ENTRY_BYTES) entries.push(body.subarray(i, i + BATCH_ENTRY_BYTES));
      out = { kind: 'batch', header, entries };
    } else {
      const header = (await lp.read({ signal })).subarray();
      const samples = [];
      for (const index of req.indices) {
        const f = (await lp.read({ signal })).subarray();
        if (f.length < BATCH_ENTRY_BYTES || (f.length - BATCH_ENTRY_BYTES) % 32 !== 0) throw new BatchFetchError(peer.toString(), `a sample of ${f.length} bytes`);
        const proof: Hex[] = [];
        for (let i = BATCH_ENTRY_BYTES; i < f.length; i += 32) proof.push(bytesToHex(f.subarray(i, i + 32)));
        samples.push({ index, entry: f.subarray(0, BATCH_ENTRY_BYTES), proof });
      }
      out = { kind: 'sample', header, samples };
    }
    await stream.close({ signal }).catch(() => {});
    return out;
  } catch (err) {
    stream.abort(err as Error);
    throw err instanceof BatchFetchError ? err : new BatchFetchError(peer.toString(), (err as Error).message, { cause: err });
  }
}

/** Whether a sampled entry's digest leads to `root` along its path. */
export function sampleMatches(digest: Uint8Array, proof: readonly Hex[], root: Hex): boolean {
  return processReceiptProof(digest, proof) === root;
}

