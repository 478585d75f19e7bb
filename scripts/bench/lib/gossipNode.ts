/**
 * One node of `bench:gossip`, in its own process: the p2p layer of a node (no model) against the
 * bench's shared JSON-RPC chain. Driven over IPC by scripts/bench/gossip.ts: `init` starts the
 * network, `connect` dials its ring neighbours, `run` commits receipts at a rate for a while and
 * reports, for every receipt of another node it checked, how long after its commit that was, plus
 * this process's CPU time and the bytes its libp2p sockets moved.
 */
import diagnostics from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex, hexToBytes, keccak256, toHex, zeroHash, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createChainClients } from '../../../src/chain/clients.ts';
import type { Deployment } from '../../../src/chain/deployment.ts';
import type { UsageReceipt } from '../../../src/chain/eip712.ts';
import { createUsageReceiptHasher } from '../../../src/payments/receiptDigest.ts';
import { createNetwork, type Network } from '../../../src/p2p/network.ts';

/** Messages from the bench. */
export type ToNode =
  | { type: 'init'; index: number; rpcUrl: string; deployment: Deployment; privateKey: Hex; follow: number; batchIntervalMs: number }
  | { type: 'connect'; addrs: string[] }
  | { type: 'run'; rate: number; seconds: number; drainMs: number }
  | { type: 'stop' };

/** Messages to the bench. */
export type FromNode =
  | { type: 'ready'; multiaddr: string }
  | { type: 'meshed'; gaps: string[]; peers: number }
  | { type: 'report'; index: number; committed: number; verified: { sender: number[]; seq: number[]; latencyMs: number[] }; cpuMs: number; bytes: number; seconds: number; rssMiB: number };

const send = (m: FromNode) => process.send?.(m);

// Bytes through TCP sockets other than the chain RPC's: libp2p's traffic.
let rpcPort = 0;
const sockets = new Set<Socket>();
let closedBytes = 0;
const track = ({ socket }: { socket: Socket }) => {
  if (socket.remotePort === rpcPort) return;
  sockets.add(socket);
  socket.once('close', () => {
    closedBytes += socket.bytesRead + socket.bytesWritten;
    sockets.delete(socket);
  });
};
diagnostics.subscribe('net.client.socket', track as (m: unknown) => void);
diagnostics.subscribe('net.server.socket', track as (m: unknown) => void);
const bytesNow = () => {
  let n = closedBytes;
  for (const s of sockets) n += s.bytesRead + s.bytesWritten;
  return n;
};

let network: Network | undefined;
let dir = '';
let index = 0;
let me: ReturnType<typeof privateKeyToAccount>;
let deployment: Deployment;
/** Receipt seqs continue across runs (warm-up, then the measured run): unique per node key. */
let seqBase = 0;
const verified = { sender: [] as number[], seq: [] as number[], latencyMs: [] as number[] };

/** requestId carries the commit time (ms) and the sender's index, so receivers measure latency without a side channel. */
function requestId(seq: number, at: number): Hex {
  const b = new Uint8Array(32);
  new DataView(b.buffer).setFloat64(0, at);
  new DataView(b.buffer).setUint32(8, index);
  new DataView(b.buffer).setUint32(12, seq);
  return bytesToHex(b);
}

// The bench went away (it crashed, or was stopped): so does this node.
process.on('disconnect', () => process.exit(0));

process.on('message', (m: ToNode) => {
  void handle(m).catch((err: unknown) => {
    console.error(`node ${index}:`, err);
    process.exit(1);
  });
});

