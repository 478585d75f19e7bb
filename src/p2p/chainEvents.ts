/**
 * Follows NodeRegistry endpoint events (peer discovery) and PaymentChannels `LaneSettled` events
 * (settlement checks) by polling `eth_getLogs` over block ranges: works on any RPC, including
 * Hardhat's in-process chain, without filters that expire.
 */
import type { Address, Hex, PublicClient } from 'viem';
import { nodeRegistryAbi, paymentChannelsAbi } from '../chain/contracts.ts';
import type { Deployment } from '../chain/deployment.ts';
import type { Logger } from '../log.ts';
import { DEFAULT_CHAIN_POLL_MS } from './constants.ts';

/** A lane settlement seen on-chain. */
export interface LaneSettlement {
  channelId: Hex;
  adapterId: Hex;
  /** The lane's cumulative claimed total after this settlement. */
  claimed: bigint;
  paid: bigint;
  blockNumber: bigint;
  transactionHash: Hex;
}

export interface CreateChainFollowerParameters {
  publicClient: PublicClient;
  deployment: Pick<Deployment, 'contracts' | 'blockNumber'>;
  log: Logger;
  /** Poll interval, ms. Default 2,000. */
  pollMs?: number;
  /** Largest block range per `getLogs`. Default 5,000. */
  maxRange?: bigint;
  /** A node registered or changed its endpoints. */
  onEndpoints?: (node: Address, url: string, multiaddrs: readonly string[]) => void;
  onSettled?: (settlement: LaneSettlement) => void;
  /** A round reached the chain head (every event up to `head` was delivered). */
  onSynced?: (head: bigint) => void;
}

/** Polls the chain; `poll()` runs one round now (tests and start-up use it). */
export interface ChainFollower {
  start(): void;
  stop(): void;
  poll(): Promise<void>;
}

export function createChainFollower(p: CreateChainFollowerParameters): ChainFollower {
  const pollMs = p.pollMs ?? DEFAULT_CHAIN_POLL_MS;
  const maxRange = p.maxRange ?? 5_000n;
  let next = BigInt(p.deployment.blockNumber);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function round(): Promise<void> {
    const head = await p.publicClient.getBlockNumber({ cacheTime: 0 });
    while (next <= head) {
      const to = next + maxRange - 1n < head ? next + maxRange - 1n : head;
      const [registered, updated, settled] = await Promise.all([
        p.publicClient.getContractEvents({ address: p.deployment.contracts.nodeRegistry, abi: nodeRegistryAbi, eventName: 'NodeRegistered', fromBlock: next, toBlock: to }),
        p.publicClient.getContractEvents({ address: p.deployment.contracts.nodeRegistry, abi: nodeRegistryAbi, eventName: 'NodeEndpointsUpdated', fromBlock: next, toBlock: to }),
        p.publicClient.getContractEvents({ address: p.deployment.contracts.paymentChannels, abi: paymentChannelsAbi, eventName: 'LaneSettled', fromBlock: next, toBlock: to }),
      ]);
      for (const e of [...registered, ...updated].sort((a, b) => Number(a.blockNumber - b.blockNumber) || a.logIndex - b.logIndex)) {
        const a = e.args as { node: Address; url: string; multiaddrs: readonly string[] };
        p.onEndpoints?.(a.node, a.url, a.multiaddrs);
      }
      for (const e of settled) {
        const a = e.args as { channelId: Hex; adapterId: Hex; claimed: bigint; paid: bigint };
        p.onSettled?.({ channelId: a.channelId, adapterId: a.adapterId, claimed: a.claimed, paid: a.paid, blockNumber: e.blockNumber, transactionHash: e.transactionHash });
      }
      next = to + 1n;
    }
    p.onSynced?.(head);
  }

  const poll = (): Promise<void> => {
    running ??= round()
      .catch((err: unknown) => p.log.warn({ err }, 'chain poll failed; retrying'))
      .finally(() => (running = undefined));
    return running;
  };

  return {
    start() {
      if (timer) return;
      timer = setInterval(() => void poll(), pollMs);
      timer.unref();
      void poll();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
    poll,
  };
}
