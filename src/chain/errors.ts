import { BaseError, type BaseErrorParameters } from '../errors.ts';

/** The deployment file is missing, unreadable or fails its schema. */
export class DeploymentFileError extends BaseError {
  override name = 'DeploymentFileError' as const;
  constructor(file: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_CHAIN_DEPLOYMENT_INVALID', `Deployment file ${file} ${problem}.`, {
      hint: 'With `openlora dev` running, pass --dev .openlora/dev (or `source .openlora/dev/env` first); on another chain, deploy with `openlora chain deploy --rpc URL --key-file F --out FILE` and pass --deployment FILE.',
      ...parameters,
    });
  }
}

/** The deployment does not match the chain the client is connected to. */
export class DeploymentChainMismatchError extends BaseError {
  override name = 'DeploymentChainMismatchError' as const;
  constructor(expected: number, actual: number) {
    super('OPENLORA_CHAIN_WRONG_CHAIN', `The deployment is for chain ${expected} but the RPC serves chain ${actual}.`, {
      hint: 'Use the RPC URL of the chain the contracts were deployed on, or deploy them on this chain.',
      meta: { expected, actual },
    });
  }
}

/** Deploying a contract failed or left the chain in an unexpected state. */
export class DeployError extends BaseError {
  override name = 'DeployError' as const;
  constructor(shortMessage: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_CHAIN_DEPLOY_FAILED', shortMessage, parameters);
  }
}

/** A signature is malformed or malleable (high-s), so the contracts would reject it. */
export class InvalidSignatureError extends BaseError {
  override name = 'InvalidSignatureError' as const;
  constructor(what: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_CHAIN_INVALID_SIGNATURE', `The ${what} signature ${problem}.`, parameters);
  }
}

/** The attribution leaves cannot form a valid tree. */
export class AttributionTreeError extends BaseError {
  override name = 'AttributionTreeError' as const;
  constructor(shortMessage: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_CHAIN_ATTRIBUTION_TREE', shortMessage, parameters);
  }
}

/** A receipt batch cannot be built or does not match its commitment. */
export class ReceiptBatchError extends BaseError {
  override name = 'ReceiptBatchError' as const;
  constructor(shortMessage: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_CHAIN_RECEIPT_BATCH', shortMessage, parameters);
  }
}

/** A transaction was mined but reverted. */
export class TransactionRevertedError extends BaseError {
  override name = 'TransactionRevertedError' as const;
  constructor(hash: string, what?: string) {
    super('OPENLORA_CHAIN_TX_REVERTED', `${what ? `${what}: t` : 'T'}ransaction ${hash} reverted.`, {
      hint: 'Simulate the call (viem simulateContract) to see the revert reason; the chain state changed since it was sent, or its arguments are wrong.',
      meta: { hash },
    });
  }
}