async function handle(m: ToNode): Promise<void> {
  if (m.type === 'init') {
    index = m.index;
    rpcPort = Number(new URL(m.rpcUrl).port);
    me = privateKeyToAccount(m.privateKey);
    deployment = m.deployment;
    dir = await mkdtemp(join(tmpdir(), 'openlora-bench-gossip-'));
    const chain = await createChainClients({ rpcUrl: m.rpcUrl, account: me, chainId: m.deployment.chainId });
    network = await createNetwork({
      options: { peerKeyFile: join(dir, 'peer-key'), dialRegistered: false, follow: m.follow, batchIntervalMs: m.batchIntervalMs, chainPollMs: 10_000, sampleIntervalMs: 0, maxPeers: 64 },
      account: me,
      deployment: m.deployment,
      publicClient: chain.publicClient,
      walletClient: chain.walletClient,
      storeFile: join(dir, 'p2p.db'),
    });
    network.onBatch((b) => {
      for (const r of b.receipts) {
        const v = new DataView(hexToBytes(r.receipt.requestId).buffer);
        verified.sender.push(v.getUint32(8));
        verified.seq.push(v.getUint32(12));
        verified.latencyMs.push(b.receivedAt - v.getFloat64(0));
      }
    });
    await network.start();
    send({ type: 'ready', multiaddr: network.multiaddrs()[0] });
  } else if (m.type === 'connect') {
    const n = network!;
    // libp2p takes at most 5 new inbound connections per second from one address, and every node
    // here is on 127.0.0.1: retry with jitter until each neighbour is connected.
    const deadlineDial = Date.now() + 60_000;
    await Promise.all(
      m.addrs.map(async (a) => {
        while (Date.now() < deadlineDial) {
          if (await n.dial(a).then(() => true, () => false)) return;
          await new Promise((r) => setTimeout(r, 200 + Math.random() * 800));
        }
      }),
    );
    const deadline = Date.now() + 120_000;
    const missing = () => [n.topics.batches, ...n.following().map((f) => n.topicOf(f))].filter((t) => n.meshPeers(t).length < 1);
    while (missing().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const gaps = missing().map((t) => `${t.split('/')[3]}: ${n.host.services.pubsub.getSubscribers(t).length} subscribers`);
    send({ type: 'meshed', gaps, peers: n.peers().length });
  } else if (m.type === 'run') {
    const n = network!;
    const hash = createUsageReceiptHasher({ chainId: deployment.chainId, nodeRegistry: deployment.contracts.nodeRegistry });
    const channelId = keccak256(toHex(`openlora:key:bench-${index}`));
    const base = seqBase;
    seqBase += Math.round(m.rate * m.seconds) + 1;
    const adapterId = keccak256(toHex('adapter'));
    verified.sender.length = 0;
    verified.seq.length = 0;
    verified.latencyMs.length = 0;
    const cpu0 = process.cpuUsage();
    const bytes0 = bytesNow();
    const t0 = performance.now();
    let committed = 0;
    const total = Math.round(m.rate * m.seconds);
    // Commit at the offered rate, in 10 ms steps.
    while (committed < total) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * m.rate));
      const at = Date.now();
      for (; committed < due; committed++) {
        const seq = base + committed + 1;
        const receipt: UsageReceipt = {
          channelId,
          adapterId,
          requestId: requestId(seq, at),
          seq: BigInt(seq),
          promptTokens: 100,
          completionTokens: 200,
          amount: 500n,
          laneCharged: 500n * BigInt(seq),
          voucherDigest: zeroHash,
          attributionDigest: zeroHash,
          timestamp: BigInt(Math.floor(at / 1000)),
        };
        // The issuer hashes each receipt to sign it; the batch reuses that digest.
        await n.publishReceipt({ receipt, signature: '0x', digest: hash(receipt) });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await n.flush();
    // A fixed window (committing, then `drainMs`) for every node and network size: costs are
    // compared over equal time, and what was not checked by its end shows as unchecked.
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + m.seconds * 1000 + m.drainMs - performance.now())));
    const cpu = process.cpuUsage(cpu0);
    const report = {
      type: 'report' as const,
      index,
      committed,
      verified: { sender: [...verified.sender], seq: [...verified.seq], latencyMs: [...verified.latencyMs] },
      cpuMs: (cpu.user + cpu.system) / 1000,
      bytes: bytesNow() - bytes0,
      seconds: (performance.now() - t0) / 1000,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
    };
    await n.idle();
    send(report);
  } else if (m.type === 'stop') {
    await network?.stop();
    await rm(dir, { recursive: true, force: true });
    process.exit(0);
  }
}
