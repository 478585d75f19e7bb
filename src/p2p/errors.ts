import { BaseError, type BaseErrorParameters } from '../errors.ts';

/** A gossip message failed to decode or broke a size limit (validators turn this into REJECT). */
export class P2PDecodeError extends BaseError {
  override name = 'P2PDecodeError' as const;
  constructor(what: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_P2P_DECODE', `The ${what} message ${problem}.`, parameters);
  }
}

/** The persistent peer key file cannot be read, parsed or written. */
export class PeerKeyError extends BaseError {
  override name = 'PeerKeyError' as const;
  constructor(file: string, problem: string, cause?: unknown) {
    super('OPENLORA_P2P_PEER_KEY', `The peer key file ${file} ${problem}.`, {
      cause,
      details: (cause as Error | undefined)?.message,
      hint: 'Delete the file to make a new peer id (peers will see a new node), or restore it from a backup.',
    });
  }
}

/** A multiaddr in the configuration is malformed or not allowed. */
export class P2PConfigError extends BaseError {
  override name = 'P2PConfigError' as const;
  constructor(key: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_P2P_CONFIG', `p2p.${key} ${problem}.`, { hint: 'Use multiaddrs like /ip4/127.0.0.1/tcp/4100 (and /p2p/<peer id> for bootstrap peers).', ...parameters });
  }
}

/** The network was used before `start()` or after `stop()`. */
export class P2PNotRunningError extends BaseError {
  override name = 'P2PNotRunningError' as const;
  constructor(operation: string) {
    super('OPENLORA_P2P_NOT_RUNNING', `Cannot ${operation}: the P2P network is not running.`, { hint: 'Call network.start() first (or enable p2p in the node config).' });
  }
}

/** Submitting an equivocation proof on-chain failed. */
export class SlashSubmitError extends BaseError {
  override name = 'SlashSubmitError' as const;
  constructor(node: string, seq: bigint, cause: unknown) {
    super('OPENLORA_P2P_SLASH_FAILED', `Submitting the equivocation proof against node ${node} (seq ${seq}) failed.`, {
      cause,
      details: (cause as Error | undefined)?.message,
      hint: 'Check the watcher account has gas and the RPC is reachable; the proof stays in the ledger and can be resubmitted.',
      meta: { node, seq: seq.toString() },
    });
  }
}

/** A chain look-up was refused because the look-up budget and its queue are spent (the message is ignored, not blamed). */
export class ChainLookupBudgetError extends BaseError {
  override name = 'ChainLookupBudgetError' as const;
  constructor(what: string, maxQueued: number) {
    super('OPENLORA_P2P_LOOKUP_BUDGET', `The chain look-up ${what} was refused: ${maxQueued} look-ups are already waiting for the budget.`, {
      hint: 'Nothing to do: the message is ignored and a later one retries. A steady stream of these means peers are sending many unknown signers or channels.',
    });
  }
}

/** A peer answered a batch request with something other than what was asked, or not at all. */
export class BatchFetchError extends BaseError {
  override name = 'BatchFetchError' as const;
  constructor(peer: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_P2P_BATCH_FETCH', `Fetching a batch from peer ${peer} failed: ${problem}.`, { hint: 'The batch is asked of another peer that holds it; a node that never serves its batches is flagged.', ...parameters });
  }
}
