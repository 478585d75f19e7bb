/**
 * Keeps the node connected (docs/p2p.md "Peers"): dials the bootstrap peers and the peers its
 * topics need (the nodes it follows and those that follow it), and redials them while they are
 * disconnected, within the connection limit.
 */
import { multiaddr } from '@multiformats/multiaddr';
import type { Logger } from '../log.ts';
import { DEFAULT_REDIAL_INTERVAL_MS } from './constants.ts';
import type { Host } from './host.ts';

export interface DialerSettings {
  /** Peers dialled at start and redialled when disconnected (with /p2p/<peer id>). */
  bootstrap?: readonly string[];
  /** How often connections are checked, ms. Default 2,000. */
  redialIntervalMs?: number;
  /** No new dials at this many connections. */
  maxPeers: number;
}

export interface DialerComponents {
  host: Host;
  /** Other multiaddrs to keep connected (ring neighbours' registered or announced ones). */
  targets(): readonly string[];
  log: Logger;
}

export interface Dialer {
  start(): void;
  stop(): void;
  dial(address: string, signal?: AbortSignal): Promise<void>;
}

export function createDialer(settings: DialerSettings, c: DialerComponents): Dialer {
  const self = c.host.peerId.toString();
  const dialing = new Set<string>();
  let timer: NodeJS.Timeout | undefined;

  async function dial(address: string, signal?: AbortSignal): Promise<void> {
    await c.host.dial(multiaddr(address), { signal: signal ?? AbortSignal.timeout(5_000) });
  }

  function redial(): void {
    const connected = new Set(c.host.getPeers().map((x) => x.toString()));
    if (connected.size >= settings.maxPeers) return;
    for (const address of new Set([...(settings.bootstrap ?? []), ...c.targets()])) {
      let peer: string | undefined;
      try {
        peer = multiaddr(address).getComponents().find((x) => x.name === 'p2p')?.value;
      } catch {
        continue;
      }
      if (peer === self || (peer && connected.has(peer)) || dialing.has(address)) continue;
      dialing.add(address);
      dial(address)
        .catch((err: unknown) => c.log.debug({ err, address }, 'dial failed; will retry'))
        .finally(() => dialing.delete(address));
    }
  }

  return {
    start() {
      redial();
      timer = setInterval(redial, settings.redialIntervalMs ?? DEFAULT_REDIAL_INTERVAL_MS);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
    dial,
  };
}
