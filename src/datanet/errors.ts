import { BaseError, type BaseErrorParameters } from '../errors.ts';

/** A Datanet manifest (datanet.json) is missing, unreadable or fails its schema. */
export class DatanetManifestError extends BaseError {
  override name = 'DatanetManifestError' as const;
  constructor(file: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_DATANET_MANIFEST_INVALID', `Datanet manifest ${file} ${problem}.`, {
      hint: 'Create a Datanet with `openlora datanet create DIR --name N --version V` and add texts with `openlora datanet add`.',
      ...parameters,
    });
  }
}

/** A Datanet has no contributions (nothing to attribute, nothing to publish). */
export class DatanetEmptyError extends BaseError {
  override name = 'DatanetEmptyError' as const;
  constructor(dir: string) {
    super('OPENLORA_DATANET_EMPTY', `Datanet ${dir} has no contributions.`, {
      hint: 'Add contribution texts with `openlora datanet add DIR --file TEXT --contributor ADDRESS --model MODEL`.',
      meta: { dir },
    });
  }
}

/** A contribution's text does not hash to what the manifest or the chain records. */
export class DatanetHashMismatchError extends BaseError {
  override name = 'DatanetHashMismatchError' as const;
  constructor(p: { file: string; contributor: string; expected: string; actual: string; where: 'manifest' | 'chain' }) {
    super('OPENLORA_DATANET_HASH_MISMATCH', `Contribution ${p.file} of contributor ${p.contributor} hashes to ${p.actual}, but the ${p.where} records ${p.expected}.`, {
      hint: p.where === 'chain'
        ? 'The local file is not the registered contribution: restore the original text (contents are registered by keccak256 hash).'
        : 'The text changed after it was added: restore it, or add the new text as a new contribution.',
      meta: { ...p },
    });
  }
}

/** A contribution is not registered on-chain the way the manifest says (absent, other contributor or token count). */
export class DatanetChainMismatchError extends BaseError {
  override name = 'DatanetChainMismatchError' as const;
  constructor(shortMessage: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_DATANET_CHAIN_MISMATCH', shortMessage, parameters);
  }
}

/** A contribution cannot be added (empty text, duplicate, token count disagreement, bad address). */
export class DatanetContributionError extends BaseError {
  override name = 'DatanetContributionError' as const;
  constructor(shortMessage: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_DATANET_CONTRIBUTION_INVALID', shortMessage, parameters);
  }
}
