import { BaseError } from '../errors.ts';

/** The node cannot start with this configuration. */
export class NodeConfigError extends BaseError {
  override name = 'NodeConfigError' as const;
  constructor(key: string, problem: string, hint: string) {
    super('OPENLORA_NODE_CONFIG', `Cannot start the node: ${problem} (${key}).`, { hint, meta: { key } });
  }
}
