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

/** Another process (or another node in this one) holds the data directory. */
export class DataDirLockedError extends BaseError {
  override name = 'DataDirLockedError' as const;
  constructor(dir: string, what: string, holderPid: string | undefined) {
    super('OPENLORA_NODE_DATA_DIR_LOCKED', `The ${what} directory ${dir} is in use by another openlora process${holderPid ? ` (pid ${holderPid})` : ''}.`, {
      hint: `Stop that process first${holderPid ? ` (\`kill ${holderPid}\`)` : ''}, or give this one its own directory (--data-dir / dataDir, or --dir for \`openlora dev\`). Two processes must never share one: they would sign receipts with one key from two ledgers.`,
      meta: { dir, holderPid },
    });
  }
}

/** Paid mode: an adapter whose lane could never settle on-chain is refused at registration (HTTP 409). */
export class AdapterLaneUnsettleableError extends BaseError {
  override name = 'AdapterLaneUnsettleableError' as const;
  constructor(contentId: string, problem: string, hint: string) {
    super('OPENLORA_NODE_ADAPTER_UNSETTLEABLE', `Adapter ${contentId} cannot be served in paid mode: ${problem}; its payments could never settle.`, { hint, meta: { contentId } });
  }
}
