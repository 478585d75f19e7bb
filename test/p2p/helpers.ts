/**
 * P2P test helpers: real libp2p networks over loopback TCP against Hardhat's in-process chain
 * (test/contracts/fixture.ts), each with its own ledger database and peer key.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zeroHash, type Hex } from 'viem';
import { createNetwork, type Network, type NetworkOptions, type NodeStatus } from '../../src/p2p/network.ts';
import { id, receipt as makeReceipt, TOKEN, type Chain } from '../contracts/fixture.ts';
import type { UsageReceipt } from '../../src/chain/eip712.ts';

export { setupChain } from '../contracts/fixture.ts';

/** Stakes and registers account `i` as a node with the given multiaddrs. */
export async function registerNode(c: Chain, i: number, multiaddrs: string[] = []): Promise<void> {
  await c.wait(c.as(i).token.write.approve([c.deployment.contracts.nodeRegistry, 1000n * TOKEN]));
  await c.wait(c.as(i).nodeRegistry.write.register([100n * TOKEN, `http://127.0.0.1:${8000 + i}`, multiaddrs]));
}

/**
 * Fast timers for tests: heartbeats every 200 ms, batches every 100 ms, no random audits; and a
 * connection's dial and upgrade may take 120 s, as the tests' other waits (libp2p's 10 s default
 * aborted a noise handshake between five nodes in one process at load average 29).
 */
export const FAST: Partial<NetworkOptions> = { heartbeatMs: 200, redialIntervalMs: 300, chainPollMs: 300, announceIntervalMs: 400, dialRegistered: false, batchIntervalMs: 100, sampleIntervalMs: 0, connectTimeoutMs: 120_000 };

export interface TestNetwork {
  network: Network;
  dataDir: string;
  index: number;
}

/** Starts a network for account `i` (a data dir is reused when given: same peer key, same ledger). */
export async function startNetwork(c: Chain, i: number, p: { options?: Partial<NetworkOptions>; dataDir?: string; status?: () => NodeStatus; publicClient?: Chain['publicClient'] } = {}): Promise<TestNetwork> {
  const dataDir = p.dataDir ?? (await mkdtemp(join(tmpdir(), `openlora-p2p-${i}-`)));
  const network = await createNetwork({
    options: { peerKeyFile: join(dataDir, 'peer-key'), ...FAST, ...p.options },
    account: c.accounts[i],
    deployment: c.deployment,
    publicClient: p.publicClient ?? c.publicClient,
    walletClient: c.wallets[i],
    storeFile: join(dataDir, 'p2p.db'),
    status: p.status,
  });
  await network.start();
  return { network, dataDir, index: i };
}

/** Polls `check` until it is true; throws with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An open-mode receipt of node `i` (no voucher), signed. */
export async function openReceipt(c: Chain, i: number, seq: bigint, overrides: Partial<UsageReceipt> = {}): Promise<{ receipt: UsageReceipt; signature: Hex }> {
  const receipt = makeReceipt({
    channelId: id(`open-key-${i}`),
    requestId: id(`req-${i}-${seq}-${overrides.promptTokens ?? 10}`),
    seq,
    voucherDigest: zeroHash,
    timestamp: BigInt(Math.floor(Date.now() / 1000)),
    ...overrides,
  });
  return { receipt, signature: await c.signReceiptAs(i, receipt) };
}

/** Connects every network to every earlier one (a full mesh of connections). */
export async function connectAll(nets: Network[]): Promise<void> {
  for (let a = 1; a < nets.length; a++) for (let b = 0; b < a; b++) await nets[a].dial(nets[b].multiaddrs()[0]);
}

/** Waits until every network has a mesh peer on the batch topic of every node it follows. */
export async function waitForMeshes(nets: Network[], timeoutMs = 120_000): Promise<void> {
  await waitFor('batch-topic meshes', () => nets.every((n) => n.following().length > 0 && n.following().every((f) => n.meshPeers(n.topicOf(f)).length >= 1)), timeoutMs);
}
