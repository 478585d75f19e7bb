import { BaseError } from '../errors.ts';

/** The node cannot start with this configuration. */
export class NodeConfigError extends BaseError {
  override name = 'NodeConfigError' as const;
  constructor(key: string, problem: string, hint: string) {
    super('OPENLORA_NODE_CONFIG', `Cannot start the node: ${problem} (${key}).`, { hint, meta: { key } });
  }
}

/** The node cannot vouch for a lane's split terms: never read, or last read longer ago than a change takes to take effect (HTTP 503). */
export class TermsUnknownError extends BaseError {
  override name = 'TermsUnknownError' as const;
  constructor(p: { laneId: string; name: string; readAt?: number; cause?: unknown }) {
    const last = p.readAt === undefined ? 'has never read them' : `last read them at ${new Date(p.readAt * 1000).toISOString()}, too long ago to rule out a change in force`;
    super('OPENLORA_NODE_TERMS_UNKNOWN', `The node does not serve ${p.name} paid now: it cannot read the split terms of lane ${p.laneId} from the chain and ${last}.`, {
      cause: p.cause,
      details: (p.cause as Error | undefined)?.message,
      hint: 'Retry shortly; the node operator should check chain.rpcUrl.',
      meta: { laneId: p.laneId, model: p.name },
    });
  }
}

/** A paid request for an adapter AdapterRegistry does not know: its lane could never settle (HTTP 503). */
export class AdapterNotOnChainError extends BaseError {
  override name = 'AdapterNotOnChainError' as const;
  constructor(p: { laneId: string; name: string }) {
    super('OPENLORA_NODE_ADAPTER_NOT_ON_CHAIN', `The node does not serve ${p.name} paid: lane ${p.laneId} is not an adapter registered in AdapterRegistry, so its payments could never settle.`, {
      hint: "Use another model from GET /v1/models. Operator: the adapter's owner registers it (salt = its content id), and lora.adapters[].owner names that owner.",
      meta: { laneId: p.laneId, model: p.name },
    });
  }
}
