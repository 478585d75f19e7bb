import { BaseError, type BaseErrorParameters } from '../errors.ts';

/** Attribution inputs are unusable (no contributions, tokens that disagree with the manifest, bad files). */
export class AttributionInputError extends BaseError {
  override name = 'AttributionInputError' as const;
  constructor(shortMessage: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_ATTRIBUTION_INPUT_INVALID', shortMessage, parameters);
  }
}

/** The adapter was made for another base model than the one given. */
export class AttributionBaseModelMismatchError extends BaseError {
  override name = 'AttributionBaseModelMismatchError' as const;
  constructor(p: { adapterId: string; expected: string; actual: string }) {
    super('OPENLORA_ATTRIBUTION_BASE_MODEL_MISMATCH', `Adapter ${p.adapterId} is registered for base model ${p.expected}, but the attribution was computed on base model ${p.actual}.`, {
      hint: 'Compute the attribution with the adapter\'s own base model (--model).',
      meta: { ...p },
    });
  }
}

/** The on-chain adapter does not match the local files or the signer. */
export class AttributionAdapterMismatchError extends BaseError {
  override name = 'AttributionAdapterMismatchError' as const;
  constructor(shortMessage: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_ATTRIBUTION_ADAPTER_MISMATCH', shortMessage, parameters);
  }
}

/** An attribution report file is unreadable or inconsistent. */
export class AttributionReportError extends BaseError {
  override name = 'AttributionReportError' as const;
  constructor(file: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_ATTRIBUTION_REPORT_INVALID', `Attribution report ${file} ${problem}.`, parameters);
  }
}

/** Every contribution got weight 0: the adapter removes no loss on its Datanets, so there is no tree to publish. */
export class AttributionZeroWeightError extends BaseError {
  override name = 'AttributionZeroWeightError' as const;
  constructor(adapterId: string) {
    super('OPENLORA_ATTRIBUTION_ZERO_WEIGHT', `Adapter ${adapterId} removes no loss on any contribution of its Datanets; there is no attribution to publish.`, {
      hint: 'Check that the adapter was trained on these Datanets. Until a root is set the contributor share goes to the adapter owner.',
    });
  }
}

/** A claim found nothing to claim or proofs that do not match the chain. */
export class AttributionClaimError extends BaseError {
  override name = 'AttributionClaimError' as const;
  constructor(shortMessage: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_ATTRIBUTION_CLAIM_FAILED', shortMessage, parameters);
  }
}
